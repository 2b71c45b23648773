import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Worker

/// `stockboom stocks import FILE`: the KRX listing into the engine, through the gateway's internal route (the
/// engine process owns the log), as the worker sends its outcomes.
struct StocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stocks",
        abstract: "The stocks the engine knows.",
        subcommands: [StocksImportCommand.self]
    )
}

struct StocksImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "List stocks from a CSV file (code,name,market,previousClose; a header line is skipped): new ones are listed, changed names or markets updated, the same again changes nothing."
    )
    @OptionGroup var log: LogDirectoryOptions
    @Option(
        help: "The gateway that owns the engine (default $STOCKBOOM_SERVER_URL, else http://127.0.0.1:$PORT or 3001)."
    )
    var server: String?
    @Argument(help: "The CSV file ('-' for standard input).") var file: String

    /// The rows of a CSV text: fields split on commas, a field in double quotes may hold commas and `""`.
    static func rows(_ text: String) -> [[String]] {
        text.split(whereSeparator: \.isNewline).map { line in
            var fields: [String] = []
            var field = ""
            var quoted = false
            var characters = Array(line)[...]
            while let character = characters.popFirst() {
                switch (character, quoted) {
                case ("\"", true) where characters.first == "\"":
                    field.append("\"")
                    characters = characters.dropFirst()
                case ("\"", _): quoted.toggle()
                case (",", false):
                    fields.append(field)
                    field = ""
                default: field.append(character)
                }
            }
            fields.append(field)
            return fields.map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    /// The listings of a CSV text, or the line numbers and reasons of the rows that are not listings.
    static func listings(_ text: String) -> (commands: [WireCommand], errors: [String]) {
        var commands: [WireCommand] = []
        var errors: [String] = []
        for (index, fields) in Self.rows(text).enumerated() {
            if index == 0, fields.first.map({ Int($0) == nil }) == true { continue }  // a header
            guard fields.count == 4, let close = Int64(fields[3]) else {
                errors.append("line \(index + 1): expected code,name,market,previousClose")
                continue
            }
            let command = WireCommand.listStock(
                stock: fields[0],
                name: fields[1],
                market: fields[2],
                previousClose: close
            )
            // The engine's own checks (code, market, name without control characters, price in range), before any is sent.
            do { _ = try Bounds.admit(try command.command()) } catch {
                errors.append("line \(index + 1): \(error)")
                continue
            }
            commands.append(command)
        }
        return (commands, errors)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let text: String
        if self.file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let contents = try? String(contentsOfFile: self.file, encoding: .utf8) else {
                throw ValidationError("cannot read \(self.file) as UTF-8")
            }
            text = contents
        }
        let (commands, errors) = Self.listings(text)
        guard errors.isEmpty else {
            throw ValidationError("nothing imported:\n" + errors.prefix(20).joined(separator: "\n"))
        }
        guard let token = WorkerToken.read(environment: environment, logDirectory: self.log.path), !token.isEmpty else {
            throw ValidationError(
                "no worker token: set STOCKBOOM_WORKER_TOKEN (the gateway's), or run beside `stockboom serve --dir`"
            )
        }
        let server =
            self.server ?? environment["STOCKBOOM_SERVER_URL"] ?? "http://127.0.0.1:\(environment["PORT"] ?? "3001")"
        let engine = EngineClient(baseURL: server, token: token)
        var listed = 0
        for start in stride(from: 0, to: commands.count, by: 100) {
            let results = try await engine.send(
                Array(commands[start..<min(commands.count, start + 100)]),
                correlation: "stocks-import"
            )
            for (offset, result) in results.enumerated() where result.status != 200 {
                throw ValidationError(
                    "row \(start + offset + 1): the engine refused it (\(result.status)): \(result.error ?? "")"
                )
            }
            listed += results.count
        }
        print("\(listed) stock(s) imported")
    }
}
