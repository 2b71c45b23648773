import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import NIOCore
import Runtime
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Engine
@testable import Gateway
@testable import Ledger
@testable import Projections

/// A settable clock for the engine (µs).
final class TestClock: Sendable {
    let now: Mutex<Int64>
    init(_ start: Int64) { self.now = Mutex(start) }
    func read() -> Int64 { self.now.withLock { $0 } }
}

/// The gateway in process on a fresh log and database: engine runtime, projections (caught up on demand),
/// the API with a fast bcrypt cost and a clock fixed inside a trading session.
final class APIHarness: @unchecked Sendable {
    // @unchecked: every stored property is set once in init; the types inside are Sendable themselves.
    let directory: TemporaryDirectory
    let log: EventLog
    let runtime: EngineRuntime
    let services: GatewayServices
    let projections: ProjectionRunner
    let pool: DatabasePool
    let clock: TestClock
    let routes: RouteTable
    let databaseURL: String

    /// Monday 2025-01-06, 10:00 KST: a regular session.
    static let sessionTime = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10)
    static let samsung = StockCode("005930")!

    init(
        _ tag: String,
        candleCacheCapacity: Int = 512,
        liveFeed: LiveEventFeed? = nil,
        workerToken: String? = nil,
        previousWorkerToken: String? = nil,
        internalNetworks: InternalNetworks = .default,
        assetsDirectory: String? = nil,
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws {
        let environment = ProcessInfo.processInfo.environment
        let server = try #require(environment["DATABASE_URL"], "DATABASE_URL is unset: run the tests with `make test`")
        self.databaseURL = try PostgresConnection.recreateDatabase("sb_test_api_\(tag)", serverURL: server)
        self.directory = TemporaryDirectory("api")
        self.log = try EventLog(directory: self.directory.path)
        self.runtime = try EngineRuntime(log: self.log, engine: Engine(calendar: TradingCalendar()))
        let url = self.databaseURL
        self.projections = try ProjectionRunner(log: self.log, connect: { try PostgresConnection(url: url) })
        self.pool = DatabasePool(url: url, size: 2)
        var configuration = GatewayConfiguration(
            jwtSecret: "test-secret-test-secret-test-secret!",
            secretsKey: Array(repeating: 7, count: 32)
        )
        configuration.bcryptCost = 4
        configure(&configuration)
        self.clock = TestClock(Self.sessionTime)
        let clock = self.clock
        var dependencies = GatewayDependencies(log: self.log, databaseURL: url, redis: nil)
        dependencies.internalNetworks = internalNetworks
        dependencies.assetsDirectory = assetsDirectory
        var services = GatewayServices(
            dependencies: dependencies,
            runtime: self.runtime,
            database: self.pool,
            auth: await AuthService(configuration: configuration),
            clock: { clock.read() },
            candleCacheCapacity: candleCacheCapacity
        )
        services.liveFeed = liveFeed
        services.workerToken = workerToken
        services.previousWorkerToken = previousWorkerToken
        self.services = services
        self.routes = Gateway.routes(dependencies: dependencies, metrics: GatewayMetrics(), services: self.services)
        let context = CommandContext(time: Self.sessionTime - 3_600_000_000)
        _ = try await self.runtime.execute(
            .listStock(code: Self.samsung, name: "삼성전자", market: "KOSPI", previousClose: 55_000),
            context: context
        )
        _ = try await self.runtime.execute(
            .listStock(code: StockCode("000660")!, name: "SK하이닉스", market: "KOSPI", previousClose: 180_000),
            context: context
        )
    }

    /// Minute candles of Samsung from 09:00, a gentle zig-zag around 55,000 (on the 100-won tick).
    func ingestCandles(_ count: Int) async throws {
        let open = KST.instant(day: KST.day(Self.sessionTime), hour: 9)
        for minute in 0..<count {
            let close = 55_000 + Int64((minute % 10) - 5) * 100 + Int64(minute / 10) * 100
            let candle = Candle(
                stock: Self.samsung,
                timeframe: .minute1,
                start: open + Int64(minute) * KST.minuteMicros,
                open: close - 100,
                high: close + 100,
                low: close - 200,
                close: close,
                volume: 1_000 + Int64(minute)
            )
            _ = try await self.runtime.execute(
                .ingestCandle(candle),
                context: CommandContext(time: candle.start + KST.minuteMicros)
            )
        }
    }

    func project() throws { _ = try self.projections.catchUp() }

    var app: some ApplicationProtocol { Application(router: self.routes.router) }

    /// The app served on a loopback port for `body`, on threads of its own as `serve` has in its own process
    /// (`DedicatedExecutor`): a request never waits for another suite's computation.
    func live<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await withTaskExecutorPreference(DedicatedExecutor.servers) { try await self.app.test(.live, body) }
    }

    func close() async {
        self.pool.stop()
        await self.runtime.close()
        self.log.close()
    }
}

/// A response with its body decoded as JSON.
struct Reply {
    let status: Int
    let headers: HTTPFields
    let text: String
    var json: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(self.text.utf8))) as? [String: Any]) ?? [:]
    }
    var items: [[String: Any]] { self.json["items"] as? [[String: Any]] ?? [] }
    var detail: String { self.json["detail"] as? String ?? "" }
}

/// A request that failed (a read timeout of the live client, most often), named with how long it waited: a test
/// that fails under a loaded run says which of its requests went unanswered.
struct CallFailed: Error, CustomStringConvertible {
    let request: String
    let after: Duration
    let error: any Error
    var description: String { "\(self.request) failed after \(self.after): \(self.error)" }
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = nil,
        json: Any? = nil,
        raw: String? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        } else if let raw {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: raw)
        }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        let started = ContinuousClock.now
        do {
            return try await self.execute(uri: uri, method: method, headers: headers, body: body) { response in
                Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
            }
        } catch {
            throw CallFailed(request: "\(method) \(uri)", after: ContinuousClock.now - started, error: error)
        }
    }

    /// Registers a user and returns its token and id.
    func register(_ email: String, password: String = "correct horse battery") async throws -> (
        token: String, user: String
    ) {
        let reply = try await self.call(.post, "/api/auth/register", json: ["email": email, "password": password])
        #expect(reply.status == 201, "\(reply.text)")
        return (reply.json["token"] as? String ?? "", (reply.json["user"] as? [String: Any])?["id"] as? String ?? "")
    }

    /// A simulated account with cash; returns its id.
    func simulatedAccount(_ token: String, cash: Int = 10_000_000) async throws -> String {
        let reply = try await self.call(
            .post,
            "/api/broker-accounts",
            token: token,
            json: ["broker": "SIMULATED", "accountNumber": "5012345678", "initialCash": cash]
        )
        #expect(reply.status == 201, "\(reply.text)")
        return reply.json["id"] as? String ?? ""
    }
}
