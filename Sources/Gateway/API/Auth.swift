import Crypto
import Engine
import Foundation
import Hummingbird
import HummingbirdBcrypt
import JWTKit
import Projections
import Storage
import Synchronization

/// The claims of a session token: the user, when it was issued and stops being valid, the installation that
/// issued it (`ins`: another installation, or this one restored from a backup, refuses it — user ids are
/// sequential, so id 7 there may be someone else) and the user's session epoch at issue (`ver`: logging out
/// or changing the password moves the epoch, and every token issued before stops working).
struct SessionClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var ins: String
    var ver: Int64

    func verify(using _: some JWTAlgorithm) async throws {
        try self.exp.verifyNotExpired()
    }
}

/// What a valid token says.
struct SessionToken: Sendable {
    var user: UserID
    var epoch: Int64
}

/// Passwords (bcrypt) and session tokens (JWT, HS256).
///
/// Credentials never enter the log: the log records `UserRegistered` with the e-mail address only, sealed; the
/// bcrypt hash lives in PostgreSQL's `user_credentials`, a table that is not a projection (rebuilds do
/// not touch it; back it up with `pg_dump`).
public final class AuthService: Sendable {
    /// The signing key and, during a rotation, the previous one (verification only), each under its key id.
    private let keys: JWTKeyCollection
    /// `kid` of the signing key, and of the previous key (nil: none).
    let currentKeyID: String
    let previousKeyID: String?
    let configuration: GatewayConfiguration
    /// A hash of nothing in particular, verified against when an e-mail address is unknown (same timing).
    let decoyHash: String

    public init(configuration: GatewayConfiguration) async {
        self.configuration = configuration
        self.decoyHash = Bcrypt.hash(randomBytes(16).map { String($0) }.joined(), cost: configuration.bcryptCost)
        self.keys = JWTKeyCollection()
        self.currentKeyID = Self.keyID(configuration.jwtSecret)
        self.previousKeyID = configuration.previousJWTSecret.map(Self.keyID)
        await self.keys.add(
            hmac: HMACKey(from: configuration.jwtSecret),
            digestAlgorithm: .sha256,
            kid: JWKIdentifier(string: self.currentKeyID)
        )
        if let previous = configuration.previousJWTSecret, let id = self.previousKeyID {
            await self.keys.add(hmac: HMACKey(from: previous), digestAlgorithm: .sha256, kid: JWKIdentifier(string: id))
        }
    }

    /// A key's id in the tokens' `kid`: 16 hex digits of SHA-256 over a label and the key (names the key without
    /// revealing anything of it).
    static func keyID(_ secret: String) -> String {
        SHA256.hash(data: Data(("stockboom-jwt-kid:" + secret).utf8)).prefix(8).map { String(format: "%02x", $0) }
            .joined()
    }

    /// A signed token for `user` at session epoch `epoch`, valid for the configured lifetime.
    func issue(for user: UserID, epoch: Int64, now: Date = Date()) async throws -> (token: String, expiresAt: Date) {
        let expires = now.addingTimeInterval(TimeInterval(self.configuration.tokenLifetimeSeconds))
        let claims = SessionClaims(
            sub: SubjectClaim(value: user.description),
            exp: ExpirationClaim(value: expires),
            iat: IssuedAtClaim(value: now),
            ins: self.configuration.installationID,
            ver: epoch
        )
        return (try await self.keys.sign(claims, kid: JWKIdentifier(string: self.currentKeyID)), expires)
    }

    /// The user and epoch of a valid token; nil otherwise. Valid: header `{"alg":"HS256"}` (no `none`, no other
    /// algorithm) with a `kid` naming the signing key or, during a rotation, the previous one — or no `kid`
    /// (tokens issued before key ids), then the signing key only; signed with that key, issued by
    /// this installation, not issued in the future, unexpired, and living no longer than the configured
    /// lifetime (a token claiming ten years is refused even with a good signature). The epoch is checked
    /// against the user's current one by the caller (`SessionEpochs`).
    func session(fromToken token: String, now: Date = Date()) async -> SessionToken? {
        guard let keyID = Self.pinnedKeyID(token),
            keyID == nil || keyID == self.currentKeyID || (self.previousKeyID != nil && keyID == self.previousKeyID),
            let claims = try? await self.keys.verify(token, as: SessionClaims.self)
        else { return nil }
        let lifetime = claims.exp.value.timeIntervalSince(claims.iat.value)
        guard claims.ins == self.configuration.installationID, claims.iat.value <= now.addingTimeInterval(60),
            lifetime <= TimeInterval(self.configuration.tokenLifetimeSeconds) + 1, let user = UserID(claims.sub.value)
        else { return nil }
        return SessionToken(user: user, epoch: claims.ver)
    }

    /// The token's header names HS256 and nothing else that could choose an algorithm or a key source: nil when
    /// it is not so; `.some(nil)` without a `kid`; `.some(kid)` with one (checked against the configured keys by
    /// the caller: an unknown `kid` must not fall back on the default key).
    static func pinnedKeyID(_ token: String) -> String?? {
        guard let dot = token.firstIndex(of: "."), let data = base64URLDecode(token[..<dot]),
            let header = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        guard header["alg"] as? String == "HS256", Set(header.keys).isSubset(of: ["alg", "typ", "kid"]),
            header["typ"].map({ $0 as? String == "JWT" }) ?? true
        else { return nil }
        guard let kid = header["kid"] else { return .some(nil) }
        guard let text = kid as? String, text.utf8.count == 16,
            text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return .some(text)
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
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

/// Each user's session epoch (`user_credentials.session_epoch`): a token is valid only at the epoch it was
/// issued in. Logging out and changing the password move it. Read from PostgreSQL at most every few seconds
/// per user (a request does not pay a query), moved at once in this process.
public final class SessionEpochs: Sendable {
    private let database: DatabasePool
    private let cache = Mutex([UserID: (epoch: Int64, at: ContinuousClock.Instant)]())
    /// How long a read epoch is trusted (what another gateway process's logout may take to reach this one).
    static let freshness: Duration = .seconds(5)

    init(database: DatabasePool) { self.database = database }

    /// The user's epoch now; nil for a user without credentials (erased, or from another installation).
    ///
    /// While PostgreSQL does not answer, the last epoch read stands (orders go on without PostgreSQL: the log is
    /// the truth); a user whose epoch was never read here cannot be checked and gets the database's 503.
    func current(_ user: UserID) async throws -> Int64? {
        let now = ContinuousClock.now
        let cached = self.cache.withLock({ $0[user] })
        if let cached, now - cached.at < Self.freshness { return cached.epoch }
        let epoch: Int64?
        do {
            epoch = try await self.database.run { db in
                try db.query("SELECT session_epoch FROM user_credentials WHERE user_id = $1", [user.description]).rows
                    .first?[0].flatMap { Int64($0) }
            }
        } catch {
            guard let cached else { throw error }
            return cached.epoch
        }
        if let epoch { self.cache.withLock { $0[user] = (epoch, now) } }
        return epoch
    }

    /// Ends every session of `user` (tokens issued before stop working); returns the new epoch.
    @discardableResult
    func revoke(_ user: UserID, newPasswordHash: String? = nil) async throws -> Int64 {
        let epoch = try await self.database.run { db in
            try db.query(
                "UPDATE user_credentials SET session_epoch = session_epoch + 1, password_hash = COALESCE($2, password_hash) WHERE user_id = $1 RETURNING session_epoch",
                [user.description, newPasswordHash]
            ).rows.first?[0].flatMap { Int64($0) }
        }
        guard let epoch else { throw problem(401, "this user no longer exists") }
        self.cache.withLock { $0[user] = (epoch, ContinuousClock.now) }
        return epoch
    }

    func remember(_ user: UserID, epoch: Int64) { self.cache.withLock { $0[user] = (epoch, ContinuousClock.now) } }

    /// Drops what is known of `user` (erased: their next request finds no credentials and is refused).
    func forget(_ user: UserID) { _ = self.cache.withLock { $0.removeValue(forKey: user) } }
}

/// Reads the bearer token (or the dashboard's `sb_session` cookie) and sets `context.user` when it is
/// valid. It never refuses: routes that need a user call `context.requireUser()`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let auth: AuthService
    let epochs: SessionEpochs

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        var context = context
        if let token = Self.token(request) {
            if let session = await self.auth.session(fromToken: token),
                try await self.epochs.current(session.user) == session.epoch
            {
                context.user = session.user
                context.viaCookie = request.headers[.authorization] == nil
            }
            if context.user == nil, request.uri.path.hasPrefix("/api/") {
                throw problem(
                    401,
                    "the token is invalid, has expired or was signed out; sign in again (POST /api/auth/login)"
                )
            }
        }
        return try await next(request, context)
    }

    /// The value of cookie `name`, if the request has it.
    static func cookie(_ request: Request, _ name: String) -> String? {
        guard let cookies = request.headers[.cookie] else { return nil }
        for pair in cookies.split(separator: ";") {
            let trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.hasPrefix(name + "=") {
                return String(trimmed.dropFirst(name.count + 1).filter { $0 != " " && $0 != "\t" })
            }
        }
        return nil
    }

    static func token(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            // "Bearer <token>" with any spaces or tabs around; split on UTF-8 bytes (Foundation trimming was a
            // measurable share of a request).
            let parts = header.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            guard parts.count == 2, String(Substring(parts[0])).lowercased() == "bearer" else { return nil }
            return String(Substring(parts[1]))
        }
        return Self.cookie(request, "sb_session")
    }
}
