public import Engine
import Foundation
public import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core storage plus the signed-in user, if any.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` from a valid bearer token (or the dashboard's session cookie).
    public var user: UserID?
    /// The user came from the dashboard's session cookie, not a bearer token: state changes then need a
    /// same-origin request with the CSRF token (`CSRFMiddleware`).
    public var viaCookie = false
    /// The body limit; larger bodies get 413 before they are decoded.
    public var maxUploadSize: Int { 64 << 10 }

    /// The connection's peer address (nil in process, or over a Unix socket).
    public var peerAddress: String?
    /// The client's IP address (the connection's peer; no proxy header is trusted), for abuse limits.
    public var clientAddress: String { self.peerAddress ?? "unknown" }
    /// Set by `InternalClientMiddleware`: the client may reach `/internal/*`, `/metrics` and the detailed
    /// `/health`.
    public var isInternalClient = false

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The signed-in user; 401 when the request carries no valid token.
    public func requireUser() throws -> UserID {
        guard let user = self.user else {
            throw problem(401, "sign in first: send Authorization: Bearer <token> (POST /api/auth/login gives one)")
        }
        return user
    }
}

/// JSON in and out with errors a person can act on.
enum APIJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// A JSON response.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:])
        throws -> Response
    {
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(value)))
        )
    }

    /// A JSON response already encoded (see `JSONBytes`).
    static func response(bytes: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: bytes))
    }

    /// Decodes the body as `T`: 413 above the limit, 415 for a non-JSON content type, 400 for malformed JSON
    /// or a wrong field, naming the field and what was expected.
    static func decode<T: Decodable>(
        _ type: T.Type,
        from request: Request,
        context: APIContext,
        allowedKeys: Set<String>? = nil
    ) async throws -> T {
        // Required, not assumed: a body without a content type is what a cross-site form or `fetch(…, {mode:
        // "no-cors"})` can send without a preflight; `application/json` cannot be sent cross-site without CORS.
        guard let contentType = request.headers[.contentType] else {
            throw problem(415, "send the body as application/json (Content-Type: application/json)")
        }
        guard contentType.lowercased().hasPrefix("application/json") else {
            throw problem(415, "send the body as application/json (got \(contentType))")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw problem(413, "the request body is larger than \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else {
            throw problem(400, "the request needs a JSON body")
        }
        if let allowedKeys,
            let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any],
            let unknown = object.keys.sorted().first(where: { !allowedKeys.contains($0) })
        {
            throw problem(400, "unknown field '\(unknown)'; known: \(allowedKeys.sorted().joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw problem(400, Self.describe(error))
        } catch let problem as ProblemDetails {
            throw problem
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : "field '\(names.joined(separator: "."))'"
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(Self.typeName(type))"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(Self.typeName(type)), got null"
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "field '\(key.stringValue)' is required\(parent)"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "the body could not be read"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "a JSON object"
        }
    }
}

/// A problem-details error with the standard title for `status`.
func problem(_ status: Int, _ detail: String) -> ProblemDetails {
    let title: String =
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Error"
        }
    return ProblemDetails(title: title, status: status, detail: detail)
}

extension EngineError {
    /// The HTTP problem for an engine refusal: invalid → 422, not found → 404, conflict → 409.
    var problemDetails: ProblemDetails {
        switch self.code {
        case .invalid: problem(422, self.message)
        case .notFound: problem(404, self.message)
        case .conflict: problem(409, self.message)
        case .undecodable: problem(500, "an event could not be decoded; it has been logged")
        }
    }
}
