import Engine
import Foundation

/// Small formatting helpers for command output.
public enum Format {
    /// ISO 8601 UTC with microseconds, from microseconds since the epoch (the engine's formatter).
    public static func timestamp(_ micros: Int64) -> String { ISOTime.utc(micros) }

    /// Parses `2025-01-02T09:00:00Z`, `2025-01-02T09:00:00+09:00`, `2025-01-02` (KST midnight) or epoch µs.
    public static func parseTime(_ text: String) -> Int64? { ISOTime.parse(text) }

    public static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// The value at fraction `p` of `sorted` (index (count − 1) · p, rounded down); 0 when empty.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }

    public static func number(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = value < 100 ? 2 : 0
        return formatter.string(from: NSNumber(value: value)) ?? String(value)
    }

    /// Encodes a value as one line of JSON with sorted keys.
    public static func json(_ value: Any) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A record payload as JSON: embedded as is when it is a JSON object or array, else as base64.
    public static func payloadJSON(_ payload: [UInt8]) -> (key: String, value: String) {
        if let first = payload.first(where: { $0 != 0x20 }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            let data = Data(payload)
            if (try? JSONSerialization.jsonObject(with: data)) != nil {
                return ("payload", String(decoding: payload, as: UTF8.self))
            }
        }
        let base64 = Data(payload).base64EncodedString()
        return ("payloadBase64", "\"" + base64 + "\"")
    }
}
