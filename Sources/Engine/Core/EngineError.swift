/// Errors of the engine's pure core: a command that is malformed (never reaches the log) or an event that
/// cannot be decoded. Business refusals are not errors: they are `OrderRejected` events or `Rejection`s.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The command or input is malformed (a 4xx at the gateway).
        case invalid
        /// The referenced entity does not exist (a 404).
        case notFound
        /// The command conflicts with the current state (a 409), e.g. cancelling a filled order.
        case conflict
        /// Bytes that do not decode as an event of a known type and version.
        case undecodable
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code.rawValue): \(self.message)" }

    public static func invalid(_ message: String) -> EngineError { EngineError(code: .invalid, message: message) }
    public static func notFound(_ message: String) -> EngineError { EngineError(code: .notFound, message: message) }
    public static func conflict(_ message: String) -> EngineError { EngineError(code: .conflict, message: message) }
    public static func undecodable(_ message: String) -> EngineError {
        EngineError(code: .undecodable, message: message)
    }
}
