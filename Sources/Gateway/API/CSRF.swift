import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Cross-site request forgery: a browser sends the dashboard's `sb_session` cookie with any request to this
/// host, whoever's page made it (other ports of the same host count as the same site, so `SameSite` alone
/// does not stop them). A state change that the cookie authenticates therefore needs both
///
/// * an `Origin` (or, without one, a `Referer`) naming this very origin — scheme, host and port as in `Host`;
/// * the CSRF token: the `sb_csrf` cookie's value repeated in the `X-CSRF-Token` header (API calls) or the
///   form's `csrf` field (the dashboard's forms). Another site can make the browser send the cookie, but
///   cannot read it to repeat it.
///
/// The dashboard's own forms (`/login`, `/logout`) are checked the same way, so a cross-site form cannot sign
/// a victim into another account (login CSRF). Requests with a bearer token are not affected: a browser never
/// adds one on its own.
struct CSRFMiddleware: RouterMiddleware {
    typealias Context = APIContext

    static let cookie = "sb_csrf"
    static let header = HTTPField.Name("X-CSRF-Token")!

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        let safe = request.method == .get || request.method == .head || request.method == .options
        if !safe, context.viaCookie, request.uri.path.hasPrefix("/api/") {
            try Self.checkOrigin(request)
            try Self.checkToken(request, given: request.headers[Self.header])
        }
        return try await next(request, context)
    }

    /// 403 unless the request says it comes from a page of this origin.
    static func checkOrigin(_ request: Request) throws {
        guard let host = request.head.authority?.lowercased() else {
            throw problem(403, "cross-site request refused: no Host header")
        }
        let origin = request.headers[HTTPField.Name("Origin")!] ?? request.headers[HTTPField.Name("Referer")!]
        guard let origin, let authority = Self.authority(of: origin) else {
            throw problem(
                403,
                "cross-site request refused: a request signed in by cookie must carry Origin (browsers send it)"
            )
        }
        guard authority == host else {
            throw problem(403, "cross-site request refused: Origin \(origin) is not this site (\(host))")
        }
    }

    /// 403 unless `given` equals the `sb_csrf` cookie (compared in constant time).
    static func checkToken(_ request: Request, given: String?) throws {
        guard let expected = AuthMiddleware.cookie(request, Self.cookie), expected.utf8.count >= 32, let given else {
            throw problem(
                403,
                "the CSRF token is missing: repeat the sb_csrf cookie in the X-CSRF-Token header (forms: the csrf field)"
            )
        }
        // Digests compared, as the worker token is: constant time whatever the lengths.
        guard SHA256.hash(data: Data(expected.utf8)) == SHA256.hash(data: Data(given.utf8)) else {
            throw problem(403, "the CSRF token does not match the sb_csrf cookie")
        }
    }

    /// `host[:port]` of an origin or URL (`https://example.com:8443/path` → `example.com:8443`), lower-cased.
    static func authority(of text: String) -> String? {
        guard let range = text.range(of: "://") else { return nil }
        let rest = text[range.upperBound...]
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        return authority.isEmpty ? nil : authority.lowercased()
    }

    /// A fresh token for the `sb_csrf` cookie.
    static func newToken() -> String { randomBytes(32).map { String(format: "%02x", $0) }.joined() }

    /// The `Set-Cookie` value for `token` (HttpOnly: the pages carry it in their forms).
    static func setCookie(_ token: String) -> String { "\(Self.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict" }
}
