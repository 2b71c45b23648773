import Engine
import Foundation
import Jobs
import Simulation
import Synchronization
import Testing

@testable import Worker

/// The worker's metrics: KIS calls counted by path and status through the real client, and label values from
/// outside (a broker's error code, a path) kept to a fixed shape so hostile answers cannot grow the series.
@Suite struct WorkerMetricsTests {
    static func scrape(_ metrics: WorkerMetrics) -> String {
        String(decoding: metrics.emit(), as: UTF8.self)
    }

    @Test func kisCallsAreCountedByPathAndStatus() async throws {
        let mock = KISFake(now: KISClientTests.session)
        let metrics = WorkerMetrics()
        try await withServer(mock.router()) { port in
            let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
            let client = KISClient(
                environment: .paper,
                credentials: KISCredentials(appKey: key, appSecret: secret, accountNumber: "50123456-01"),
                baseURL: "http://127.0.0.1:\(port)",
                clock: { mock.now },
                requestsPerSecond: 1_000,
                observer: metrics
            )
            _ = try await client.quote("005930")
            let wrong = KISClient(
                environment: .paper,
                credentials: KISCredentials(appKey: key, appSecret: "not-the-secret", accountNumber: "50123456-01"),
                baseURL: "http://127.0.0.1:\(port)",
                clock: { mock.now },
                observer: metrics
            )
            await #expect(throws: KISError.self) { _ = try await wrong.quote("005930") }
        }
        let text = Self.scrape(metrics)
        #expect(text.contains(#"kis_requests_total{path="/oauth2/tokenP",status="200"} 1"#), "\(text)")
        #expect(
            text.contains(
                #"kis_requests_total{path="/uapi/domestic-stock/v1/quotations/inquire-price",status="200"} 1"#
            ),
            "\(text)"
        )
        #expect(text.contains("kis_request_duration_seconds_bucket{path=\"/oauth2/tokenP\""), "\(text)")
        #expect(text.contains("kis_errors_total{code="), "the wrong secret's refusal is counted: \(text)")
    }

    @Test(arguments: [
        ("EGW00201", "EGW00201"), ("", "transport"), ("egw00201", "other"), ("EGW\n00201", "other"),
        ("EGW00201\"} 1\nkis_errors_total{code=\"X", "other"), (String(repeating: "A", count: 17), "other"),
        ("<script>", "other"), ("한글", "other"),
    ])
    func hostileErrorCodesBecomeOther(code: String, label: String) {
        #expect(WorkerMetrics.knownCode(code) == label)
        let metrics = WorkerMetrics()
        metrics.kisError(code: code)
        #expect(Self.scrape(metrics).contains("kis_errors_total{code=\"\(label)\"} 1"))
    }

    @Test(arguments: [
        ("/uapi/domestic-stock/v1/trading/order-cash", "/uapi/domestic-stock/v1/trading/order-cash"),
        ("/oauth2/tokenP", "/oauth2/tokenP"), ("/uapi/x?y=1", "other"), ("/etc/passwd", "other"),
        ("/uapi/" + String(repeating: "a", count: 100), "other"), ("/uapi/a\"b", "other"),
    ])
    func pathsOutsideKISBecomeOther(path: String, label: String) {
        #expect(WorkerMetrics.knownPath(path) == label)
    }
}
