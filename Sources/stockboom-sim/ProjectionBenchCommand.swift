import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import Synchronization

/// `stockboom-sim bench projections`: rebuild and live-lag figures of the PostgreSQL read models.
struct ProjectionBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract:
            "Rebuild the candles and trades projections from the corpus (vs psql \\copy), and live lag at 10,000 events/s."
    )

    @Option(help: "Corpus file (`stockboom-sim bench corpus`).") var corpus: String
    @Option(help: "Scratch directory.") var dir = "var/bench-projections"
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Events per second for the live-lag run.") var liveRate = 10_000
    @Option(help: "Seconds of the live-lag run.") var liveSeconds = 10
    @Flag var json = false

    func run() async throws {
        try? FileManager.default.removeItem(atPath: self.dir)
        var results = BenchResults()
        let corpus = try Corpus(path: self.corpus, limit: nil)
        let logPath = self.dir + "/log"
        let convertStarted = monotonicNanos()
        let events = try await CorpusImport.write(corpus, to: logPath)
        results.add(
            "corpus converted to engine events and appended",
            events: events,
            seconds: Double(monotonicNanos() - convertStarted) / 1e9,
            bytes: nil
        )
        let url = try self.freshDatabase("sb_bench_projections")
        let log = try EventLog(directory: logPath, readOnly: true)
        let runner = try ProjectionRunner(
            log: log,
            models: [MarketReadModel(), TradingReadModel()],
            connect: { try PostgresConnection(url: url) }
        )
        for name in ["market", "trading"] {
            let started = monotonicNanos()
            _ = try runner.rebuild(name, retention: nil)  // measure the rows, not the pruning
            let seconds = Double(monotonicNanos() - started) / 1e9
            let tables =
                name == "market"
                ? ["candles", "stocks"] : ["trades", "order_events", "broker_accounts", "users", "positions"]
            var rows = 0
            for table in tables {
                rows += Int(try runner.database.query("SELECT count(*) FROM \(table)").rows[0][0] ?? "0") ?? 0
            }
            results.add(
                "rebuild \(name) (\(tables.joined(separator: ", "))): rows in the tables at the end, \(log.nextOffset) events read",
                events: rows,
                seconds: seconds,
                bytes: nil,
                unit: "rows"
            )
            if name == "market" {
                results.add(
                    "rebuild market: candle rows written (the corpus repeats its 1,028,700 candle keys, so most are updates)",
                    events: runner.candleRowsWritten,
                    seconds: seconds,
                    bytes: nil,
                    unit: "rows"
                )
            }
        }
        // The limit: psql \copy of the very same rows from CSV files.
        for table in ["candles", "trades"] {
            let file = FileManager.default.currentDirectoryPath + "/\(self.dir)/\(table).csv"
            try self.psql(url, "\\copy \(table) TO '\(file)' CSV")
            try self.psql(url, "TRUNCATE \(table) CASCADE")
            let started = monotonicNanos()
            try self.psql(url, "\\copy \(table) FROM '\(file)' CSV")
            let seconds = Double(monotonicNanos() - started) / 1e9
            let rows = Int(try runner.database.query("SELECT count(*) FROM \(table)").rows[0][0] ?? "0") ?? 0
            results.add(
                "limit: psql \\copy \(table) FROM CSV (same rows)",
                events: rows,
                seconds: seconds,
                bytes: nil,
                unit: "rows"
            )
        }
        try await self.liveLag(corpus: corpus, results: &results)
        print(self.json ? results.json() : results.table())
    }

    private func freshDatabase(_ name: String) throws -> String {
        try PostgresConnection.recreateDatabase(name, serverURL: try self.database.url())
    }

    private func psql(_ url: String, _ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandFailure("psql failed: \(command)") }
    }

    /// Appends engine events at a steady rate while a live runner projects them; lag = commit time − append time.
    private func liveLag(corpus: Corpus, results: inout BenchResults) async throws {
        let url = try self.freshDatabase("sb_bench_live")
        var configuration = LogConfiguration()
        configuration.durability = .everyBatch
        let log = try EventLog(directory: self.dir + "/live", configuration: configuration)
        let total = self.liveRate * self.liveSeconds
        let appendedAt = AppendTimes(count: total + 100_000)
        var runner = try ProjectionRunner(
            log: log,
            models: [MarketReadModel(), TradingReadModel()],
            connect: { try PostgresConnection(url: url) }
        )
        let lags = Mutex<[Double]>([])
        let last = Mutex<[String: UInt64]>([:])
        runner.onCommit = { name, offset in
            let now = monotonicNanos()
            let previous = last.withLock { state -> UInt64 in
                defer { state[name] = offset }
                return state[name] ?? 0
            }
            guard name == "market" else { return }
            var batch: [Double] = []
            for event in previous..<offset {
                let appended = appendedAt.get(Int(event))
                if appended > 0 { batch.append(Double(now - appended) / 1e6) }
            }
            lags.withLock { $0.append(contentsOf: batch) }
        }
        let stop = Mutex(false)
        let thread = Thread { [runner] in runner.runLive(pollMicros: 1_000, shouldStop: { stop.withLock { $0 } }) }
        thread.start()
        var recorder = EventRecorder(nextOffset: 0)
        var converter = CorpusImport.Converter()
        let started = monotonicNanos()
        let perTick = max(1, self.liveRate / 100)
        var sent = 0
        var line = 0
        while sent < total {
            let due = started + UInt64(sent) * 1_000_000_000 / UInt64(self.liveRate)
            let now = monotonicNanos()
            if now < due { try await Task.sleep(nanoseconds: due - now) }
            var count = 0
            while count < perTick && line < corpus.count {
                count += converter.convert(corpus, line, into: &recorder)
                line += 1
            }
            let batch = recorder.take()
            let result = try await log.append(batch)
            let time = monotonicNanos()
            for offset in result.firstOffset...result.lastOffset { appendedAt.set(Int(offset), time) }
            sent += batch.count
        }
        var waited = 0
        while (last.withLock { $0["market"] ?? 0 }) < log.nextOffset && waited < 500 {
            try await Task.sleep(nanoseconds: 10_000_000)
            waited += 1
        }
        stop.withLock { $0 = true }
        while thread.isExecuting { try await Task.sleep(nanoseconds: 5_000_000) }
        runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        log.close()
        var samples = lags.withLock { $0 }
        samples.sort()
        guard !samples.isEmpty else { throw CommandFailure("no lag samples") }
        func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
        results.note(
            "live lag at \(self.liveRate) events/s for \(self.liveSeconds) s (append acknowledged → candle row committed)",
            String(
                format: "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d events)",
                percentile(0.5),
                percentile(0.99),
                samples.last!,
                samples.count
            )
        )
    }
}

/// Append times by offset, shared between the appending task and the projector thread.
final class AppendTimes: Sendable {
    private let times: Mutex<[UInt64]>
    init(count: Int) { self.times = Mutex([UInt64](repeating: 0, count: count)) }
    func set(_ index: Int, _ value: UInt64) { self.times.withLock { if index < $0.count { $0[index] = value } } }
    func get(_ index: Int) -> UInt64 { self.times.withLock { index < $0.count ? $0[index] : 0 } }
}

/// Turns the shared benchmark corpus (JSON lines) into engine events.
enum CorpusImport {
    /// Converts the whole corpus into a fresh log (durability none); returns the events written.
    static func write(_ corpus: Corpus, to path: String) async throws -> Int {
        var configuration = LogConfiguration()
        configuration.durability = .none
        let log = try EventLog(directory: path, configuration: configuration)
        var recorder = EventRecorder(nextOffset: 0)
        var converter = Converter()
        var written = 0
        for index in 0..<corpus.count {
            written += converter.convert(corpus, index, into: &recorder)
            if recorder.batch.byteCount > 1 << 20 { _ = try await log.append(recorder.take()) }
        }
        let rest = recorder.take()
        if !rest.isEmpty { _ = try await log.append(rest) }
        log.close()
        return written
    }

    /// Maps one corpus line to engine events, listing stocks and registering users/accounts on first sight.
    struct Converter {
        var stocks = Set<StockCode>()
        var accounts = Set<AccountID>()
        var nextNotification: UInt64 = 1

        mutating func convert(_ corpus: Corpus, _ index: Int, into recorder: inout EventRecorder) -> Int {
            let fields = corpus.withPayload(index) { FlatJSON.fields($0) }
            guard let type = fields["type"] else { return 0 }
            var events: [(Int64, DomainEvent)] = []
            let stock = fields["stock"].flatMap { StockCode($0) }
            if let stock, !self.stocks.contains(stock) {
                self.stocks.insert(stock)
                let price = Int64(fields["o"] ?? fields["price"] ?? "1000") ?? 1000
                events.append(
                    (
                        0,
                        .stockListed(
                            StockListed(stock: stock, name: "종목\(stock)", market: "KOSPI", previousClose: max(1, price))
                        )
                    )
                )
            }
            switch type {
            case "CandleClosed":
                guard let stock, let ts = Int64(fields["ts"] ?? ""), let o = Int64(fields["o"] ?? ""),
                    let h = Int64(fields["h"] ?? ""),
                    let l = Int64(fields["l"] ?? ""), let c = Int64(fields["c"] ?? ""),
                    let v = Int64(fields["vol"] ?? "")
                else { return 0 }
                events.append(
                    (
                        ts * 1_000_000,
                        .candleClosed(
                            Candle(
                                stock: stock,
                                timeframe: .minute1,
                                start: ts * 1_000_000,
                                open: o,
                                high: h,
                                low: l,
                                close: c,
                                volume: v
                            )
                        )
                    )
                )
            case "NotificationCreated":
                let user = UserID(value: (UInt64(fields["user"]?.dropFirst(5) ?? "0") ?? 0) + 1)
                events.append(
                    (
                        Int64(fields["ts"] ?? "0").map { $0 * 1_000_000 } ?? 0,
                        .notificationCreated(
                            NotificationCreated(
                                notification: NotificationID(value: self.nextNotification),
                                user: user,
                                kind: fields["kind"] ?? "",
                                title: fields["title"] ?? "",
                                message: fields["message"] ?? ""
                            )
                        )
                    )
                )
                self.nextNotification += 1
            default:
                guard let stock, let order = fields["orderId"].flatMap({ OrderID($0) }),
                    let accountText = fields["account"],
                    let number = UInt64(accountText.dropFirst(4)),
                    let side = fields["side"].flatMap({ OrderSide(text: $0) }),
                    let quantity = Int64(fields["qty"] ?? ""), let price = Int64(fields["price"] ?? ""),
                    let ts = Int64(fields["ts"] ?? "")
                else { return 0 }
                let account = AccountID(value: number + 1)
                if !self.accounts.contains(account) {
                    self.accounts.insert(account)
                    events.append(
                        (
                            0,
                            .userRegistered(
                                UserRegistered(user: UserID(value: number + 1), email: "user\(number)@example.com")
                            )
                        )
                    )
                    events.append(
                        (
                            0,
                            .brokerAccountRegistered(
                                BrokerAccountRegistered(
                                    account: account,
                                    user: UserID(value: number + 1),
                                    broker: .simulated,
                                    maskedAccountNumber: "****\(number)",
                                    dailyOrderLimit: 1_000_000
                                )
                            )
                        )
                    )
                }
                let time = ts * 1_000
                let request = OrderRequested(
                    order: order,
                    account: account,
                    stock: stock,
                    side: side,
                    type: .limit,
                    quantity: quantity,
                    price: price,
                    source: .user,
                    clientOrderID: ""
                )
                let broker = fields["brokerOrderNo"] ?? ""
                let fill = OrderFill(
                    order: order,
                    quantity: quantity,
                    price: price,
                    commission: 0,
                    tax: 0,
                    fillID: broker
                )
                switch type {
                case "OrderRequested": events.append((time, .orderRequested(request)))
                case "OrderRejected":
                    let reason = RejectionReason(rawValue: fields["reason"] ?? "") ?? .brokerRejected
                    events.append(
                        (
                            time,
                            .orderRejected(
                                OrderRejected(
                                    order: order,
                                    rejectedBy: .risk,
                                    reason: reason,
                                    message: reason.rawValue,
                                    request: request
                                )
                            )
                        )
                    )
                case "OrderSubmitted": events.append((time, .orderSubmitted(OrderReference(order: order))))
                case "OrderAccepted":
                    events.append((time, .orderAccepted(OrderAccepted(order: order, brokerOrderNumber: broker))))
                case "OrderFilled": events.append((time, .orderFilled(fill)))
                case "OrderPartiallyFilled": events.append((time, .orderPartiallyFilled(fill)))
                case "OrderCancelled":
                    events.append((time, .orderCancelled(OrderCancelled(order: order, cancelledQuantity: quantity))))
                default: return 0
                }
            }
            let stamp = events.last?.0 ?? 0
            for (_, event) in events {
                recorder.record(EventEnvelope(timestamp: stamp, correlationID: "corpus", event: event))
            }
            return events.count
        }
    }
}

/// Reads the top-level fields of a flat JSON object (the corpus's shape) without a general parser.
enum FlatJSON {
    static func fields(_ bytes: UnsafeRawBufferPointer) -> [String: String] {
        var result: [String: String] = [:]
        var index = 0
        let count = bytes.count
        func string() -> String? {
            guard index < count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            let start = index
            while index < count && bytes[index] != UInt8(ascii: "\"") {
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            defer { index += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(index, count)]), as: UTF8.self)
        }
        while index < count {
            while index < count && bytes[index] != UInt8(ascii: "\"") { index += 1 }
            guard let key = string() else { break }
            while index < count && (bytes[index] == UInt8(ascii: ":") || bytes[index] == UInt8(ascii: " ")) {
                index += 1
            }
            if index < count && bytes[index] == UInt8(ascii: "\"") {
                result[key] = string()
            } else {
                let start = index
                while index < count && bytes[index] != UInt8(ascii: ",") && bytes[index] != UInt8(ascii: "}") {
                    index += 1
                }
                result[key] = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            }
        }
        return result
    }
}
