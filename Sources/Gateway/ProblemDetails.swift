/// An RFC 9457 problem-details body: the one error shape every HTTP failure of the gateway will use.
///
/// The HTTP server itself arrives with the gateway issue; the shape is fixed now so that every later route
/// and its OpenAPI document share it.
public struct ProblemDetails: Error, Sendable, Equatable, Codable {
    /// A URI reference naming the problem type (`about:blank` when the status says it all).
    public var type: String
    /// A short, human-readable summary of the problem type.
    public var title: String
    /// The HTTP status code.
    public var status: Int
    /// An explanation specific to this occurrence, which a person can act on.
    public var detail: String?

    public init(type: String = "about:blank", title: String, status: Int, detail: String? = nil) {
        precondition((400...599).contains(status), "problem details describe errors")
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
    }
}
