import Engine
import Foundation
import Hummingbird

/// Query and path parameters, validated with messages that name the parameter.
enum Parse {
    /// A time as `ISOTime.parse` reads it (ISO 8601, a KST day, or µs since the epoch), or 400 naming `name`.
    static func time(_ text: String, name: String) throws -> Int64 {
        guard let micros = ISOTime.parse(text) else {
            throw problem(
                400,
                "\(name) must be an ISO 8601 time (2025-01-02T09:00:00+09:00), a day (2025-01-02) or microseconds since the epoch; got '\(text)'"
            )
        }
        return micros
    }

    static func optionalTime(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        return try Self.time(text, name: name)
    }

    static func stock(_ text: String) throws -> StockCode {
        guard let code = StockCode(text) else {
            throw problem(400, "stockId must be six digits (005930), got '\(text)'")
        }
        return code
    }

    static func timeframe(_ text: String?) throws -> Timeframe {
        guard let text else { return .minute1 }
        guard let timeframe = Timeframe(text: text) else {
            throw problem(400, "timeframe must be one of 1m, 5m, 15m, 1h, 1d; got '\(text)'")
        }
        return timeframe
    }

    static func limit(_ request: Request, default value: Int, max: Int) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return value }
        guard let limit = Int(text), (1...max).contains(limit) else {
            throw problem(400, "limit must be an integer from 1 to \(max); got '\(text)'")
        }
        return limit
    }
}
