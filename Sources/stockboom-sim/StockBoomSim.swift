import ArgumentParser
import Assembly
import Gateway
import Jobs
import Runtime
import Simulation
import Storage

/// The simulated market's program: the demo, the benchmarks and the stress runs of the crash tests. It holds
/// the KIS fake and the market generators, which the operator's `stockboom` does not ship.
@main
struct StockBoomSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockboom-sim",
        abstract: "StockBoom on a simulated market: the demo, the benchmarks and the crash tests' stress runs.",
        version: BuildInfo.version,
        subcommands: [DemoCommand.self, BenchCommand.self, StressCommand.self]
    )

    static func main() async { await CommandMain.run(Self.self) }
}

/// `stockboom-sim stress log|engine`: self-checking writers for the crash tests, killed at random.
struct StressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Write until killed, printing what was acknowledged (the crash tests' children).",
        subcommands: [LogStressCommand.self, EngineStressCommand.self]
    )
}
