import Engine
import Foundation

// Request and response bodies of the API. Field names are the operator guide's (camelCase in JSON,
// `brokerAccountId`, `stockId`); money and prices are integer KRW; times are ISO 8601 UTC.

struct VersionBody: Codable {
    var version: String
    var swift: String
    var eventTypes: Int
    var snapshotVersion: Int
}

struct ListBody<Item: Codable>: Codable {
    var items: [Item]
    var count: Int
    init(_ items: [Item]) {
        self.items = items
        self.count = items.count
    }
}

/// Any JSON value: carries the log's own JSON rendering of an event inside a typed body.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(parsing text: String) {
        self = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
