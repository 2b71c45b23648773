public import ArgumentParser
import Foundation
import Logging

/// The `main` of both programs: parses, runs the command with JSON-line logging; a failure of the command
/// itself (not of its arguments) is logged as one `ERROR` line on standard error and exits 1.
public enum CommandMain {
    public static func run(_ root: any ParsableCommand.Type) async {
        LoggingSystem.bootstrap { JSONLineLogHandler(label: $0) }
        do {
            try SecretFiles.load()
        } catch {
            Log.command.error("\(error)")
            Foundation.exit(78)  // EX_CONFIG
        }
        let command: any ParsableCommand
        do {
            command = try root.parseAsRoot(nil)
        } catch {
            root.exit(withError: error)
        }
        do {
            var command = command
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            root.exit(withError: error)  // help, validation and usage errors: ArgumentParser's own text and exit code
        } catch {
            Log.command.error(
                "\(error)",
                metadata: [
                    "command": .string(
                        type(of: command).configuration.commandName ?? root.configuration.commandName ?? "stockboom"
                    )
                ]
            )
            Foundation.exit(1)
        }
    }
}
