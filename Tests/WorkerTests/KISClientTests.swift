import Engine
import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import Synchronization
import Testing

@testable import Worker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The production KIS client against the strict KIS fake (`Simulation.KISFake`).
@Suite struct KISClientTests {
    /// Monday 2025-01-06 10:00 KST.
    static let session = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10)

    final class Issued: Sendable {
        let tokens = Mutex<[KISToken]>([])
        var count: Int { self.tokens.withLock { $0.count } }
    }

    static func client(_ mock: KISFake, port: Int, tokens: Issued? = nil) -> KISClient {
        let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
        return KISClient(
            environment: .paper,
            credentials: KISCredentials(appKey: key, appSecret: secret, accountNumber: "50123456-01"),
            baseURL: "http://127.0.0.1:\(port)",
            clock: { mock.now },
            onTokenIssued: { token in tokens?.tokens.withLock { $0.append(token) } }
        )
    }

    /// The strict fake is wired to its protocol check: a request without `custtype` is refused and recorded,
    /// the same request with it is answered (so the client's passing tests mean it follows the protocol).
    /// A broker's number fields read as whole KRW or shares; what is not a number in Int64's range reads as 0 —
    /// never a trap (NaN and 1e30 once trapped in the conversion from Double).
    @Test(
        arguments: [
            ("1500", 1500), (" 1500 ", 1500), ("1500.9", 1500), ("-3.5", -3), ("1e3", 1000), ("nan", 0), ("NaN", 0),
            ("inf", 0), ("-inf", 0), ("1e30", 0), ("-1e300", 0), ("9223372036854775807", Int64.max),
            ("9.3e18", 0), ("", 0), ("x", 0), ("\u{0}1", 0),
        ] as [(String, Int64)]
    )
    func brokerNumbersNeverTrap(text: String, expected: Int64) {
        #expect(KISClient.int(text) == expected)
        #expect(KISClient.int(NSNumber(value: 42)) == 42 && KISClient.int(nil) == 0)
    }

    @Test func theStrictFakeRefusesARequestOffTheProtocol() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
            let base = "http://127.0.0.1:\(port)"
            var tokenRequest = URLRequest(url: URL(string: base + "/oauth2/tokenP")!)
            tokenRequest.httpMethod = "POST"
            tokenRequest.httpBody = try JSONSerialization.data(withJSONObject: [
                "grant_type": "client_credentials", "appkey": key, "appsecret": secret,
            ])
            let (tokenData, _) = try await URLSession.shared.data(for: tokenRequest)
            let token = try #require(
                (try JSONSerialization.jsonObject(with: tokenData) as? [String: Any])?["access_token"] as? String
            )
            func quote(custtype: String?) async throws -> Int {
                var request = URLRequest(
                    url: URL(
                        string: base
                            + "/uapi/domestic-stock/v1/quotations/inquire-price?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
                    )!
                )
                for (name, value) in [
                    ("content-type", "application/json; charset=utf-8"), ("authorization", "Bearer \(token)"),
                    ("appkey", key), ("appsecret", secret), ("tr_id", "FHKST01010100"),
                ] { request.setValue(value, forHTTPHeaderField: name) }
                if let custtype { request.setValue(custtype, forHTTPHeaderField: "custtype") }
                let (_, response) = try await URLSession.shared.data(for: request)
                return (response as? HTTPURLResponse)?.statusCode ?? 0
            }
            #expect(try await quote(custtype: nil) == 500)
            #expect(
                mock.state.withLock { $0.violations } == [
                    "/uapi/domestic-stock/v1/quotations/inquire-price: header custtype is missing"
                ]
            )
            #expect(try await quote(custtype: "P") == 200)
            #expect(mock.state.withLock { $0.violations.count } == 1)
        }
    }

    @Test func tokensAreCachedReissuedOnExpiryAndNeverAskedTwiceAMinute() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let issued = Issued()
            let client = Self.client(mock, port: port, tokens: issued)
            _ = try await client.quote("005930")
            _ = try await client.quote("000660")
            #expect(mock.state.withLock { $0.tokensIssued } == 1, "one token for many calls")
            #expect(issued.count == 1)
            // A second client (a restarted worker without a store) within the minute: KIS would refuse; the
            // mock answers 403 EGW00133 and the client reports it typed.
            let other = Self.client(mock, port: port)
            await #expect(throws: KISError.self) { _ = try await other.quote("005930") }
            do { _ = try await other.quote("005930") } catch let error as KISError {
                #expect(error.kind == .tokenIssueTooSoon)
            }
            // A day later the token has expired on the server: EGW00123, re-issue once, and the call succeeds.
            mock.advance(seconds: 86_400 - 300)
            mock.state.withLock {
                let now = $0.now
                $0.token?.expiresAt = now - 1
            }
            let quote = try await client.quote("005930")
            #expect(quote.price == 55_000 && quote.upperLimit == 71_500 && quote.lowerLimit == 38_500)
            #expect(mock.state.withLock { $0.tokensIssued } == 2)
            #expect(issued.count == 2)
            #expect(quote.status.status == .trading && quote.volatilityInterruption == nil, "vi_cls_code N")
            // What the quote says of VIs and halts (a halt wins over a VI); a code of spaces is no VI.
            mock.state.withLock { $0.interruptedStocks = ["005930": "2", "000660": "  "] }
            let interrupted = try await client.quote("005930")
            #expect(interrupted.status.status == .volatilityInterruption, "\(interrupted)")
            #expect(interrupted.status.reason == "KRX VI (KIS vi_cls_code=2)")
            #expect(try await client.quote("000660").status.status == .trading)
            mock.state.withLock { $0.haltedStocks = ["005930"] }
            #expect(try await client.quote("005930").status.status == .halted)
        }
    }

    @Test func ordersFillsCancelAndPagedDailyOrders() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let client = Self.client(mock, port: port)
            let filled = try await client.placeOrder(
                side: .buy,
                stock: "005930",
                type: .limit,
                quantity: 10,
                price: 55_000
            )
            #expect(filled.orderNumber.count == 10 && filled.organization == KISFake.forwardingOrganization)
            mock.state.withLock { $0.fillImmediately = false }
            let resting = try await client.placeOrder(
                side: .buy,
                stock: "005930",
                type: .limit,
                quantity: 5,
                price: 54_000
            )
            // The day's list's branch is not the organization a cancel names: refused, the order still rests.
            await #expect(throws: KISError.self) {
                _ = try await client.cancelOrder(organization: KISFake.orderingBranch, orderNumber: resting.orderNumber)
            }
            #expect(mock.state.withLock { $0.violations.count } == 1)
            mock.state.withLock { $0.violations = [] }
            let cancel = try await client.cancelOrder(
                organization: resting.organization,
                orderNumber: resting.orderNumber
            )
            #expect(cancel.orderNumber != resting.orderNumber, "a cancel gets a new order number")
            for _ in 0..<14 {
                _ = try await client.placeOrder(side: .buy, stock: "000660", type: .limit, quantity: 1, price: 170_000)
            }
            let orders = try await client.dailyOrders(day: "20250106")
            #expect(orders.count == 17, "16 orders and a cancel, over two pages of 15 in paper: \(orders.count)")
            let first = try #require(orders.first { $0.orderNumber == filled.orderNumber })
            #expect(first.filledQuantity == 10 && first.averagePrice == 55_000 && first.remainingQuantity == 0)
            let cancelled = try #require(orders.first { $0.orderNumber == resting.orderNumber })
            #expect(cancelled.cancelled && cancelled.filledQuantity == 0)
            let trIDs = mock.state.withLock { $0.requests.map(\.trID) }
            #expect(
                trIDs.contains("VTTC0012U") && trIDs.contains("VTTC0013U") && trIDs.contains("VTTC0081R"),
                "paper tr_ids: \(Set(trIDs))"
            )
            let balance = try await client.balance()
            #expect(balance.holdings.first { $0.stock == "005930" }?.quantity == 10)
            // Every call, the second page included (tr_cont: N), followed the documented protocol.
            #expect(mock.state.withLock { $0.violations }.isEmpty)
        }
    }

    /// A body cut short or an error page instead of JSON is a transport failure the caller retries (the trade
    /// handler then looks at the broker before sending again), never a crash or a wrong answer.
    @Test func malformedAnswersAndServerErrorsAreRetryableFailures() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let client = Self.client(mock, port: port)
            #expect(try await client.quote("005930").price > 0)
            mock.state.withLock { $0.garbleNext = 1 }
            do {
                _ = try await client.quote("005930")
                Issue.record("a cut JSON body was taken for a quote")
            } catch let error as KISError {
                #expect(error.kind == .transport && error.message.contains("not JSON"), "\(error)")
            }
            mock.state.withLock { $0.crashNext = 1 }
            do {
                _ = try await client.placeOrder(side: .buy, stock: "005930", type: .limit, quantity: 1, price: 55_000)
                Issue.record("an error page was taken for an order acknowledgement")
            } catch let error as KISError {
                #expect(error.kind == .transport && error.httpStatus == 500, "\(error)")
            }
            #expect(mock.state.withLock { $0.orders.count } == 0, "the refused call placed nothing")
            #expect(try await client.quote("005930").price > 0, "the next call works")
        }
    }

    @Test func refusalsMapToTheGuidesReasons() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let client = Self.client(mock, port: port)
            func reason(_ side: OrderSide = .buy, _ quantity: Int64 = 1, price: Int64) async -> KISError.Kind? {
                do {
                    _ = try await client.placeOrder(
                        side: side,
                        stock: "005930",
                        type: .limit,
                        quantity: quantity,
                        price: price
                    )
                    return nil
                } catch { return (error as? KISError)?.kind }
            }
            #expect(await reason(price: 55_050) == .rejected(.priceNotOnTick))
            #expect(await reason(price: 80_000) == .rejected(.priceOutOfRange))
            #expect(await reason(.buy, 10_000, price: 55_000) == .rejected(.insufficientBalance))
            #expect(await reason(.sell, 5, price: 55_000) == .rejected(.insufficientShares))
            mock.advance(seconds: 6 * 3_600)  // 16:00
            #expect(await reason(price: 55_000) == .rejected(.marketClosed))
            // The next morning KIS says the token expired: re-issued once, and the order goes through.
            mock.state.withLock { $0.failNextOrder = (500, "EGW00123", "기간이 만료된 token 입니다.") }
            mock.advance(seconds: 17 * 3_600 + 1_800)  // 09:30 the next day: the token still has 30 minutes
            // An expired-token answer is retried after re-issue; the refusal after it is the real answer.
            #expect(await reason(price: 55_000) == nil)
            let wrongKey = KISClient(
                environment: .paper,
                credentials: KISCredentials(appKey: "wrong", appSecret: "x", accountNumber: "5012345601"),
                baseURL: "http://127.0.0.1:\(port)",
                clock: { mock.now }
            )
            do {
                _ = try await wrongKey.quote("005930")
                Issue.record("a wrong key was accepted")
            } catch let error as KISError {
                #expect(error.kind == .badCredentials && error.httpStatus == 403)
            }
        }
    }

    @Test func theRateLimitIsKeptSoKISNeverRefuses() async throws {
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { port in
            let client = Self.client(mock, port: port)
            for _ in 0..<7 { _ = try await client.quote("005930") }
            #expect(mock.state.withLock { $0.rateLimited } == 0, "the paper limit (2/s) was kept")
            // Something else used the key's allowance: KIS answers EGW00201; the client pauses and retries.
            mock.state.withLock { $0.refuseNext = 2 }
            #expect(try await client.quote("000660").price == 180_000)
            #expect(mock.state.withLock { $0.rateLimited } == 2, "two refusals waited out, then the answer")
        }
    }

    @Test func minuteBarsWalkBackInPagesOf30() async throws {
        let mock = KISFake(now: KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10, minute: 15))
        try await withServer(mock.router()) { port in
            mock.state.withLock {
                $0.rateLimit = 50
                $0.bucket.tokens = 50
            }
            let client = Self.client(mock, port: port)
            let bars = try await client.minuteBars("005930", until: "101500")
            #expect(bars.count == 76, "09:00…10:15 is 76 minutes")
            #expect(bars.first?.time == "090000" && bars.last?.time == "101500")
            #expect(Set(bars.map(\.time)).count == bars.count)
        }
    }

    @Test func revisionAndHashkey() async throws {
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.fillImmediately = false
            $0.requireHashkey = true
            $0.rateLimit = 50
            $0.bucket.tokens = 50
        }
        try await withServer(mock.router()) { port in
            let client = Self.client(mock, port: port)
            // Without the hashkey the mock (set to require one) refuses the order; with it the order goes through.
            await #expect(throws: KISError.self) {
                _ = try await client.placeOrder(side: .buy, stock: "005930", type: .limit, quantity: 3, price: 54_000)
            }
            await client.setUseHashkey(true)
            let order = try await client.placeOrder(
                side: .buy,
                stock: "005930",
                type: .limit,
                quantity: 3,
                price: 54_000
            )
            #expect(mock.state.withLock { $0.hashkeysIssued } == 1)
            let revised = try await client.reviseOrder(
                organization: order.organization,
                orderNumber: order.orderNumber,
                price: 54_500
            )
            #expect(revised.orderNumber != order.orderNumber)
            let rows = try await client.dailyOrders(day: "20250106")
            let child = try #require(rows.first { $0.orderNumber == revised.orderNumber })
            #expect(child.originalOrderNumber == order.orderNumber && child.price == 54_500 && child.quantity == 3)
            #expect(rows.first { $0.orderNumber == order.orderNumber }?.cancelled == true)
        }
    }
}
