import Engine
import Foundation
import HTTPTypes
public import Hummingbird
import Ledger
import Logging
import Projections
import Storage

/// Turns every failure into one JSON shape, RFC 9457 problem details (`application/problem+json`): a
/// route's `HTTPError` keeps its status and message; an unexpected error becomes a 500 whose detail names no
/// internals. Installed first, so it also covers unknown routes (404) and wrong methods.
public struct ProblemDetailsMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as ProblemDetails {
            return Self.response(error)
        } catch let error as TooManyRequests {
            var response = Self.response(problem(429, error.detail))
            response.headers[.retryAfter] = String(Int(error.retryAfter.rounded(.up)))
            return response
        } catch let error as EngineError {
            return Self.response(error.problemDetails)
        } catch let error as PostgresError {
            context.logger.error("database error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(problem(503, "the database is unavailable; try again shortly"))
        } catch let error as LedgerError where error.code == .diskFull {
            context.logger.error("log disk full", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            var response = Self.response(
                problem(503, "the event log's file system is full: nothing was recorded; retry once space is freed")
            )
            response.headers[.retryAfter] = "30"
            return response
        } catch let error as LedgerError where error.code == .unavailable {
            // A follower, or a primary without its stream's quorum: the reason names the primary or the cause.
            var response = Self.response(problem(503, error.message))
            response.headers[.retryAfter] = "1"
            return response
        } catch let error as LedgerError {
            context.logger.error("log error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(problem(503, "the event log cannot take writes right now; nothing was recorded"))
        } catch let error as any HTTPResponseError {
            let status = error.status
            let detail =
                (error as? HTTPError)?.body
                ?? (status == .notFound ? "no route \(request.method.rawValue) \(request.uri.path)" : nil)
            return Self.response(ProblemDetails(title: status.reasonPhrase, status: status.code, detail: detail))
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(
                ProblemDetails(
                    title: "Internal Server Error",
                    status: 500,
                    detail: "the server could not complete the request; it has been logged"
                )
            )
        }
    }

    static func response(_ problem: ProblemDetails) -> Response {
        let data = (try? JSONEncoder().encode(problem)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        return Response(
            status: HTTPResponse.Status(code: problem.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// Headers every answer carries: no content-type sniffing, no referrer sent to other sites (same-origin), no framing of any
/// page by another (clickjacking).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[SecurityHeaderNames.contentTypeOptions] = "nosniff"
        // not "no-referrer": under it browsers send Origin: null, and the CSRF check needs the origin
        response.headers[SecurityHeaderNames.referrerPolicy] = "same-origin"
        response.headers[SecurityHeaderNames.frameOptions] = "DENY"
        return response
    }

}

/// Parsed once (a generic middleware cannot hold stored statics).
enum SecurityHeaderNames {
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
}
