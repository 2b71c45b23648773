import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import Runtime
import Simulation
import Storage
import Testing

/// `POST /internal/candles`: data collection's bars as CSV lines, recorded as one submission; a line that does
/// not parse refuses the body and records nothing; a minute the engine has is not recorded twice.
@Suite struct InternalCandlesTests {
    static let token = "worker-token-for-the-candle-route"

    static func line(_ stock: String, minute: Int64, close: Int64 = 55_000, timeframe: String = "1m") -> String {
        let start = KST.instant(day: KST.day(APIHarness.sessionTime), hour: 9) + minute * KST.minuteMicros
        return "\(stock),\(timeframe),\(start),\(close),\(close + 100),\(close - 100),\(close),\(1_000 + minute)"
    }

    func post(_ client: some TestClientProtocol, _ lines: [String], query: String = "") async throws -> Reply {
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(Self.token)"
        headers[.contentType] = "text/csv"
        return try await client.execute(
            uri: "/internal/candles" + query,
            method: .post,
            headers: headers,
            body: ByteBuffer(string: lines.joined(separator: "\n") + "\n")
        ) { response in
            Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
        }
    }

    @Test func barsAreRecordedOnceAndABadLineRecordsNothing() async throws {
        let harness = try await APIHarness("internal_candles", workerToken: Self.token)
        try await harness.app.test(.router) { client in
            let first = try await self.post(
                client,
                (0..<3).map { Self.line("005930", minute: $0) } + [Self.line("000660", minute: 0, close: 180_000)]
            )
            #expect(first.status == 200, "\(first.text)")
            #expect(first.json["recorded"] as? Int == 4)
            #expect((first.json["refused"] as? [Any])?.isEmpty == true)
            let head = harness.runtime.nextOffset
            let minute2 = KST.instant(day: KST.day(APIHarness.sessionTime), hour: 9) + 2 * KST.minuteMicros
            #expect(harness.runtime.read { $0.stocks[APIHarness.samsung]?.marketData.lastMinuteStart } == minute2)
            // The same bars again (with CRLF line ends): answered, nothing appended.
            let again = try await self.post(client, (0..<3).map { Self.line("005930", minute: $0) + "\r" })
            #expect(again.status == 200 && again.json["recorded"] as? Int == 3, "\(again.text)")
            #expect(harness.runtime.nextOffset == head, "a minute the engine has is not recorded twice")
            // A line that does not parse, or a timeframe that does not exist: the whole body is refused, by line.
            let garbled = try await self.post(
                client,
                [Self.line("005930", minute: 3), "005930,1m,not-a-time,1,1,1,1,1"]
            )
            #expect(garbled.status == 400 && garbled.detail.contains("line 2"), "\(garbled.text)")
            let timeframe = try await self.post(
                client,
                [Self.line("005930", minute: 3), Self.line("005930", minute: 4, timeframe: "7m")]
            )
            #expect(timeframe.status == 422 && timeframe.detail.contains("line 2"), "\(timeframe.text)")
            let correlation = try await self.post(
                client,
                [Self.line("005930", minute: 3)],
                query: "?correlation=no%20spaces"
            )
            #expect(correlation.status == 422, "\(correlation.text)")
            #expect(harness.runtime.nextOffset == head, "refused bodies record nothing")
            // A stock the engine does not list is refused by line; the others are recorded.
            let unknown = try await self.post(client, [Self.line("005930", minute: 3), Self.line("123456", minute: 3)])
            #expect(unknown.status == 200 && unknown.json["recorded"] as? Int == 1, "\(unknown.text)")
            let refused = unknown.json["refused"] as? [[String: Any]] ?? []
            #expect(
                refused.count == 1 && refused.first?["line"] as? Int == 2 && refused.first?["status"] as? Int == 404,
                "\(unknown.text)"
            )
            #expect(harness.runtime.nextOffset == head + 1)
        }
        await harness.close()
    }
}
