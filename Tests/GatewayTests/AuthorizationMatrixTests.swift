import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Runtime
import Simulation
import Storage
import Testing

@testable import Gateway

/// Every `/api` route of the route table, tried without a token and with forged ones: `alg: none`, a token
/// signed with another key, an expired one, a tampered payload, garbage. The `/internal` routes with no
/// worker token and with a user's token. The route table is the source, so a new route is covered by itself.
@Suite struct AuthorizationMatrixTests {
    /// Routes a stranger may call: signing up and signing in, and the KIS token status the operator guide
    /// curls without a token (incident 2; it reports counts only, nothing of any user).
    static let publicRoutes: Set<String> = [
        "POST /api/auth/register", "POST /api/auth/login", "GET /api/market-data/kis/token-status", "GET /api/version",
    ]

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A JWT with the given header algorithm and claims, HMAC-SHA256-signed with `key` (nil: no signature).
    static func token(
        alg: String,
        sub: String,
        exp: Date,
        key: String?,
        installation: String,
        epoch: Int = 0,
        iat: Date = Date().addingTimeInterval(-60),
        extraHeader: String = ""
    ) -> String {
        let header = base64URL(Data(#"{"alg":"\#(alg)","typ":"JWT"\#(extraHeader)}"#.utf8))
        let payload = base64URL(
            Data(
                #"{"sub":"\#(sub)","exp":\#(Int(exp.timeIntervalSince1970)),"iat":\#(Int(iat.timeIntervalSince1970)),"ins":"\#(installation)","ver":\#(epoch)}"#
                    .utf8
            )
        )
        guard let key else { return "\(header).\(payload)." }
        let signature = HMAC<SHA256>.authenticationCode(
            for: Data("\(header).\(payload)".utf8),
            using: SymmetricKey(data: Data(key.utf8))
        )
        return "\(header).\(payload).\(base64URL(Data(signature)))"
    }

    @Test func everyRouteRefusesMissingAndForgedTokens() async throws {
        let harness = try await APIHarness("authmatrix")
        let secret = "test-secret-test-secret-test-secret!"  // the harness's JWT secret
        let installation = harness.services.auth.configuration.installationID
        try await harness.app.test(.router) { client in
            let alice = try await client.register("matrix@example.com")
            // The genuine token works, and a token made here with the same key and claims is accepted too:
            // the forgeries below differ from a valid token only in what they forge.
            #expect(try await client.call(.get, "/api/auth/me", token: alice.token).status == 200)
            let honest = Self.token(
                alg: "HS256",
                sub: alice.user,
                exp: Date().addingTimeInterval(3_600),
                key: secret,
                installation: installation
            )
            #expect(
                try await client.call(.get, "/api/auth/me", token: honest).status == 200,
                "the test's own signing matches the server's"
            )
            let parts = honest.split(separator: ".")
            let tamperedPayload = Self.base64URL(
                Data(
                    #"{"sub":"user-0000000999","exp":\#(Int(Date().addingTimeInterval(3_600).timeIntervalSince1970))}"#
                        .utf8
                )
            )
            let forged: [(String, String)] = [
                (
                    "alg none",
                    Self.token(
                        alg: "none",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(3_600),
                        key: nil,
                        installation: installation
                    )
                ),
                (
                    "another key",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(3_600),
                        key: "a different secret of the same length!!",
                        installation: installation
                    )
                ),
                (
                    "expired",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(-60),
                        key: secret,
                        installation: installation
                    )
                ),
                ("tampered payload", "\(parts[0]).\(tamperedPayload).\(parts[2])"),
                ("HS256 header, no signature", "\(parts[0]).\(parts[1])."),
                ("garbage", "not.a.token"),
                // Right key, right user, but: issued by another installation (or this one before a restore)…
                (
                    "another installation",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(3_600),
                        key: secret,
                        installation: "0123456789abcdef0123456789abcdef"
                    )
                ),
                // …living ten years (beyond the configured lifetime), issued an hour in the future, from an old
                // session epoch (signed out since), naming a key to choose, or another HMAC algorithm.
                (
                    "ten-year lifetime",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(10 * 365 * 86_400),
                        key: secret,
                        installation: installation
                    )
                ),
                (
                    "issued in the future",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(7_200),
                        key: secret,
                        installation: installation,
                        iat: Date().addingTimeInterval(3_600)
                    )
                ),
                (
                    "a later epoch than the user's",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(3_600),
                        key: secret,
                        installation: installation,
                        epoch: 5
                    )
                ),
                (
                    "kid in the header",
                    Self.token(
                        alg: "HS256",
                        sub: alice.user,
                        exp: Date().addingTimeInterval(3_600),
                        key: secret,
                        installation: installation,
                        extraHeader: #","kid":"other""#
                    )
                ),
            ]
            var tried = 0
            for operation in harness.routes.operations where operation.path.hasPrefix("/api/") {
                let path = operation.path.replacingOccurrences(of: "{id}", with: "ord-0000000001").replacingOccurrences(
                    of: "{code}",
                    with: "005930"
                )
                .replacingOccurrences(of: "{stockId}", with: "005930")
                let method = HTTPRequest.Method(operation.method)!
                let name = "\(operation.method) \(operation.path)"
                let json: Any? = method == .post || method == .put || method == .patch ? [String: Any]() : nil
                let anonymous = try await client.call(method, path, json: json)
                if Self.publicRoutes.contains(name) {
                    #expect(anonymous.status != 401, "\(name) is public")
                } else {
                    #expect(anonymous.status == 401, "\(name) without a token: \(anonymous.status) \(anonymous.text)")
                }
                for (what, token) in forged {
                    let reply = try await client.call(method, path, token: token, json: json)
                    #expect(reply.status == 401, "\(name) with a token (\(what)): \(reply.status) \(reply.text)")
                    tried += 1
                }
            }
            #expect(tried >= 25 * forged.count, "the matrix covers the route table (\(tried) requests)")
            // The worker's routes: no worker token, or a user's token, is 401.
            for operation in harness.routes.operations where operation.path.hasPrefix("/internal/") {
                let method = HTTPRequest.Method(operation.method)!
                let path = operation.path.replacingOccurrences(of: "{id}", with: "ord-0000000001")
                let json: Any? = method == .post ? [String: Any]() : nil
                #expect(
                    try await client.call(method, path, json: json).status == 401,
                    "\(operation.path) without the worker token"
                )
                #expect(
                    try await client.call(method, path, token: alice.token, json: json).status == 401,
                    "\(operation.path) with a user's token"
                )
            }
        }
        await harness.close()
    }
}
