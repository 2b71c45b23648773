import Foundation

/// Small formatting helpers for command output.
enum Format {
    /// ISO 8601 UTC with microseconds, from microseconds since the epoch.
    static func timestamp(_ micros: Int64) -> String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil-from-days (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return String(
            format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ",
            year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60, fraction
        )
    }

    /// Parses `2025-01-02T09:00:00Z`, `2025-01-02T09:00:00+09:00`, `2025-01-02` or a number of epoch microseconds.
    static func parseTime(_ text: String) -> Int64? {
        if let micros = Int64(text) { return micros }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        }
        return nil
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func number(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = value < 100 ? 2 : 0
        return formatter.string(from: NSNumber(value: value)) ?? String(value)
    }

    /// Encodes a value as one line of JSON with sorted keys.
    static func json(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A record payload as JSON: embedded as is when it is a JSON object or array, else as base64.
    static func payloadJSON(_ payload: [UInt8]) -> (key: String, value: String) {
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
