import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Runtime
import Simulation
import Storage
import Synchronization
import Testing

@testable import Gateway

/// Findings 4 and 5 of the hostile-input review: sessions that could not end, and state changes that rested on
/// `SameSite` alone. Each test failed before the fix.
@Suite struct SessionTests {
    /// Logout ends the session (every token issued before); so does a password change, which answers with a
    /// new token; the old password stops working.
    @Test func logoutAndAPasswordChangeEndEarlierTokens() async throws {
        let harness = try await APIHarness("sessions_end")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("ends@example.com")
            let second = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "ends@example.com", "password": "correct horse battery"]
            )
            let other = try #require(second.json["token"] as? String)
            #expect(try await client.call(.get, "/api/auth/me", token: alice.token).status == 200)
            #expect(try await client.call(.post, "/api/auth/logout", token: alice.token).status == 204)
            #expect(
                try await client.call(.get, "/api/auth/me", token: alice.token).status == 401,
                "a signed-out token is refused"
            )
            #expect(
                try await client.call(.get, "/api/auth/me", token: other).status == 401,
                "and so is every other session of the user"
            )
            // A fresh sign-in works; a password change ends it and answers with a token that works.
            let fresh = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "ends@example.com", "password": "correct horse battery"]
            )
            let token = try #require(fresh.json["token"] as? String)
            let wrong = try await client.call(
                .post,
                "/api/auth/password",
                token: token,
                json: ["currentPassword": "not it at all", "newPassword": "a brand new passphrase"]
            )
            #expect(wrong.status == 403)
            let weak = try await client.call(
                .post,
                "/api/auth/password",
                token: token,
                json: ["currentPassword": "correct horse battery", "newPassword": "          "]
            )
            #expect(weak.status == 422)
            let changed = try await client.call(
                .post,
                "/api/auth/password",
                token: token,
                json: ["currentPassword": "correct horse battery", "newPassword": "a brand new passphrase"]
            )
            #expect(changed.status == 200, "\(changed.text)")
            #expect(try await client.call(.get, "/api/auth/me", token: token).status == 401)
            #expect(
                try await client.call(.get, "/api/auth/me", token: try #require(changed.json["token"] as? String))
                    .status == 200
            )
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "ends@example.com", "password": "correct horse battery"]
                ).status == 401
            )
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "ends@example.com", "password": "a brand new passphrase"]
                ).status == 200
            )
        }
        await harness.close()
    }

    /// A token is bound to the installation that issued it: the same secret on a new or restored log (whose
    /// user ids may be other people's) refuses it.
    @Test func anotherInstallationRefusesTheToken() async throws {
        let first = try await APIHarness("sessions_install_a")
        let issued = Mutex("")
        try await first.app.test(.router) { client in
            let token = try await client.register("first@example.com").token
            issued.withLock { $0 = token }
        }
        let token = issued.withLock { $0 }
        await first.close()
        // Same JWT secret, same user id 1 there — someone else.
        let second = try await APIHarness("sessions_install_b")
        try await second.app.test(.router) { client in
            let someoneElse = try await client.register("second@example.com")
            #expect(try await client.call(.get, "/api/auth/me", token: someoneElse.token).status == 200)
            #expect(
                try await client.call(.get, "/api/auth/me", token: token).status == 401,
                "a token of another installation"
            )
        }
        await second.close()
    }

    /// CSRF: with the session cookie, a state change from another origin, without a CSRF token, or without a
    /// JSON content type is refused; the same request from the page's own origin with the token works.
    /// Signing in through the form needs the token too (login CSRF). Bearer tokens are not affected.
    @Test func cookieStateChangesNeedTheOriginAndTheToken() async throws {
        let harness = try await APIHarness("sessions_csrf")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("csrf@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let order: [String: Any] = [
                "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000,
            ]
            let csrf = String(repeating: "ab", count: 32)
            let cookie = "sb_session=\(alice.token); sb_csrf=\(csrf)"
            let host = "localhost"  // the test client's Host
            let attempts: [(String, [String: String], Int)] = [
                ("evil origin", ["Cookie": cookie, "Origin": "https://evil.example", "X-CSRF-Token": csrf], 403),
                (
                    "another port of the host",
                    ["Cookie": cookie, "Origin": "http://\(host):3000", "X-CSRF-Token": csrf], 403
                ),
                ("no origin", ["Cookie": cookie, "X-CSRF-Token": csrf], 403),
                ("no token", ["Cookie": cookie, "Origin": "http://\(host)"], 403),
                (
                    "wrong token",
                    ["Cookie": cookie, "Origin": "http://\(host)", "X-CSRF-Token": String(repeating: "cd", count: 32)],
                    403
                ),
            ]
            for (what, headers, status) in attempts {
                let reply = try await client.call(
                    .post,
                    "/api/orders",
                    json: order,
                    headers: headers.merging(["Host": host]) { $1 }
                )
                #expect(reply.status == status, "\(what): \(reply.status) \(reply.text)")
            }
            let good = try await client.call(
                .post,
                "/api/orders",
                json: order,
                headers: ["Cookie": cookie, "Origin": "http://\(host)", "X-CSRF-Token": csrf, "Host": host]
            )
            #expect(good.status == 201, "same origin with the token: \(good.text)")
            // No content type (what a cross-site form or a no-cors fetch sends) is 415, even with a bearer token.
            let bare = try await client.execute(
                uri: "/api/orders",
                method: .post,
                headers: [.authorization: "Bearer \(alice.token)"],
                body: ByteBuffer(string: "{}")
            ) { Int($0.status.code) }
            #expect(bare == 415)
            // Login CSRF: the form without the token (or from elsewhere) signs nobody in.
            let form = "email=csrf%40example.com&password=correct+horse+battery"
            func login(_ headers: HTTPFields, _ body: String) async throws -> (Int, String?) {
                try await client.execute(uri: "/login", method: .post, headers: headers, body: ByteBuffer(string: body))
                { (Int($0.status.code), $0.headers[.setCookie]) }
            }
            var crossSite = HTTPFields()
            crossSite[.contentType] = "application/x-www-form-urlencoded"
            crossSite[HTTPField.Name("Origin")!] = "https://evil.example"
            crossSite[.cookie] = "sb_csrf=\(csrf)"
            #expect(try await login(crossSite, form + "&csrf=\(csrf)").0 == 403)
            var sameSite = crossSite
            sameSite[HTTPField.Name("Origin")!] = "http://\(host)"
            sameSite[HTTPField.Name("Host")!] = host
            #expect(try await login(sameSite, form).0 == 403, "no token in the form")
            let (status, setCookie) = try await login(sameSite, form + "&csrf=\(csrf)")
            #expect(status == 303 && setCookie?.hasPrefix("sb_session=") == true)
            // The sign-in page hands out the token cookie and puts it in its form.
            let page = try await client.execute(uri: "/", method: .get) {
                ($0.headers[.setCookie] ?? "", String(buffer: $0.body))
            }
            let issued = try #require(page.0.split(separator: ";").first?.split(separator: "=").last.map(String.init))
            #expect(page.0.hasPrefix("sb_csrf=") && page.1.contains("name=\"csrf\" value=\"\(issued)\""))
        }
        await harness.close()
    }
}
