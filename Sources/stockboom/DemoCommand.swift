import ArgumentParser
import Engine
import Foundation
import Ledger

/// The main job: a simulated KRX trading day written to a fresh log, verified, replayed and snapshotted.
///
/// Later issues grow this into the full system demo (engine, projections, gateway, worker).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Write a simulated trading day to a fresh log, verify it, replay it, and print what happened."
    )

    @Option(help: "Directory for the demo's log (replaced on each run).") var dir = "var/demo/eventlog"
    @Option(help: "Number of simulated stocks.") var stocks = 300
    @Option(help: "Seed of the deterministic market simulation.") var seed: UInt64 = 7

    func run() async throws {
        try? FileManager.default.removeItem(atPath: self.dir)
        let eventLog = try EventLog(directory: self.dir)
        print("StockBoom demo: one simulated KRX session (09:00-15:20 KST, \(self.stocks) stocks, seed \(self.seed))")
        print("log: \(self.dir)")
        var day = SimulatedDay(stocks: self.stocks, seed: self.seed)
        let started = monotonicNanos()
        var appended = 0
        var appends: [Task<AppendResult, any Error>] = []
        for minute in 0..<SimulatedDay.sessionMinutes {
            let batch = day.minute(minute)
            appended += batch.count
            // Each minute is one append; several minutes are in flight so group commit can gather them.
            appends.append(Task { try await eventLog.append(batch) })
            if appends.count >= 8 {
                _ = try await appends.removeFirst().value
            }
            if minute % 60 == 59 || minute == SimulatedDay.sessionMinutes - 1 {
                let clock = 9 * 60 + minute
                print(String(format: "  %02d:%02d KST  %8d events committed", clock / 60, clock % 60, appended))
            }
        }
        for append in appends { _ = try await append.value }
        let writeSeconds = Double(monotonicNanos() - started) / 1e9
        let head = eventLog.nextOffset

        // Replay: fold every event into per-type counts and the day's last prices.
        let replayStarted = monotonicNanos()
        var replayed = 0
        var counts: [String: Int] = [:]
        var payloadBytes = 0
        try eventLog.scan(from: 0) { view in
            replayed += 1
            payloadBytes += view.payload.count
            counts[SimulatedDay.eventType(of: view.payload), default: 0] += 1
            return .continue
        }
        let replaySeconds = Double(monotonicNanos() - replayStarted) / 1e9
        guard replayed == appended, head == UInt64(appended) else {
            throw CommandFailure("replay saw \(replayed) events but \(appended) were appended")
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let snapshots = SnapshotStore(logDirectory: self.dir)
        try snapshots.write(offset: head, state: Array(summary.utf8), stateVersion: 1)
        eventLog.close()

        let verified = try LogVerifier.verify(directory: self.dir)
        guard verified.isValid else {
            throw CommandFailure("verify failed: \(verified.firstError?.description ?? "?")")
        }
        let restored = try snapshots.latest()
        guard let snapshot = restored.snapshot, snapshot.offset == head, snapshot.state == Array(summary.utf8) else {
            throw CommandFailure("the snapshot did not read back")
        }
        print("")
        print("wrote     \(appended) events in \(String(format: "%.2f", writeSeconds)) s (\(Format.number(Double(appended) / writeSeconds)) events/s, durable: fdatasync per group commit)")
        print("on disk   \(Format.bytes(verified.segmentBytes)) in \(verified.segments) segment(s) for \(Format.bytes(UInt64(payloadBytes))) of JSON: \(String(format: "%.1f", Double(verified.segmentBytes) / Double(appended))) bytes/event, \(String(format: "%.2f", Double(payloadBytes) / Double(verified.segmentBytes)))x")
        print("verified  \(verified.recordFrames) batches, \(verified.records) events, hash chain intact; head \(verified.headHash.prefix(16))…")
        print("replayed  \(replayed) events in \(String(format: "%.3f", replaySeconds)) s (\(Format.number(Double(replayed) / replaySeconds)) events/s)")
        for (type, count) in counts.sorted(by: { $0.value > $1.value }) {
            print("          \(type.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(count).leftPadded(8))")
        }
        print("snapshot  state at offset \(snapshot.offset) written and read back (\(snapshot.state.count) bytes)")
        print("")
        print("look:     .build/debug/stockboom log inspect --dir \(self.dir)")
        print("          .build/debug/stockboom log dump --dir \(self.dir) --since 2025-01-02T10:00:00+09:00 --limit 3")
    }
}

/// A deterministic KRX session: one-minute candles on the tick grid for every stock, plus order lifecycles
/// and notifications, shaped like `shared/bench/gen_events.py`'s corpus.
struct SimulatedDay {
    static let sessionMinutes = 381
    static let sessionOpenMicros: Int64 = 1_735_776_000_000_000  // 2025-01-02 09:00 KST

    private var state: UInt64
    private var prices: [Int64]
    private let codes: [String]
    private var orderSequence = 0

    init(stocks: Int, seed: UInt64) {
        precondition(stocks > 0)
        self.state = seed
        self.codes = (0..<stocks).map { String(format: "%06d", 5930 + $0 * 37) }
        self.prices = []
        for _ in 0..<stocks {
            let raw = Int64(splitMix(&self.state) % 300_000 + 2_000)
            self.prices.append(raw - raw % KRXPriceRules.tickSize(at: raw))
        }
    }

    private mutating func uniform() -> Double { Double(splitMix(&self.state) >> 11) / Double(1 << 53) }

    /// All events of one session minute.
    mutating func minute(_ minute: Int) -> AppendBatch {
        var batch = AppendBatch(capacityBytes: self.codes.count * 160)
        let timestamp = Self.sessionOpenMicros + Int64(minute) * 60_000_000
        for (index, code) in self.codes.enumerated() {
            let open = self.prices[index]
            let tick = KRXPriceRules.tickSize(at: open)
            let steps = Int64((self.uniform() - 0.5) * 6)
            let close = max(tick, open + steps * tick)
            let high = max(open, close) + tick * Int64(self.uniform() * 3)
            let low = max(1, min(open, close) - tick * Int64(self.uniform() * 3))
            self.prices[index] = close - close % KRXPriceRules.tickSize(at: close)
            let volume = Int(self.uniform() * 250_000)
            let json = "{\"type\":\"CandleClosed\",\"v\":1,\"stock\":\"\(code)\",\"tf\":\"1m\",\"ts\":\(timestamp / 1_000_000),\"o\":\(open),\"h\":\(high),\"l\":\(low),\"c\":\(close),\"vol\":\(volume)}"
            batch.append(Array(json.utf8), timestamp: timestamp + 59_999_999)
            if self.uniform() < 0.2 { self.order(code: code, price: close, timestamp: timestamp, into: &batch) }
        }
        return batch
    }

    private mutating func order(code: String, price: Int64, timestamp: Int64, into batch: inout AppendBatch) {
        self.orderSequence += 1
        let id = String(format: "ord-%010d", self.orderSequence)
        let account = String(format: "acc-%04d", Int(self.uniform() * 200))
        let side = self.uniform() < 0.5 ? "BUY" : "SELL"
        let quantity = Int(self.uniform() * 500) + 1
        let rejected = self.uniform() < 0.05
        let lifecycle = rejected ? ["OrderRequested", "OrderRejected"] : ["OrderRequested", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
        for (step, type) in lifecycle.enumerated() {
            var json = "{\"type\":\"\(type)\",\"v\":1,\"orderId\":\"\(id)\",\"account\":\"\(account)\",\"stock\":\"\(code)\",\"side\":\"\(side)\",\"qty\":\(quantity),\"price\":\(price)"
            if type == "OrderRejected" { json += ",\"reason\":\"INSUFFICIENT_BALANCE\"" }
            json += "}"
            batch.append(Array(json.utf8), timestamp: timestamp + Int64(step) * 1_000)
        }
        if !rejected {
            let json = "{\"type\":\"NotificationCreated\",\"v\":1,\"user\":\"\(account)\",\"kind\":\"ORDER_FILLED\",\"title\":\"주문 체결\",\"message\":\"\(code) \(quantity)주 체결\"}"
            batch.append(Array(json.utf8), timestamp: timestamp + 5_000)
        }
    }

    /// The `type` field of a corpus-shaped JSON payload, found without a full JSON parse.
    static func eventType(of payload: UnsafeRawBufferPointer) -> String {
        let prefix = Array("{\"type\":\"".utf8)
        guard payload.count > prefix.count, payload.prefix(prefix.count).elementsEqual(prefix) else { return "other" }
        let rest = payload[prefix.count...]
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return "other" }
        return String(decoding: payload[prefix.count..<end], as: UTF8.self)
    }
}
