import ArgumentParser
import Assembly
import Gateway
import Jobs
import Runtime
import Storage

@main
struct StockBoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockboom",
        abstract: "StockBoom: an event-sourced trading system for Korean stocks on an append-only log.",
        version: BuildInfo.version,
        groupedSubcommands: [
            CommandGroup(name: "Run the system", subcommands: [ServeCommand.self, WorkerCommand.self]),
            CommandGroup(
                name: "Operate it",
                subcommands: [
                    QueuesCommand.self, DatabaseCommand.self, ProjectionsCommand.self, BackupCommand.self,
                    StocksCommand.self, UsersCommand.self,
                ]
            ),
            CommandGroup(name: "The event log", subcommands: [LogCommand.self, ReplayCommand.self]),
            CommandGroup(
                name: "Research",
                subcommands: [
                    DataCommand.self, BacktestCommand.self, SearchCommand.self, RulesCommand.self,
                    IndicatorsCommand.self,
                ]
            ),
        ]
    )

    static func main() async { await CommandMain.run(Self.self) }
}
