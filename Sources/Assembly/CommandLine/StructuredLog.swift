import Engine
import Foundation
import Ledger
public import Logging

/// Log lines as JSON, one object per line on standard error: `time`, `level` (upper case, so the guide's
/// `grep ERROR` finds errors), `label`, `message`, then the metadata. Standard output stays for a command's
/// data (tables, `--json`, dumps), so logs never corrupt it.
///
/// ```
/// {"time":"2026-11-30T06:01:02.345Z","level":"INFO","label":"serve","message":"listening","address":"127.0.0.1:3001"}
/// ```
public struct JSONLineLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) {
        self.label = label
        if let text = ProcessInfo.processInfo.environment["LOG_LEVEL"]?.lowercased(),
            let level = Logger.Level(rawValue: text == "warn" ? "warning" : text)
        {
            self.logLevel = level
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line =
            "{\"time\":\"\(ISOTime.utc(wallClockMicros()))\",\"level\":\"\(Self.name(event.level))\",\"label\":\(Self.quoted(self.label)),\"message\":\(Self.quoted(event.message.description))"
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += ",\(Self.quoted(key)):\(Self.value(merged[key]!))"  // the key comes from the dictionary
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    public static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARN"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    /// Numbers and booleans stay JSON numbers and booleans; everything else is a string.
    public static func value(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return Self.quoted(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as any BinaryInteger: return "\(number)"
            case let number as Double where number.isFinite: return "\(number)"
            case let flag as Bool: return flag ? "true" : "false"
            default: return Self.quoted(convertible.description)
            }
        case .array(let items): return "[" + items.map(Self.value).joined(separator: ",") + "]"
        case .dictionary(let fields):
            return "{"
                + fields.keys.sorted().map { "\(Self.quoted($0)):\(Self.value(fields[$0]!))" }.joined(separator: ",")
                + "}"
        }
    }

    /// A JSON string literal (the engine's RFC 8259 escaping).
    public static func quoted(_ text: String) -> String {
        var out = ""
        JSONObjectWriter.appendQuoted(text, to: &out)
        return out
    }
}

/// The loggers of the commands (`stockboom.<area>`).
public enum Log {
    public static let serve = Logger(label: "serve")
    public static let worker = Logger(label: "worker")
    public static let command = Logger(label: "stockboom")
}
