public import AsyncHTTPClient
public import Engine
import Foundation
public import Jobs
import NIOCore
import NIOHTTP1
import Synchronization

/// The worker's way into the engine: the gateway's `/internal` routes, with the worker token.
///
/// A replicated installation has several nodes: `baseURL` may list them comma-separated. Calls go to the node that
/// answered last; one that does not answer, or answers 503 (a follower, or a primary stepping down), is passed
/// over for the next, so the worker finds the current primary. When none takes it — a failover: the old primary
/// is gone and no follower holds the lease yet, about the lease's length — the call keeps looking for up to
/// `failoverWait` before it fails (and its job is retried later). Every call is idempotent (outcomes are keyed by
/// order, fill and notification ids), so trying it on another node is safe.
public struct EngineClient: Sendable {
    /// Every node's URL, in the order given.
    public let baseURLs: [String]
    let token: String
    let http: HTTPClient
    private let preferred = Preferred()
    /// How long a call looks for a primary when no node takes it (several nodes only).
    public var failoverWait: Duration = .seconds(10)

    private final class Preferred: Sendable {
        let index = Mutex(0)
    }

    /// The node calls go to now.
    public var baseURL: String { self.baseURLs[self.preferred.index.withLock { $0 } % self.baseURLs.count] }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(baseURL: String, token: String, http: HTTPClient = .shared) {
        let urls = baseURL.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        self.baseURLs = (urls.isEmpty ? [baseURL] : urls).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.token = token
        self.http = http
    }

    /// Records outcomes; each result says whether its command was recorded (200) or why not.
    public func send(_ commands: [WireCommand], correlation: String? = nil) async throws -> [WireCommandResult] {
        struct Answer: Decodable { var results: [WireCommandResult] }
        var request = HTTPClientRequest(url: "/internal/commands")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(self.token)")
        request.headers.add(name: "content-type", value: "application/json")
        var body = try "{\"commands\":[" + commands.map { try $0.json() }.joined(separator: ",") + "]"
        if let correlation {
            body += ",\"correlation\":"
            JSONObjectWriter.appendQuoted(correlation, to: &body)
        }
        request.body = .bytes(ByteBuffer(string: body + "}"))
        let answer: Answer = try await self.call(request)
        return answer.results
    }

    /// A candle the engine did not record, by its place in the request (1-based) and why.
    public struct CandleRefusal: Decodable, Sendable {
        public var line: Int
        public var status: Int
        public var error: String
    }

    /// Records candles through `POST /internal/candles` (one CSV line each: no JSON object per candle on either
    /// side); returns those the engine refused. A minute the engine already has counts as recorded.
    public func record(candles: [Candle], correlation: String = "collect") async throws -> [CandleRefusal] {
        struct Answer: Decodable {
            var recorded: Int
            var refused: [CandleRefusal]
        }
        guard !candles.isEmpty else { return [] }
        var text = ""
        text.reserveCapacity(candles.count * 56)
        for candle in candles {
            text +=
                "\(candle.stock),\(candle.timeframe),\(candle.start),\(candle.open),\(candle.high),\(candle.low),\(candle.close),\(candle.volume)\n"
        }
        var request = HTTPClientRequest(url: "/internal/candles?correlation=" + correlation)
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(self.token)")
        request.headers.add(name: "content-type", value: "text/csv")
        request.body = .bytes(ByteBuffer(string: text))
        let answer: Answer = try await self.call(request)
        return answer.refused
    }

    /// Records one outcome; throws when the engine refused it for a reason other than "already so" (409).
    @discardableResult
    public func record(_ command: WireCommand, correlation: String? = nil) async throws -> WireCommandResult {
        let result = try await self.send([command], correlation: correlation)[0]
        guard result.status == 200 || result.status == 409 else {
            throw Failure(description: "the engine refused \(command): \(result.status) \(result.error ?? "")")
        }
        return result
    }

    /// The KIS accounts with what the engine knows of their cash and shares.
    public func accounts() async throws -> [WorkerAccountView] {
        struct Answer: Decodable { var accounts: [WorkerAccountView] }
        let answer: Answer = try await self.get("/internal/accounts")
        return answer.accounts
    }

    /// The listed stocks (or just those of `only`, at most 100) with their latest minute and who trades them.
    public func stocks(only: [String]? = nil) async throws -> [WorkerStockView] {
        struct Answer: Decodable { var stocks: [WorkerStockView] }
        let answer: Answer = try await self.get(
            "/internal/stocks" + (only.map { "?stockId=" + $0.joined(separator: ",") } ?? "")
        )
        return answer.stocks
    }

    /// Strategies enabled on a stock (nil: on every stock).
    public func strategies(stock: String? = nil) async throws -> [WorkerStrategyView] {
        struct Answer: Decodable { var strategies: [WorkerStrategyView] }
        let answer: Answer = try await self.get("/internal/strategies" + (stock.map { "?stockId=" + $0 } ?? ""))
        return answer.strategies
    }

    /// One-minute candles of a stock before `to` (µs), oldest first.
    public func candles(stock: String, to: Int64, limit: Int) async throws -> [Candle] {
        struct Row: Decodable {
            var timestamp: String
            var open: Int64
            var high: Int64
            var low: Int64
            var close: Int64
            var volume: Int64
        }
        struct Answer: Decodable { var candles: [Row] }
        let answer: Answer = try await self.get("/internal/candles?stockId=\(stock)&to=\(to)&limit=\(limit)")
        guard let code = StockCode(stock) else { return [] }
        return answer.candles.compactMap { row in
            ISOTime.parse(row.timestamp).map {
                Candle(
                    stock: code,
                    timeframe: .minute1,
                    start: $0,
                    open: row.open,
                    high: row.high,
                    low: row.low,
                    close: row.close,
                    volume: row.volume
                )
            }
        }
    }

    /// An order as the engine knows it now.
    public func order(_ id: String) async throws -> WorkerOrderView {
        try await self.get("/internal/orders/" + id)
    }

    /// A notification as the log recorded it, with its owner's address now (nil: the person was erased).
    public func notification(_ id: String, offset: String) async throws -> WorkerNotificationView {
        try await self.get("/internal/notifications/" + id + "?offset=" + offset)
    }

    /// A GET of an `/internal` path with the worker token.
    private func get<T: Decodable>(_ path: String) async throws -> T {
        var request = HTTPClientRequest(url: path)
        request.headers.add(name: "authorization", value: "Bearer \(self.token)")
        return try await self.call(request)
    }

    /// Sends `request` (its URL is a path) to the preferred node, then to the others in turn.
    private func call<T: Decodable>(_ request: HTTPClientRequest) async throws -> T {
        var failures: [String] = []
        let deadline = ContinuousClock.now + self.failoverWait
        while true {
            if let answer: T = try await self.round(request, failures: &failures) { return answer }
            guard self.baseURLs.count > 1, ContinuousClock.now < deadline else {
                throw Failure(description: failures.joined(separator: "; "))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// One try on every node, the preferred first; nil when none took the call (the reasons in `failures`).
    private func round<T: Decodable>(_ request: HTTPClientRequest, failures: inout [String]) async throws -> T? {
        let path = request.url
        let first = self.preferred.index.withLock { $0 }
        failures = []
        for attempt in 0..<self.baseURLs.count {
            let index = (first + attempt) % self.baseURLs.count
            var request = request
            request.url = self.baseURLs[index] + path
            let response: HTTPClientResponse
            let body: ByteBuffer
            do {
                response = try await self.http.execute(request, timeout: .seconds(30))
                body = try await response.body.collect(upTo: 16 << 20)
            } catch {
                failures.append("the gateway at \(self.baseURLs[index]) did not answer: \(error)")
                continue
            }
            if response.status == .serviceUnavailable && self.baseURLs.count > 1 {
                failures.append("\(self.baseURLs[index]): HTTP 503 \(String(buffer: body).prefix(200))")
                continue
            }
            guard response.status == .ok else {
                throw Failure(
                    description:
                        "\(request.method) \(request.url): HTTP \(response.status.code) \(String(buffer: body).prefix(300))"
                )
            }
            if index != first { self.preferred.index.withLock { $0 = index } }
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        }
        return nil
    }
}
