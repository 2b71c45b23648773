import Engine
import Foundation
import Hummingbird
import Synchronization
import Testing

@testable import Worker

/// A token's expiry: KIS re-serves the same token for six hours with its first expiry, which
/// `access_token_token_expired` states; `expires_in` otherwise. Answers no broker could mean never trap and
/// never make a token live for ever.
@Suite struct KISTokenExpiryTests {
    static let now = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10)

    /// The client against a broker whose token answer carries `fields`; returns the token's expiry.
    private func expiry(_ fields: [String: Any]) async throws -> Int64 {
        let router = Router()
        let body = try JSONSerialization.data(
            withJSONObject: ["access_token": "eyJ.test.token", "token_type": "Bearer"].merging(fields) { $1 }
        )
        router.post("/oauth2/tokenP") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: body))
            )
        }
        return try await withServer(router) { port in
            let client = KISClient(
                environment: .paper,
                credentials: KISCredentials(
                    appKey: "PS" + String(repeating: "k", count: 34),
                    appSecret: String(repeating: "s", count: 180),
                    accountNumber: "50123456-01"
                ),
                baseURL: "http://127.0.0.1:\(port)",
                clock: { Self.now }
            )
            return try await client.validToken().expiresAt
        }
    }

    @Test func theExpiryTimeIsReadFirstAndHostileValuesFallBack() async throws {
        let hour: Int64 = 3_600_000_000
        // A token issued four hours ago, served again: 20 hours left, whatever expires_in says.
        #expect(
            try await self.expiry(["expires_in": 86_400, "access_token_token_expired": "2025-01-07 06:00:00"]) == Self
                .now + 20 * hour
        )
        #expect(try await self.expiry(["expires_in": "72000"]) == Self.now + 20 * hour)
        // No lifetime at all: KIS's documented 24 hours.
        #expect(try await self.expiry([:]) == Self.now + 24 * hour)
        for hostile: [String: Any] in [
            ["expires_in": "9223372036854775807"],  // would overflow µs
            ["expires_in": Int64.max],
            ["expires_in": -5],
            ["expires_in": "1e9"],
            ["expires_in": 86_400, "access_token_token_expired": "9999-12-31 23:59:59"],  // "for ever"
            ["expires_in": 86_400, "access_token_token_expired": "2020-01-01 00:00:00"],  // in the past
            ["expires_in": 86_400, "access_token_token_expired": "2025-01-07 06:00:00\u{0}"],
            ["expires_in": 86_400, "access_token_token_expired": "2025-13-07 25:61:00"],
            ["expires_in": 86_400, "access_token_token_expired": 20_250_107],
        ] {
            let expiry = try await self.expiry(hostile)
            #expect(expiry == Self.now + 24 * hour, "\(hostile)")
        }
    }
}
