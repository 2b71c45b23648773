import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing
import Worker

/// A child process of the test (serve, worker, the SMTP sink), stopped with SIGTERM or killed.
final class Child: @unchecked Sendable {
    // @unchecked: set once in init.
    let process = Process()
    let output: String

    init(_ executable: String, _ arguments: [String], environment: [String: String], output: String) throws {
        self.output = output
        self.process.executableURL = URL(fileURLWithPath: executable)
        self.process.arguments = arguments
        self.process.environment = environment
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        self.process.standardOutput = handle
        self.process.standardError = handle
        try self.process.run()
    }

    var log: String { (try? String(contentsOfFile: self.output, encoding: .utf8)) ?? "" }

    /// Signals the child and waits for its exit off the cooperative pool.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async -> Int32 {
        kill(self.process.processIdentifier, signal)
        return (try? await onOwnThread { self.waitForExit() }) ?? -1
    }

    /// SIGKILL and the (immediate) reaping, for `defer` blocks, which cannot await.
    @discardableResult
    func killed() -> Int32 {
        kill(self.process.processIdentifier, SIGKILL)
        return self.waitForExit()
    }

    /// Blocks the calling thread until the child has exited (for code already off the pool).
    func waitForExit() -> Int32 {
        self.process.waitUntilExit()
        return self.process.terminationStatus
    }
}

/// The whole side-effect path with real parts: `stockboom serve` (engine, dispatcher into real Redis),
/// `stockboom worker` (trade-execution against the mock KIS, notification through a real SMTP server,
/// aiosmtpd from PyPI), PostgreSQL for the sealed credentials.
@Suite(.serialized) struct WorkerEndToEndTests {
    static let secretsKey = String(repeating: "ab", count: 32)
    static let session = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10)

    struct Rig {
        let directory: TemporaryDirectory
        let environment: [String: String]
        let port: Int
        let mail: String
        var url: String { "http://127.0.0.1:\(self.port)" }

        /// The same rig with more environment for the processes it starts.
        func with(_ extra: [String: String]) -> Rig {
            Rig(
                directory: self.directory,
                environment: self.environment.merging(extra) { $1 },
                port: self.port,
                mail: self.mail
            )
        }
    }

    /// Registers owner@example.com with a simulated account and places an order outside the day's band: refused
    /// by the risk check, so the owner is to be told (ORDER_REJECTED). Returns the owner's token.
    static func ownerWithARejectedOrder(_ rig: Rig) async throws -> String {
        let (status, session) = try await Self.call(
            rig,
            "POST",
            "/api/auth/register",
            json: #"{"email":"owner@example.com","password":"a long owner password"}"#
        )
        #expect(status == 201, "\(session)")
        let token = try #require(session["token"] as? String)
        let (_, account) = try await Self.call(
            rig,
            "POST",
            "/api/broker-accounts",
            token: token,
            json: #"{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":10000000}"#
        )
        let accountID = try #require(account["id"] as? String)
        let (placed, order) = try await Self.call(
            rig,
            "POST",
            "/api/orders",
            token: token,
            json: #"{"brokerAccountId":"\#(accountID)","stockId":"005930","side":"BUY","quantity":1,"price":100000}"#
        )
        #expect(placed == 201 && order["status"] as? String == "REJECTED", "\(order)")
        return token
    }

    /// Buys `quantity` 005930 at 55,000 on `account` through the broker; returns the order id once it filled.
    @discardableResult
    static func bought(_ rig: Rig, _ token: String, _ account: String, quantity: Int = 10) async throws -> String {
        let (placed, order) = try await Self.call(
            rig,
            "POST",
            "/api/orders",
            token: token,
            json:
                #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":\#(quantity),"price":55000}"#
        )
        #expect(placed == 201, "\(order)")
        let id = order["id"] as? String ?? ""
        try await Self.waitFor(60, "the order filled through the broker") {
            try await Self.call(rig, "GET", "/api/orders/\(id)", token: token).1["status"] as? String == "FILLED"
        }
        return id
    }

    /// A log with two listed stocks, a fresh database, a flushed Redis database, an SMTP sink.
    static func rig(_ tag: String, redisDatabase: Int, redisURL: String? = nil) async throws -> (Rig, Child) {
        let environment = ProcessInfo.processInfo.environment
        let server = try #require(environment["DATABASE_URL"], "DATABASE_URL is unset: run the tests with `make test`")
        let redisText = try #require(
            redisURL ?? environment["REDIS_URL"],
            "REDIS_URL is unset: run the tests with `make test`"
        )
        var endpoint = try #require(RedisEndpoint(url: redisText))
        endpoint.database = redisDatabase
        _ = try RedisClient(endpoint: endpoint).command(["FLUSHDB"])
        let database = try PostgresConnection.recreateDatabase("sb_test_worker_\(tag)", serverURL: server)
        let directory = TemporaryDirectory("worker-\(tag)")
        let log = try EventLog(directory: directory.path)
        let runtime = try EngineRuntime(log: log, engine: Engine(calendar: TradingCalendar()))
        let context = CommandContext(time: Self.session - 3_600_000_000)
        _ = try await runtime.execute(
            .listStock(code: StockCode("005930")!, name: "삼성전자", market: "KOSPI", previousClose: 55_000),
            context: context
        )
        _ = try await runtime.execute(
            .listStock(code: StockCode("000660")!, name: "SK하이닉스", market: "KOSPI", previousClose: 180_000),
            context: context
        )
        await runtime.close()
        log.close()
        let mail = directory.path + "/mail"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: mail + "/" + sub, withIntermediateDirectories: true)
        }
        let smtpPort = freeLoopbackPort()
        let sink = try Child(
            "/usr/bin/env",
            [
                "python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(smtpPort)", "-c", "aiosmtpd.handlers.Mailbox",
                mail,
            ],
            environment: environment,
            output: directory.path + "/smtp.log"
        )
        let port = freeLoopbackPort()
        let redis = endpoint.url
        let rigEnvironment = [
            "PATH": "/usr/bin:/bin", "SWIFT_BACKTRACE": "enable=no", "DATABASE_URL": database, "REDIS_URL": redis,
            "STOCKBOOM_SECRETS_KEY": Self.secretsKey,
            "BCRYPT_COST": "4", "JWT_SECRET": String(repeating: "j", count: 40), "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": String(smtpPort), "SMTP_FROM": "alerts@stockboom.test",
        ]
        return (Rig(directory: directory, environment: rigEnvironment, port: port, mail: mail), sink)
    }

    static func serve(_ rig: Rig, extra: [String] = []) async throws -> Child {
        let child = try Child(
            try stockboomExecutable(),
            [
                "serve", "--dir", rig.directory.path, "--port", String(rig.port), "--clock-start",
                "2025-01-06T10:00:00+09:00",
            ] + extra,
            environment: rig.environment,
            output: rig.directory.path + "/serve.log"
        )
        for _ in 0..<300 {
            if (try? await Self.call(rig, "GET", "/metrics"))?.0 == 200 { return child }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("serve did not start: \(child.log)")
        return child
    }

    static func worker(_ rig: Rig, kis: Int, extra: [String] = []) throws -> Child {
        var environment = rig.environment
        environment["KIS_BASE_URL"] = "http://127.0.0.1:\(kis)"
        // The session's clock, as serve's (the broker's day of the orders is not over), unless the test sets its own.
        let clock = extra.contains("--clock-start") ? [] : ["--clock-start", "2025-01-06T10:00:00+09:00"]
        return try Child(
            try stockboomExecutable(),
            ["worker", "--dir", rig.directory.path, "--server", rig.url, "--poll-seconds", "0.3", "--no-http"]
                + clock + extra,
            environment: environment,
            output: rig.directory.path + "/worker-\(UUID().uuidString.prefix(4)).log"
        )
    }

    /// curl: (status, JSON object). Run on a thread of its own: a blocking wait on the cooperative pool would
    /// starve the in-process mock KIS server and every other test.
    static func call(
        _ rig: Rig,
        _ method: String,
        _ path: String,
        token: String? = nil,
        json: String? = nil,
        headers: [String] = []
    ) async throws -> (Int, [String: Any]) {
        let (status, text) = try await onOwnThread {
            try Self.curl(rig, method, path, token: token, json: json, headers: headers)
        }
        return (status, ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:])
    }

    static func curl(
        _ rig: Rig,
        _ method: String,
        _ path: String,
        token: String?,
        json: String?,
        headers: [String] = []
    ) throws -> (Int, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var arguments = ["-s", "-m", "30", "-X", method, "-w", "\n%{http_code}"]
        if let json { arguments += ["-H", "Content-Type: application/json", "-d", json] }
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for header in headers { arguments += ["-H", header] }
        process.arguments = arguments + [rig.url + path]
        let output = OutputFile()
        process.standardOutput = output.handle
        try process.run()
        process.waitUntilExit()
        let text = output.text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// Registers a user with a KIS paper account (the mock's keys); returns (token, account id).
    static func trader(_ rig: Rig, _ mock: KISFake) async throws -> (String, String) {
        let (status, session) = try await Self.call(
            rig,
            "POST",
            "/api/auth/register",
            json: #"{"email":"trader@example.com","password":"a long trader password"}"#
        )
        #expect(status == 201)
        let token = session["token"] as? String ?? ""
        let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
        let (created, account) = try await Self.call(
            rig,
            "POST",
            "/api/broker-accounts",
            token: token,
            json: #"{"broker":"KIS_PAPER","accountNumber":"50123456-01","appKey":"\#(key)","appSecret":"\#(secret)"}"#
        )
        #expect(created == 201, "\(account)")
        return (token, account["id"] as? String ?? "")
    }

    /// A trader (token, account id) whose KIS account a worker process reconciled — the KIS token issued and
    /// kept sealed in PostgreSQL, the cash adopted — and then stopped, and the worker token: for tests that run
    /// the worker's handlers in their own process (`brokers`).
    static func reconciledTrader(_ rig: Rig, _ mock: KISFake, kis: Int) async throws -> (
        token: String, account: String, workerToken: String
    ) {
        let (token, account) = try await Self.trader(rig, mock)
        let reconciler = try Self.worker(rig, kis: kis, extra: ["--reconcile-seconds", "1"])
        try await Self.waitForAdoptedCash(rig, token, account)
        #expect(await reconciler.stop() == 0)
        let workerToken = try String(contentsOfFile: rig.directory.path + "/worker.token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return (token, account, workerToken)
    }

    /// A broker directory of its own, as a worker process has (on the session's clock, as the worker ran).
    static func brokers(_ rig: Rig, kis: Int, workerToken: String) throws -> BrokerDirectory {
        BrokerDirectory(
            databaseURL: try #require(rig.environment["DATABASE_URL"]),
            box: SecretBox(key: try #require(SecretBox.parseKey(Self.secretsKey))),
            baseURL: "http://127.0.0.1:\(kis)",
            engine: EngineClient(baseURL: rig.url, token: workerToken),
            clock: { Self.session },
            requestsPerSecond: 200
        )
    }

    /// Waits until reconciliation adopted the mock broker's 100,000,000 KRW into the account. `trading`: strategies
    /// trade from the start (the fault suite), so the cash may have moved by the time the read model is first
    /// seen — any cash at all then shows the adoption (an account holds none before it, and buys nothing).
    @discardableResult
    static func waitForAdoptedCash(_ rig: Rig, _ token: String, _ account: String, trading: Bool = false)
        async throws -> Bool
    {
        try await Self.waitFor(60, "cash adopted") {
            let cash =
                (try await Self.call(rig, "GET", "/api/portfolio?brokerAccountId=\(account)", token: token).1["items"]
                as? [[String: Any]])?.first?["cash"] as? Int
            return trading ? (cash ?? 0) > 0 : cash == 100_000_000
        }
    }

    /// Places `count` identical limit buys; returns their ids.
    static func buy(
        _ rig: Rig,
        _ token: String,
        _ account: String,
        count: Int,
        stock: String,
        quantity: Int,
        price: Int
    ) async throws -> [String] {
        var ids: [String] = []
        for _ in 0..<count {
            let body =
                #"{"brokerAccountId":"\#(account)","stockId":"\#(stock)","side":"BUY","quantity":\#(quantity),"price":\#(price)}"#
            ids.append(
                try await Self.call(rig, "POST", "/api/orders", token: token, json: body).1["id"] as? String ?? ""
            )
        }
        return ids
    }

    /// Whether `condition` came true within `seconds`; an issue is recorded when it did not.
    @discardableResult
    static func waitFor(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out after \(seconds) s waiting for \(what)")
        return false
    }

    static func mails(_ rig: Rig) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: rig.mail + "/new")) ?? []
        return files.compactMap { try? String(contentsOfFile: rig.mail + "/new/" + $0, encoding: .utf8) }
    }

    static func decodedSubject(_ mail: String) -> String {
        guard let line = mail.split(separator: "\n").first(where: { $0.hasPrefix("Subject: =?UTF-8?B?") }) else {
            return ""
        }
        let encoded = line.dropFirst("Subject: =?UTF-8?B?".count).prefix { $0 != "?" }
        return Data(base64Encoded: String(encoded)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    @Test func anOrderTravelsToTheBrokerAndBackAndTheTraderGetsMail() async throws {
        let (rig, sink) = try await Self.rig("e2e", redisDatabase: 9)
        defer { sink.killed() }  // aiosmtpd ignores SIGTERM
        let mock = KISFake(now: Self.session)
        // A secret nobody could find by chance, to look for afterwards.
        let secret =
            "SBAPPSECRET" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            + String(repeating: "q", count: 137)
        mock.state.withLock {
            $0.rateLimit = 20
            $0.bucket.tokens = 20
            $0.appSecret = secret
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            mock.runClock()  // the broker's clock runs from the session's start, as serve's does
            let (token, account) = try await Self.trader(rig, mock)
            let worker = try Self.worker(rig, kis: kis, extra: ["--reconcile-seconds", "1"])
            // Reconciliation issues the token and adopts the broker's cash (100,000,000 KRW in the mock).
            try await Self.waitForAdoptedCash(rig, token, account)
            let id = try await Self.bought(rig, token, account)
            let (_, filled) = try await Self.call(rig, "GET", "/api/orders/\(id)", token: token)
            #expect(filled["filledQuantity"] as? Int == 10 && filled["averageFillPrice"] as? Int == 55_000)
            #expect(mock.state.withLock { $0.orders.count } == 1, "sent once")
            // The fill notification reaches the trader's mailbox through real SMTP.
            try await Self.waitFor(60, "the fill e-mail") {
                Self.mails(rig).contains {
                    $0.contains("To: <trader@example.com>") && Self.decodedSubject($0).contains("주문 체결")
                }
            }
            let (_, audit) = try await Self.call(rig, "GET", "/api/orders/\(id)/audit", token: token)
            let types = (audit["events"] as? [[String: Any]])?.compactMap { $0["type"] as? String } ?? []
            #expect(
                types.starts(with: ["OrderRequested", "OrderSubmitted", "OrderAccepted", "OrderFilled"]),
                "\(types)"
            )
            let (_, status) = try await Self.call(rig, "GET", "/api/market-data/kis/token-status", token: token)
            #expect("\(status)".contains(account), "token state visible: \(status)")
            // A broker refusal becomes REJECTED with the guide's reason.
            mock.state.withLock { $0.failNextOrder = (200, "40270000", "모의투자 상/하한가 오류") }
            let (_, refused) = try await Self.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":1,"price":55000}"#
            )
            let refusedID = refused["id"] as? String ?? ""
            try await Self.waitFor(60, "the broker's refusal") {
                try await Self.call(rig, "GET", "/api/orders/\(refusedID)", token: token).1["status"] as? String
                    == "REJECTED"
            }
            let (_, trades) = try await Self.call(rig, "GET", "/api/orders/\(refusedID)", token: token)
            #expect("\(trades)".contains("PRICE_OUT_OF_RANGE"), "\(trades)")
            #expect(await worker.stop() == 0, "\(worker.log.suffix(1500))")
            #expect(worker.log.contains("worker stopped cleanly"))
            #expect(await serve.stop() == 0)
        }
        // The app secret was used all along (token issue, every KIS call); it is nowhere in clear.
        try await Self.expectAbsent(secret, rig: rig, redisDatabase: 9)
    }

    /// Looks for `secret` (as is, base64, hex) in every record and snapshot of the log directory (decoded:
    /// segments and snapshots are LZ4-compressed) and its other files, in a `pg_dump` of the database, and
    /// in every key and value of the Redis database.
    /// `minimumRecords`/`minimumKeys`: how much the search must have looked at to mean anything.
    static func expectAbsent(
        _ secret: String,
        rig: Rig,
        redisDatabase: Int,
        minimumRecords: Int = 11,
        minimumKeys: Int = 6
    ) async throws {
        let forms = [
            Array(secret.utf8), Array(Data(secret.utf8).base64EncodedString().utf8),
            Array(secret.utf8.map { String(format: "%02x", $0) }.joined().utf8),
        ]
        func contains(_ haystack: [UInt8]) -> Bool {
            forms.contains { needle in
                haystack.count >= needle.count
                    && (0...(haystack.count - needle.count)).contains {
                        haystack[$0..<($0 + needle.count)].elementsEqual(needle)
                    }
            }
        }
        let log = try EventLog(directory: rig.directory.path, readOnly: true)
        let records = try log.read(from: 0, maxRecords: .max)
        log.close()
        #expect(records.count >= minimumRecords)
        let inRecords = records.contains { contains($0.payload) }
        #expect(!inRecords, "the secret is in a log record")
        for path in try SnapshotStore(logDirectory: rig.directory.path).list() {
            let inSnapshot = contains(try SnapshotStore(logDirectory: rig.directory.path).read(path: path).state)
            #expect(!inSnapshot, "the secret is in \(path)")
        }
        for name in try FileManager.default.subpathsOfDirectory(atPath: rig.directory.path)
        where !name.hasSuffix(".log") && !name.hasPrefix("mail") {
            guard let data = FileManager.default.contents(atPath: rig.directory.path + "/" + name) else { continue }
            let inFile = contains(Array(data))
            #expect(!inFile, "the secret is in \(name)")
        }
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/pg_dump")
        dump.arguments = [try #require(rig.environment["DATABASE_URL"])]
        let output = OutputFile()
        dump.standardOutput = output.handle
        try dump.run()
        let text = try await onOwnThread {
            dump.waitUntilExit()
            return Data(output.text.utf8)
        }
        #expect(dump.terminationStatus == 0 && text.count > 1_000)
        let inDatabase = contains(Array(text))
        #expect(!inDatabase, "the secret is in the database")
        let redisURL = try #require(rig.environment["REDIS_URL"])
        var endpoint = try #require(RedisEndpoint(url: redisURL))
        endpoint.database = redisDatabase
        let redis = RedisClient(endpoint: endpoint)
        var cursor = "0"
        var keys = 0
        repeat {
            guard case .array(let parts) = try redis.command(["SCAN", cursor, "COUNT", "1000"]), parts.count == 2,
                case .array(let names) = parts[1]
            else { break }
            cursor = parts[0].text ?? "0"
            for name in names.compactMap(\.text) {
                keys += 1
                let inName = contains(Array(name.utf8))
                #expect(!inName, "the secret is in a Redis key name")
                let type = try redis.command(["TYPE", name]).text ?? ""
                let value: RedisReply =
                    switch type {
                    case "string": try redis.command(["GET", name])
                    case "list": try redis.command(["LRANGE", name, "0", "-1"])
                    case "hash": try redis.command(["HGETALL", name])
                    case "set": try redis.command(["SMEMBERS", name])
                    case "zset": try redis.command(["ZRANGE", name, "0", "-1"])
                    default: .null
                    }
                func flatten(_ reply: RedisReply) -> [UInt8] {
                    switch reply {
                    case .string(let bytes): bytes
                    case .status(let text), .error(let text): Array(text.utf8)
                    case .array(let items): items.flatMap(flatten)
                    default: []
                    }
                }
                let inValue = contains(flatten(value))
                #expect(!inValue, "the secret is in Redis key \(name)")
            }
        } while cursor != "0"
        #expect(keys >= minimumKeys, "the queues were used")
    }

    static func orders(_ rig: Rig, _ token: String, _ ids: [String]) async throws -> [[String: Any]] {
        var orders: [[String: Any]] = []
        for id in ids { orders.append(try await Self.call(rig, "GET", "/api/orders/\(id)", token: token).1) }
        return orders
    }

    /// A worker SIGKILLed while its jobs are inside the broker call (KIS took the orders, the answers never
    /// came back) and while others rest at the broker: a new worker finishes every job, no order is sent
    /// twice, no fill is counted twice.
    @Test func aWorkerKilledMidJobLosesNothingAndDoesNothingTwice() async throws {
        let (rig, sink) = try await Self.rig("kill", redisDatabase: 10)
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
            $0.fillImmediately = false
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            mock.runClock()  // the broker's clock runs from the session's start, as serve's does
            let (token, account) = try await Self.trader(rig, mock)
            let first = try Self.worker(
                rig,
                kis: kis,
                extra: ["--lock-ms", "1500", "--concurrency", "trade-execution=8,notification=1"]
            )
            try await Self.waitForAdoptedCash(rig, token, account)
            // Three orders rest at the broker (accepted, then polled)…
            let ids = try await Self.buy(rig, token, account, count: 3, stock: "005930", quantity: 2, price: 55000)
            try await Self.waitFor(60, "three orders accepted") {
                try await Self.orders(rig, token, ids).allSatisfy { $0["status"] as? String == "ACCEPTED" }
            }
            // …and three identical ones are taken by a slow broker whose answers the worker never sees.
            mock.state.withLock { $0.orderDelay = 30 }
            let slow = try await Self.buy(rig, token, account, count: 3, stock: "005930", quantity: 2, price: 55000)
            try await Self.waitFor(60, "the slow orders at the broker") { mock.state.withLock { $0.orders.count } == 6 }
            first.killed()
            #expect(first.process.terminationReason == .uncaughtSignal, "killed, not stopped")
            #expect(
                try await Self.orders(rig, token, slow).allSatisfy { $0["status"] as? String == "SUBMITTED" },
                "the engine knows they were sent, not what KIS said"
            )
            mock.state.withLock { $0.orderDelay = 0 }
            // The market comes to all six while no worker runs.
            for order in mock.state.withLock({ $0.orders }) { mock.fill(order.number, quantity: 2, price: 55_000) }
            let second = try Self.worker(rig, kis: kis, extra: ["--lock-ms", "1500"])
            let filled = try await Self.waitFor(80, "all six filled") {
                try await Self.orders(rig, token, ids + slow).allSatisfy { $0["status"] as? String == "FILLED" }
            }
            if !filled {
                print(
                    "the killed worker said:\n\(first.log.suffix(6_000))\nthe second one:\n\(second.log.suffix(12_000))"
                )
            }
            #expect(!second.log.contains("failed (failed)"), "no job used up its attempts: \(second.log.suffix(2000))")
            #expect(mock.state.withLock { $0.orders.count } == 6, "no order was sent twice")
            for order in try await Self.orders(rig, token, ids + slow) {
                #expect(order["filledQuantity"] as? Int == 2, "\(order)")
            }
            let (_, portfolio) = try await Self.call(
                rig,
                "GET",
                "/api/portfolio?brokerAccountId=\(account)",
                token: token
            )
            let holding = ((portfolio["items"] as? [[String: Any]])?.first?["positions"] as? [[String: Any]])?.first
            #expect(holding?["quantity"] as? Int == 12, "12 shares, not more: \(portfolio)")
            #expect(await second.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }

    /// The broker took an order but its answer was lost and its order list lags: the order is unknown — it
    /// stays SUBMITTED and is not sent again — until the list shows it, when it is adopted. An order whose send
    /// KIS's gateway dropped (502 before the order was looked at) is unknown too, and is sent again only once
    /// the list holds an order sent after it.
    @Test func anUnknownOrderIsNeverSentTwiceAndADroppedOneIsSentAgain() async throws {
        // not 11: JobQueueTests (11 to 15) may run at the same time
        let (rig, sink) = try await Self.rig("unknown", redisDatabase: 17)
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
            $0.fillImmediately = false
            $0.lostAnswerSeconds = 11
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            mock.runClock()  // the broker's clock runs from the session's start, as serve's does
            let (token, account) = try await Self.trader(rig, mock)
            let worker = try Self.worker(rig, kis: kis)
            try await Self.waitForAdoptedCash(rig, token, account)
            func status(_ id: String) async throws -> String {
                try await Self.call(rig, "GET", "/api/orders/\(id)", token: token).1["status"] as? String ?? ""
            }
            // Taken, answer lost, list empty for now.
            mock.state.withLock {
                $0.loseAnswers = 1
                $0.hideReports = true
            }
            let lost = try await Self.buy(rig, token, account, count: 1, stock: "005930", quantity: 1, price: 55_000)[0]
            try await Self.waitFor(30, "the order at the broker") { mock.state.withLock { $0.orders.count } == 1 }
            try await Task.sleep(for: .seconds(14))  // the client gave up after 10 s; the retry found an empty list
            #expect(try await status(lost) == "SUBMITTED", "unknown, not assumed absent")
            #expect(mock.state.withLock { $0.orders.count } == 1, "not sent again")
            mock.state.withLock { $0.hideReports = false }
            try await Self.waitFor(30, "the lost order adopted") { try await status(lost) == "ACCEPTED" }
            // Dropped at the gateway: not taken, but nothing in the list says so yet.
            mock.state.withLock { $0.dropOrders = 1 }
            let dropped = try await Self.buy(
                rig,
                token,
                account,
                count: 1,
                stock: "005930",
                quantity: 2,
                price: 55_000
            )[0]
            try await Self.waitFor(30, "the dropped send") { mock.state.withLock { $0.dropOrders } == 0 }
            try await Task.sleep(for: .seconds(3))
            #expect(try await status(dropped) == "SUBMITTED")
            #expect(
                mock.state.withLock { $0.orders.count } == 1,
                "the dropped order is not at the broker and was not sent again yet"
            )
            // A later order reaches the broker: the list is now newer than the dropped send, which goes again.
            mock.advance(seconds: 600)  // the broker's clock (held still in this test) moves past the dropped send
            let later = try await Self.buy(rig, token, account, count: 1, stock: "005930", quantity: 3, price: 55_000)[
                0
            ]
            try await Self.waitFor(60, "both accepted") {
                let (first, second) = (try await status(dropped), try await status(later))
                return first == "ACCEPTED" && second == "ACCEPTED"
            }
            let orders = mock.state.withLock { $0.orders }
            #expect(
                orders.map(\.quantity).sorted() == [1, 2, 3],
                "each order at the broker once: \(orders.map(\.quantity))"
            )
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }

    /// Redis flushed mid-run: the dispatcher finds its checkpoint gone, derives the pending work again from
    /// the log, and the orders finish without being sent twice.
    @Test func aFlushedRedisLosesNoWork() async throws {
        let (rig, sink) = try await Self.rig("flush", redisDatabase: 3)
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
            $0.fillImmediately = false
        }
        try await withServer(mock.router()) { kis in
            try await Self.fourRestingOrdersOutlive(rig, mock, kis: kis, stock: "000660", quantity: 1, price: 180_000) {
                var endpoint = try #require(RedisEndpoint(url: rig.environment["REDIS_URL"]!))
                endpoint.database = 3
                _ = try RedisClient(endpoint: endpoint).command(["FLUSHDB"])
            }
            // The fill e-mails were derived again too (each order's one notification, no duplicates).
            try await Self.waitFor(60, "four fill e-mails") {
                Self.mails(rig).filter { Self.decodedSubject($0).contains("주문 체결") }.count >= 4
            }
            #expect(Self.mails(rig).filter { Self.decodedSubject($0).contains("주문 체결") }.count == 4)
        }
    }

    /// Serve, a worker and four identical buys resting at the broker; `outage` happens to Redis, the market fills
    /// all four, and the orders must finish with nothing sent twice; both processes then stop cleanly.
    static func fourRestingOrdersOutlive(
        _ rig: Rig,
        _ mock: KISFake,
        kis: Int,
        stock: String,
        quantity: Int,
        price: Int64,
        outage: () async throws -> Void
    ) async throws {
        let serve = try await Self.serve(rig)
        let (token, account) = try await Self.trader(rig, mock)
        let worker = try Self.worker(rig, kis: kis)
        try await Self.waitForAdoptedCash(rig, token, account)
        let ids = try await Self.buy(rig, token, account, count: 4, stock: stock, quantity: quantity, price: Int(price))
        try await Self.waitFor(60, "four orders accepted") {
            try await Self.orders(rig, token, ids).allSatisfy { $0["status"] as? String == "ACCEPTED" }
        }
        try await outage()
        for order in mock.state.withLock({ $0.orders }) {
            mock.fill(order.number, quantity: Int64(quantity), price: price)
        }
        try await Self.waitFor(120, "all four filled after the outage") {
            try await Self.orders(rig, token, ids).allSatisfy { $0["status"] as? String == "FILLED" }
        }
        #expect(mock.state.withLock { $0.orders.count } == 4, "nothing sent twice")
        #expect(await worker.stop() == 0, "\(worker.log.suffix(1500))")
        #expect(await serve.stop() == 0)
    }

    /// data-collection: minute bars of a watched stock become candles, a restarted worker resumes after the
    /// engine's last minute (no gap, no duplicate), and the quote is cached in Redis with a TTL.
    @Test func minuteCandlesAreCollectedWithoutGapsOrDuplicatesAcrossRestarts() async throws {
        let (rig, sink) = try await Self.rig("collect", redisDatabase: 1)
        defer { sink.killed() }
        let mock = KISFake(now: KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10, minute: 15))
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            let (token, account) = try await Self.trader(rig, mock)
            let options = [
                "--watch", "005930", "--collect-seconds", "0.5", "--concurrency",
                "data-collection=2,trade-execution=1,notification=1",
            ]
            func candles() async throws -> [String] {
                let (_, body) = try await Self.call(
                    rig,
                    "GET",
                    "/api/market-data/stocks/005930/candles?timeframe=1m&limit=500",
                    token: token
                )
                return (body["candles"] as? [[String: Any]] ?? []).compactMap { $0["timestamp"] as? String }
            }
            // KRX has halted 005930 (its quote says so): the worker tells the engine, which then takes no order for it.
            mock.state.withLock { $0.haltedStocks = ["005930"] }
            let first = try Self.worker(rig, kis: kis, extra: options + ["--clock-start", "2025-01-06T10:15:30+09:00"])
            try await Self.waitFor(60, "09:00…10:14 collected") { try await candles().count == 75 }
            let (placed, order) = try await Self.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":1,"price":55000}"#
            )
            #expect(placed == 201 && order["status"] as? String == "REJECTED", "\(order)")
            #expect(order["failureReason"] as? String == "STOCK_HALTED", "\(order)")
            #expect(await first.stop() == 0)
            // Five minutes later a new worker resumes after the engine's last minute. The halt is over and a
            // volatility interruption holds the stock (its quote, fetched again: the cached one is dropped).
            mock.advance(seconds: 300)
            mock.state.withLock {
                $0.haltedStocks = []
                $0.interruptedStocks = ["005930": "1"]
            }
            var cache = try #require(RedisEndpoint(url: rig.environment["REDIS_URL"]!))
            cache.database = 1
            _ = try RedisClient(endpoint: cache).command(["DEL", "cache:stock:005930"])
            let second = try Self.worker(
                rig,
                kis: kis,
                extra: options + ["--clock-start", "2025-01-06T10:20:30+09:00"]
            )
            try await Self.waitFor(60, "09:00…10:19 collected") { try await candles().count == 80 }
            try await Self.waitFor(30, "the VI recorded") {
                try await Self.call(rig, "GET", "/api/market-data/stocks/005930", token: token).1["tradingStatus"]
                    as? String == "VI"
            }
            let (_, stock) = try await Self.call(rig, "GET", "/api/market-data/stocks/005930", token: token)
            #expect(stock["statusReason"] as? String == "KRX VI (KIS vi_cls_code=1)", "\(stock)")
            let (_, during) = try await Self.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":1,"price":55000}"#
            )
            #expect(during["failureReason"] as? String != "STOCK_HALTED", "a VI takes orders: \(during)")
            let times = try await candles()
            #expect(Set(times).count == times.count, "no duplicates")
            #expect(
                times.first == "2025-01-06T00:00:00.000000Z" && times.last == "2025-01-06T01:19:00.000000Z",
                "\(times.first ?? "") … \(times.last ?? "")"
            )
            var endpoint = try #require(RedisEndpoint(url: rig.environment["REDIS_URL"]!))
            endpoint.database = 1
            let redis = RedisClient(endpoint: endpoint)
            #expect(try redis.command(["GET", "cache:stock:005930"]).text?.contains("\"price\":55000") == true)
            guard case .integer(let ttl) = try redis.command(["TTL", "cache:stock:005930"]) else {
                Issue.record("no TTL")
                return
            }
            #expect(ttl > 0 && ttl <= 120)
            #expect(await second.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }

    /// A Redis server of the test's own, so it can be killed and restarted without disturbing other tests.
    static func privateRedis(port: Int, directory: String) async throws -> Child {
        let child = try Child(
            "/usr/bin/redis-server",
            ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
            environment: ["PATH": "/usr/bin:/bin"],
            output: directory + "/redis-\(UUID().uuidString.prefix(4)).log"
        )
        for _ in 0..<100 {
            if (try? RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: Int32(port))).command(["PING"]))
                == .status("PONG")
            {
                return child
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("redis-server did not start on \(port)")
        return child
    }

    /// Redis killed and restarted empty mid-run (no persistence): serve and worker reconnect with back-off, the
    /// dispatcher rebuilds the pending jobs from the log, and the orders finish, none sent twice.
    @Test func aRestartedRedisLosesNoWork() async throws {
        let redisPort = freeLoopbackPort()
        let scratch = TemporaryDirectory("redis")
        let redis = Mutex(try await Self.privateRedis(port: redisPort, directory: scratch.path))
        defer { _ = redis.withLock { $0.killed() } }  // before anything that can throw: a failed set-up leaked it
        let (rig, sink) = try await Self.rig("restart", redisDatabase: 0, redisURL: "redis://127.0.0.1:\(redisPort)/0")
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
            $0.fillImmediately = false
        }
        try await withServer(mock.router()) { kis in
            try await Self.fourRestingOrdersOutlive(rig, mock, kis: kis, stock: "005930", quantity: 3, price: 55_000) {
                _ = redis.withLock { $0.killed() }
                try await Task.sleep(for: .seconds(2))  // both processes meet the dead server
                let restarted = try await Self.privateRedis(port: redisPort, directory: scratch.path)
                redis.withLock { $0 = restarted }
            }
        }
    }

    /// data-analysis: a strategy enabled through the API runs on the collected bars (the engine's strategy
    /// code), its orders go through the risk checks and the broker, and they fill.
    @Test func aLiveStrategyTradesOnCollectedBars() async throws {
        let (rig, sink) = try await Self.rig("strategy", redisDatabase: 6)
        defer { sink.killed() }
        let mock = KISFake(now: KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10, minute: 15))
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            let (token, account) = try await Self.trader(rig, mock)
            let (enabled, strategy) = try await Self.call(
                rig,
                "POST",
                "/api/strategies",
                token: token,
                json:
                    #"{"brokerAccountId":"\#(account)","stockId":"005930","strategy":"ma-cross","parameters":"fast=2,slow=3,quantity=1"}"#
            )
            #expect(enabled == 201, "\(strategy)")
            #expect(try await Self.call(rig, "GET", "/api/strategies", token: token).1["count"] as? Int == 1)
            let worker = try Self.worker(
                rig,
                kis: kis,
                extra: ["--collect-seconds", "0.5", "--clock-start", "2025-01-06T10:15:30+09:00"]
            )
            func strategyOrders() async throws -> [[String: Any]] {
                (try await Self.call(rig, "GET", "/api/orders?limit=1000", token: token).1["items"] as? [[String: Any]]
                    ?? []).filter { $0["source"] as? String == "STRATEGY" }
            }
            try await Self.waitFor(120, "the strategy's orders filled") {
                let orders = try await strategyOrders()
                return !orders.isEmpty && orders.allSatisfy { $0["status"] as? String == "FILLED" }
            }
            let orders = try await strategyOrders()
            #expect(orders.contains { $0["side"] as? String == "BUY" }, "\(orders)")
            // The bars' indicators were recorded by data-analysis and projected into PostgreSQL's `indicators`.
            let database = try #require(rig.environment["DATABASE_URL"])
            try await Self.waitFor(60, "indicators projected") {
                let count = try await blocking {
                    try PostgresConnection(url: database).query(
                        "SELECT count(*) FROM indicators WHERE stock_id = '005930' AND name = 'sma_5'"
                    ).rows.first?[0] ?? "0"
                }
                return Int(count) ?? 0 > 0
            }
            #expect(mock.state.withLock { $0.orders.count } == orders.count, "each strategy order sent once")
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }

    /// Reconciliation: shares at the broker the engine never saw, with no order working to explain them, halt
    /// the account (its orders are then refused by the risk check) and tell its owner.
    @Test func aMismatchWithTheBrokerHaltsTheAccountAndNotifiesItsOwner() async throws {
        let (rig, sink) = try await Self.rig("reconcile", redisDatabase: 5)
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        mock.state.withLock {
            $0.rateLimit = 50
            $0.bucket.tokens = 50
            $0.holdings["000660"] = 7
        }
        try await withServer(mock.router()) { kis in
            let serve = try await Self.serve(rig)
            mock.runClock()  // the broker's clock runs from the session's start, as serve's does
            let (token, account) = try await Self.trader(rig, mock)
            let worker = try Self.worker(rig, kis: kis)
            try await Self.waitFor(60, "the account halted") {
                try await Self.call(rig, "GET", "/api/broker-accounts/\(account)", token: token).1["haltedReason"]
                    is String
            }
            let (_, order) = try await Self.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":1,"price":55000}"#
            )
            #expect(order["status"] as? String == "REJECTED" && "\(order)".contains("ACCOUNT_HALTED"), "\(order)")
            try await Self.waitFor(60, "the owner's e-mail") {
                Self.mails(rig).contains { Self.decodedSubject($0).contains("계좌 거래 중지") }
            }
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }

    /// `stockboom queues status | retry-failed | rebuild` against the same Redis and log.
    @Test func theQueueCommandsShowRetryAndRebuild() async throws {
        let (rig, sink) = try await Self.rig("cli", redisDatabase: 4)
        defer { sink.killed() }
        let mock = KISFake(now: Self.session)
        try await withServer(mock.router()) { _ in
            let serve = try await Self.serve(rig)
            mock.runClock()  // the broker's clock runs from the session's start, as serve's does
            let (token, account) = try await Self.trader(rig, mock)
            // No worker runs: the order is refused by risk (no broker token yet), and its ORDER_REJECTED
            // notification becomes a pending notification job.
            _ = try await Self.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":1,"price":55000}"#
            )
            var endpoint = try #require(RedisEndpoint(url: rig.environment["REDIS_URL"]!))
            endpoint.database = 4
            let store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
            try await Self.waitFor(60, "the dispatcher") { try store.counts(.notification).wait == 1 }
            #expect(await serve.stop() == 0)
            let environment = rig.environment
            let (status, out, _) = try await runStockboom(["queues", "status"], environment: environment)
            #expect(status == 0 && out.contains("trade-execution") && out.contains("dispatcher checkpoint"), "\(out)")
            let before = try QueueName.allCases.map { try store.counts($0).wait }.reduce(0, +)
            #expect(before == 1, "the rejection's notification is pending")
            _ = try store.redis.command(["FLUSHDB"])
            let (rebuilt, text, errors) = try await runStockboom(
                ["queues", "rebuild", "--dir", rig.directory.path],
                environment: environment
            )
            #expect(rebuilt == 0, "\(text)\(errors)")
            #expect(
                try QueueName.allCases.map { try store.counts($0).wait }.reduce(0, +) == before,
                "the pending jobs are back: \(text)"
            )
            // A failed job goes back to wait with retry-failed.
            try store.add([Job(queue: .dataAnalysis, id: "x", data: "{}", maxAttempts: 1)], now: 0)
            let job = try #require(try store.reserve(.dataAnalysis, max: 1, waitSeconds: 0.1, now: 0, token: "t").first)
            #expect(try store.fail(job, error: "boom", now: 0) == .failed)
            let (retried, said, _) = try await runStockboom(
                ["queues", "retry-failed", "data-analysis"],
                environment: environment
            )
            #expect(retried == 0 && said.contains("1 job(s)"), "\(said)")
            #expect(try store.counts(.dataAnalysis) == QueueCounts(wait: 1))
            let (unknown, _, complaint) = try await runStockboom(
                ["queues", "retry-failed", "nope"],
                environment: environment
            )
            #expect(unknown != 0 && complaint.contains("unknown queue"), "\(complaint)")
        }
    }
}
