public import Engine
import Crypto
import Foundation
public import Hummingbird
import HummingbirdBcrypt
import JWTKit
import Projections

/// The claims of a session token: the user and when it stops being valid.
struct SessionClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim

    func verify(using _: some JWTAlgorithm) async throws {
        try self.exp.verifyNotExpired()
    }
}

/// Passwords (bcrypt) and session tokens (JWT, HS256).
///
/// Credentials never enter the log: the log records `UserRegistered` with the e-mail address only; the
/// bcrypt hash lives in PostgreSQL's `user_credentials`, a table that is not a projection (rebuilds do
/// not touch it; back it up with `pg_dump`).
public final class AuthService: Sendable {
    private let keys: JWTKeyCollection
    let configuration: GatewayConfiguration
    /// A hash of nothing in particular, verified against when an e-mail address is unknown (same timing).
    let decoyHash: String

    public init(configuration: GatewayConfiguration) async {
        self.configuration = configuration
        self.decoyHash = Bcrypt.hash(randomBytes(16).map { String($0) }.joined(), cost: configuration.bcryptCost)
        self.keys = JWTKeyCollection()
        await self.keys.add(hmac: HMACKey(from: configuration.jwtSecret), digestAlgorithm: .sha256)
    }

    /// A signed token for `user`, valid for the configured lifetime.
    func issue(for user: UserID, now: Date = Date()) async throws -> (token: String, expiresAt: Date) {
        let expires = now.addingTimeInterval(TimeInterval(self.configuration.tokenLifetimeSeconds))
        let claims = SessionClaims(sub: SubjectClaim(value: user.description), exp: ExpirationClaim(value: expires), iat: IssuedAtClaim(value: now))
        return (try await self.keys.sign(claims), expires)
    }

    /// The user of a valid, unexpired token; nil otherwise.
    func user(fromToken token: String) async -> UserID? {
        guard let claims = try? await self.keys.verify(token, as: SessionClaims.self) else { return nil }
        return UserID(claims.sub.value)
    }

    /// bcrypt, on a thread of its own (a cost-12 hash is ~0.25 s of CPU).
    func hash(_ password: String) async throws -> String {
        let cost = self.configuration.bcryptCost
        return try await blocking { Bcrypt.hash(Self.prehash(password), cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await blocking { Bcrypt.verify(Self.prehash(password), hash: hash) }
    }

    /// bcrypt reads at most 72 bytes; SHA-256 first (base64, 44 bytes) lets every byte of a long password count.
    static func prehash(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}

/// Reads the bearer token (or the dashboard's `sb_session` cookie) and sets `context.user` when it is
/// valid. It never refuses: routes that need a user call `context.requireUser()`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let auth: AuthService

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        var context = context
        if let token = Self.token(request) {
            context.user = await self.auth.user(fromToken: token)
            if context.user == nil, request.uri.path.hasPrefix("/api/") {
                throw problem(401, "the token is invalid or has expired; sign in again (POST /api/auth/login)")
            }
        }
        return try await next(request, context)
    }

    static func token(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            // "Bearer <token>" with any spaces or tabs around; split on UTF-8 bytes (Foundation trimming was a
            // measurable share of a request).
            let parts = header.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            guard parts.count == 2, String(Substring(parts[0])).lowercased() == "bearer" else { return nil }
            return String(Substring(parts[1]))
        }
        if let cookies = request.headers[.cookie] {
            for pair in cookies.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
                if trimmed.hasPrefix("sb_session=") { return String(trimmed.dropFirst("sb_session=".count).filter { $0 != " " && $0 != "\t" }) }
            }
        }
        return nil
    }
}

