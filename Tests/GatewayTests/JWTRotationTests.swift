import Crypto
import Foundation
import Testing

@testable import Engine
@testable import Gateway

/// Rotating the JWT signing key without signing anyone out: tokens carry the key's id (`kid`); during the
/// window `JWT_SECRET` signs and `JWT_SECRET_PREVIOUS` still verifies; afterwards the old tokens are refused.
/// Headers that try to choose another key are refused whatever their signature.
@Suite struct JWTRotationTests {
    static let old = "old-key-0123456789abcdefghijklmnopqrstuvwxyz"
    static let new = "new-key-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"
    static let user = UserID(value: 7)

    static func service(_ secret: String, previous: String? = nil) async -> AuthService {
        var configuration = GatewayConfiguration(jwtSecret: secret, secretsKey: Array(repeating: 1, count: 32))
        configuration.previousJWTSecret = previous
        configuration.installationID = "install-1"
        configuration.bcryptCost = 4
        return await AuthService(configuration: configuration)
    }

    static func header(_ token: String) throws -> [String: Any] {
        let part = token.split(separator: ".")[0]
        let data = try #require(AuthService.base64URLDecode(part))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(object)
    }

    /// A token signed with `secret` under a header of our choosing.
    static func forge(header: [String: Any], secret: String, payload: [String: Any]) throws -> String {
        func encode(_ object: [String: Any]) throws -> String {
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let signingInput = try encode(header) + "." + encode(payload)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data(signingInput.utf8),
            using: SymmetricKey(data: Data(secret.utf8))
        )
        let signature = Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return signingInput + "." + signature
    }

    static func payload() -> [String: Any] {
        let now = Date().timeIntervalSince1970
        return ["sub": user.description, "iat": now, "exp": now + 3_600, "ins": "install-1", "ver": 0]
    }

    @Test func tokensOfThePreviousKeyLiveThroughTheWindowAndNotAfter() async throws {
        let before = await Self.service(Self.old)
        let oldToken = try await before.issue(for: Self.user, epoch: 0).token
        #expect(try Self.header(oldToken)["kid"] as? String == AuthService.keyID(Self.old))

        // The window: new key signs, old still verifies.
        let during = await Self.service(Self.new, previous: Self.old)
        #expect(await during.session(fromToken: oldToken)?.user == Self.user, "signed in before the rotation")
        let newToken = try await during.issue(for: Self.user, epoch: 0).token
        #expect(try Self.header(newToken)["kid"] as? String == AuthService.keyID(Self.new))
        #expect(await during.session(fromToken: newToken)?.user == Self.user)

        // After the window: the old key is gone.
        let after = await Self.service(Self.new)
        #expect(await after.session(fromToken: oldToken) == nil, "the previous key's tokens end with the window")
        #expect(await after.session(fromToken: newToken)?.user == Self.user)
        #expect(AuthService.keyID(Self.new).count == 16 && !AuthService.keyID(Self.new).contains("new-key"))
    }

    @Test func headersThatChooseAnotherKeyAreRefused() async throws {
        let auth = await Self.service(Self.new, previous: Self.old)
        let current = AuthService.keyID(Self.new)
        // A token without kid (issued before key ids) is verified with the signing key only.
        let legacy = try Self.forge(header: ["alg": "HS256", "typ": "JWT"], secret: Self.new, payload: Self.payload())
        #expect(await auth.session(fromToken: legacy)?.user == Self.user)
        let legacyOld = try Self.forge(header: ["alg": "HS256"], secret: Self.old, payload: Self.payload())
        #expect(await auth.session(fromToken: legacyOld) == nil, "no kid: never the previous key")
        for header: [String: Any] in [
            ["alg": "HS256", "kid": "0123456789abcdef"],  // unknown kid, must not fall back on the default key
            ["alg": "HS256", "kid": current + "0"],
            ["alg": "HS256", "kid": "../../etc/passwd"],
            ["alg": "HS256", "kid": 12],
            ["alg": "HS256", "kid": current, "jku": "http://evil.example/keys"],
            ["alg": "HS512", "kid": current],
            ["alg": "none", "kid": current],
            ["alg": "HS256", "kid": current.uppercased()],
        ] {
            let token = try Self.forge(header: header, secret: Self.new, payload: Self.payload())
            #expect(await auth.session(fromToken: token) == nil, "\(header)")
        }
        // The old key's token claiming the new key's id: the signature does not match that key.
        let mislabelled = try Self.forge(
            header: ["alg": "HS256", "kid": current],
            secret: Self.old,
            payload: Self.payload()
        )
        #expect(await auth.session(fromToken: mislabelled) == nil)
    }

    @Test func thePreviousKeyIsCheckedAtStartUp() throws {
        var environment = [
            "STOCKBOOM_ENV": "production", "JWT_SECRET": Self.new,
            "STOCKBOOM_SECRETS_KEY": String(repeating: "ab", count: 32),
        ]
        environment["JWT_SECRET_PREVIOUS"] = Self.new
        #expect(throws: GatewayConfiguration.Refusal.self) { _ = try GatewayConfiguration.fromEnvironment(environment) }
        environment["JWT_SECRET_PREVIOUS"] = "short"
        #expect(throws: GatewayConfiguration.Refusal.self) { _ = try GatewayConfiguration.fromEnvironment(environment) }
        environment["JWT_SECRET_PREVIOUS"] = Self.old
        #expect(try GatewayConfiguration.fromEnvironment(environment).0.previousJWTSecret == Self.old)
    }
}
