import ArgumentParser
import Assembly
import Foundation
import Jobs
import Worker

/// `stockboom users operator grant|revoke USER`: the operator role, given on the engine's host and nowhere else
/// (the API cannot grant it). Sent to the gateway's internal route with the worker token, as `stocks import`
/// sends listings; recorded as `OperatorGranted`/`OperatorRevoked` with who ran the command.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Users' roles.",
        subcommands: [OperatorCommand.self]
    )
}

struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract:
            "Give (grant) or take (revoke) the operator role: view every account read-only, halt and resume any account, halt all trading."
    )
    @OptionGroup var log: LogDirectoryOptions
    @Option(
        help: "The gateway that owns the engine (default $STOCKBOOM_SERVER_URL, else http://127.0.0.1:$PORT or 3001)."
    )
    var server: String?
    @Argument(help: "grant or revoke.") var action: String
    @Argument(help: "The user id (user-0000000001).") var user: String

    func run() async throws {
        guard ["grant", "revoke"].contains(self.action) else {
            throw ValidationError("the action must be grant or revoke; got '\(self.action)'")
        }
        let environment = ProcessInfo.processInfo.environment
        guard let token = WorkerToken.read(environment: environment, logDirectory: self.log.path), !token.isEmpty else {
            throw ValidationError(
                "no worker token: set STOCKBOOM_WORKER_TOKEN (the gateway's), or run beside `stockboom serve --dir`"
            )
        }
        let by = "cli:\(NSUserName())@\(ProcessInfo.processInfo.hostName)"
        let command: WireCommand =
            self.action == "grant" ? .grantOperator(user: self.user, by: by) : .revokeOperator(user: self.user, by: by)
        do { _ = try command.command() } catch { throw ValidationError("\(error)") }
        let server =
            self.server ?? environment["STOCKBOOM_SERVER_URL"] ?? "http://127.0.0.1:\(environment["PORT"] ?? "3001")"
        let results = try await EngineClient(baseURL: server, token: token).send(
            [command],
            correlation: "users-operator"
        )
        guard let result = results.first, result.status == 200 else {
            throw ValidationError(
                "the engine refused it (\(results.first?.status ?? 0)): \(results.first?.error ?? "no answer")"
            )
        }
        print("\(self.user): operator role \(self.action == "grant" ? "granted" : "revoked") (by \(by))")
    }
}
