import Engine
import Foundation
import Hummingbird
import Projections
import Runtime
import Storage

/// Register, log in, who am I.
struct AuthController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.post, "/api/auth/register", self.register)
        routes.add(.post, "/api/auth/login", self.login)
        routes.add(.post, "/api/auth/logout", self.logout)
        routes.add(.post, "/api/auth/password", self.changePassword)
        routes.add(.get, "/api/auth/me", self.me)
        routes.add(.post, "/api/auth/erase", self.erase)
    }

    /// `POST /api/auth/register`
    @Sendable func register(_ request: Request, context: APIContext) async throws -> Response {
        let body = try await APIJSON.decode(CredentialsRequest.self, from: request, context: context)
        let email = try GatewayAPI.validEmail(body.email)
        try GatewayAPI.validPassword(body.password)
        if let wait = services.abuse.signUps.take(context.clientAddress) {
            throw TooManyRequests(
                retryAfter: wait,
                detail: "too many sign-ups from this address; try again in \(Int(wait.rounded(.up))) s"
            )
        }
        let hash = try await services.auth.hash(body.password)
        let taken = try await services.database.run { db in
            try !db.query("SELECT 1 FROM user_credentials WHERE lower(email) = lower($1)", [email]).rows.isEmpty
        }
        if taken { throw problem(409, "an account with this e-mail address exists; sign in instead") }
        // The address enters the log sealed under a key of this person's own, stored first: erasing them
        // later destroys the key, and the log's copy becomes unreadable (PersonalData).
        let sealed = try PersonalData.seal(email)
        _ = try await services.database.run { db in try PersonalData.store(sealed, user: nil, db) }
        let execution: Execution
        do {
            execution = try await services.runtime.execute(
                .registerUser(email: sealed.reference),
                context: services.context("register")
            )
        } catch {
            _ = try? await services.database.run { db in
                try db.query("DELETE FROM person_keys WHERE key_id = $1", [sealed.keyID])
            }
            throw error
        }
        guard let created = execution.decision.created else {
            throw problem(500, "registration did not create a user")
        }
        let user = UserID(value: created)
        do {
            _ = try await services.database.run { db in
                try db.execute("BEGIN")
                do {
                    try db.query(
                        "INSERT INTO user_credentials (user_id, email, password_hash) VALUES ($1, $2, $3)",
                        [user.description, email, hash]
                    )
                    try db.query(
                        "UPDATE person_keys SET user_id = $1 WHERE key_id = $2",
                        [user.description, sealed.keyID]
                    )
                    try db.execute("COMMIT")
                } catch {
                    try? db.execute("ROLLBACK")
                    throw error
                }
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            // Registered twice at the same instant: the other request won; this user id stays unused, and its
            // sealed address unreadable.
            _ = try? await services.database.run { db in
                try db.query("DELETE FROM person_keys WHERE key_id = $1", [sealed.keyID])
            }
            throw problem(409, "an account with this e-mail address exists; sign in instead")
        }
        return try APIJSON.response(
            try await GatewayAPI.session(for: user, email: email, epoch: 0, services: services),
            status: .created
        )
    }

    /// `POST /api/auth/login`
    @Sendable func login(_ request: Request, context: APIContext) async throws -> Response {
        let body = try await APIJSON.decode(CredentialsRequest.self, from: request, context: context)
        let (user, email, epoch) = try await GatewayAPI.authenticate(
            email: body.email,
            password: body.password,
            client: context.clientAddress,
            services: services
        )
        return try APIJSON.response(
            try await GatewayAPI.session(for: user, email: email, epoch: epoch, services: services)
        )
    }

    /// `POST /api/auth/logout`
    /// Ends every session of the user (this token and all others issued before).
    @Sendable func logout(_ request: Request, context: APIContext) async throws -> Response {
        try await services.sessions.revoke(try context.requireUser())
        return Response(status: .noContent)
    }

    /// `POST /api/auth/password`
    /// A new password ends every other session too; the answer is a fresh token.
    @Sendable func changePassword(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            PasswordChangeRequest.self,
            from: request,
            context: context,
            allowedKeys: ["currentPassword", "newPassword"]
        )
        let row = try await services.database.run { db in
            try db.query("SELECT email, password_hash FROM user_credentials WHERE user_id = $1", [user.description])
                .rows.first
        }
        let key = "user:" + user.description
        try services.abuse.checkSignIn(email: key, client: context.clientAddress)
        guard let row, let email = row[0], let hash = row[1],
            try await services.auth.verify(body.currentPassword, hash: hash)
        else {
            services.abuse.signInFailed(email: key, client: context.clientAddress)
            throw problem(403, "the current password is wrong")
        }
        try GatewayAPI.validPassword(body.newPassword)
        let epoch = try await services.sessions.revoke(
            user,
            newPasswordHash: try await services.auth.hash(body.newPassword)
        )
        return try APIJSON.response(
            try await GatewayAPI.session(for: user, email: email, epoch: epoch, services: services)
        )
    }

    /// `GET /api/auth/me`
    @Sendable func me(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        guard let email = try await GatewayAPI.email(of: user, services: services) else {
            throw problem(401, "this user no longer exists")
        }
        return try APIJSON.response(UserBody(id: user.description, email: email))
    }

    /// `POST /api/auth/erase`
    /// Erases the signed-in person (PIPA art. 36, GDPR art. 17), confirmed with the password: every account
    /// must be closed first (409 otherwise). See `erase`.
    @Sendable func erase(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            ErasureRequest.self,
            from: request,
            context: context,
            allowedKeys: ["password"]
        )
        let key = "user:" + user.description
        try services.abuse.checkSignIn(email: key, client: context.clientAddress)
        let hash = try await services.database.run { db in
            try db.query("SELECT password_hash FROM user_credentials WHERE user_id = $1", [user.description]).rows
                .first?[0] ?? nil
        }
        guard let hash, try await services.auth.verify(body.password, hash: hash) else {
            services.abuse.signInFailed(email: key, client: context.clientAddress)
            throw problem(403, "the password is wrong")
        }
        try await GatewayAPI.erase(user, services: services)
        return Response(status: .noContent)
    }
}

extension GatewayAPI {

    /// The person's address (from `user_credentials`; the log holds it sealed); nil once erased.
    static func email(of user: UserID, services: GatewayServices) async throws -> String? {
        try await services.database.run { db in
            try db.query("SELECT email FROM user_credentials WHERE user_id = $1", [user.description]).rows.first?[0]
                ?? nil
        }
    }

    /// Erases a person: records `UserErased` (refused while they have an open account), then deletes their
    /// key — the sealed address in the log, and in every backup of it, can no longer be read — their login and
    /// their sealed broker credentials; their sessions end with the login. Idempotent: an erasure interrupted
    /// after the event is completed by asking again. Orders and trades stay, under the pseudonymous user id
    /// (records a broker must keep).
    static func erase(_ user: UserID, services: GatewayServices) async throws {
        _ = try await services.runtime.execute(.eraseUser(user), context: services.context("erase"))
        try await services.database.run { db in try PersonalData.erase(user: user.description, db) }
        services.sessions.forget(user)
    }

    /// A fresh token for `user`, as register and login answer it.
    static func session(for user: UserID, email: String, epoch: Int64, services: GatewayServices) async throws
        -> SessionBody
    {
        services.sessions.remember(user, epoch: epoch)
        let session = try await services.auth.issue(for: user, epoch: epoch)
        return SessionBody(
            token: session.token,
            expiresAt: ISOTime.utc(Int64(session.expiresAt.timeIntervalSince1970) * 1_000_000),
            user: UserBody(id: user.description, email: email)
        )
    }

    /// The user, e-mail and session epoch for a correct password; 401 otherwise (the same answer for an
    /// unknown address).
    static func authenticate(email: String, password: String, client: String, services: GatewayServices) async throws
        -> (UserID, String, Int64)
    {
        try services.abuse.checkSignIn(email: email, client: client)
        let row = try await services.database.run { db in
            try db.query(
                "SELECT user_id, email, password_hash, session_epoch FROM user_credentials WHERE lower(email) = lower($1)",
                [email]
            ).rows.first
        }
        // An unknown address costs a bcrypt verification too, so timing does not tell which addresses exist.
        let hash = row?[2] ?? services.auth.decoyHash
        let matches = try await services.auth.verify(password, hash: hash)
        guard matches, let row, let id = row[0].flatMap({ UserID($0) }), let stored = row[1] else {
            services.abuse.signInFailed(email: email, client: client)
            throw problem(401, "the e-mail address or the password is wrong")
        }
        services.abuse.signInSucceeded(email: email)
        return (id, stored, row[3].flatMap { Int64($0) } ?? 0)
    }

    /// An e-mail address as it is stored and compared: printable ASCII only (an address in other scripts can
    /// imitate another one letter for letter — `раypal.com` with a Cyrillic а — and control or right-to-left
    /// override characters make it read differently from what it is), lower-cased, surrounding spaces removed.
    /// Internationalised domains are accepted in their ASCII (punycode, `xn--…`) form.
    static func validEmail(_ text: String) throws -> String {
        let email = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let bad = email.unicodeScalars.first(where: { !(0x21...0x7E).contains($0.value) }) {
            let what =
                Bounds.isUnsafe(bad) || bad.value == 0x20 ? "a space or control character" : "a character outside ASCII"
            throw problem(
                422,
                "email must be printable ASCII (U+\(String(bad.value, radix: 16, uppercase: true)) is \(what); write an international domain as xn--…)"
            )
        }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64,
            parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), !parts[1].contains("..")
        else {
            throw problem(422, "email must be an address like trader@example.com")
        }
        return email
    }

    /// A minimum strength: 10 characters or more, at least 5 different ones, not only spaces, no control
    /// characters, not one of the passwords every list of leaked ones starts with.
    static func validPassword(_ password: String) throws {
        guard password.count >= 10 else { throw problem(422, "password must have at least 10 characters") }
        guard password.count <= 1_024 else { throw problem(422, "password must have at most 1024 characters") }
        guard !Bounds.containsUnsafe(password) else {
            throw problem(422, "password must not contain control characters")
        }
        guard !password.allSatisfy(\.isWhitespace), Set(password).count >= 5 else {
            throw problem(
                422,
                "password is too simple: use at least 5 different characters (a passphrase of a few words is good)"
            )
        }
        let common = [
            "password12", "1234567890", "0123456789", "qwertyuiop", "password123", "iloveyou12", "1q2w3e4r5t",
            "qwerty1234", "abcdefghij", "stockboom1",
        ]
        guard !common.contains(password.lowercased()) else {
            throw problem(422, "password is one of the most common passwords; choose another")
        }
    }
}

// MARK: - Bodies

struct CredentialsRequest: Decodable {
    var email: String
    var password: String
}

struct ErasureRequest: Decodable {
    var password: String
}

struct PasswordChangeRequest: Decodable {
    var currentPassword: String
    var newPassword: String
}

struct UserBody: Codable {
    var id: String
    var email: String
}

struct SessionBody: Codable {
    var token: String
    var tokenType = "Bearer"
    var expiresAt: String
    var user: UserBody
}
