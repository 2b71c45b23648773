public import Engine
import Foundation
public import Ledger
public import Storage

/// Which jobs an event asks for. Work already done asks for nothing: the check is against the engine's
/// current state, so the same function serves the live dispatcher and a rebuild from offset 0.
public enum JobDerivation {
    public static let maxAttempts = 5

    /// - Parameter strategyStocks: `strategyStocks(state)`, when the caller derives many events against one state.
    public static func jobs(
        for envelope: EventEnvelope,
        offset: UInt64,
        state: EngineState,
        strategyStocks: Set<StockCode>? = nil
    ) -> [Job] {
        switch envelope.event {
        case .orderRequested(let requested):
            return Self.orderJob(requested.order, offset: offset, state: state)
        case .orderCancelRequested(let reference):
            return Self.orderJob(reference.order, offset: offset, state: state)
        case .notificationCreated(let created):
            guard let notification = state.notifications[created.notification], !notification.delivered,
                state.isActiveUser(created.user)
            else { return [] }
            // The notification's id only (its offset is the job id): the worker asks the engine for recipient and
            // text, so Redis holds no address and a job written by someone else cannot choose either.
            var data = JSONObjectWriter()
            data.field("notification", created.notification.description)
            data.field("user", created.user.description)
            return [Job(queue: .notification, id: String(offset), data: data.finish(), maxAttempts: Self.maxAttempts)]
        case .candleClosed(let candle) where candle.timeframe == .minute1:
            // Strategies run on closed one-minute bars of the stocks they are enabled on, each bar once: a bar at
            // or before the last one analysed (its indicators recorded) is done, or too old to act on.
            guard (strategyStocks ?? Self.strategyStocks(state)).contains(candle.stock) else { return [] }
            if let analysed = state.stocks[candle.stock]?.lastAnalysedMinute, candle.start <= analysed { return [] }
            var data = JSONObjectWriter()
            data.field("offset", offset)
            data.field("stock", candle.stock.description)
            data.field("start", candle.start)
            // The bar itself: a worker that kept the stock's earlier bars needs no history from the engine.
            data.field("open", candle.open)
            data.field("high", candle.high)
            data.field("low", candle.low)
            data.field("close", candle.close)
            data.field("volume", candle.volume)
            return [Job(queue: .dataAnalysis, id: String(offset), data: data.finish(), maxAttempts: 3)]
        default:
            return []
        }
    }

    /// The stocks a strategy of an open account is enabled on.
    public static func strategyStocks(_ state: EngineState) -> Set<StockCode> {
        var stocks: Set<StockCode> = []
        for account in state.accounts.values where account.closedAt == nil {
            for strategy in account.strategies.values { stocks.insert(strategy.stock) }
        }
        return stocks
    }

    /// Bars per data-analysis job (`analysisBatches`).
    public static let barsPerAnalysisJob = 256

    /// The data-analysis jobs of one pass merged into jobs of up to `barsPerAnalysisJob` bars each, in log
    /// order (`{"bars": [...]}`, id `<first offset>-<last offset>`; a job of one bar keeps its own id and
    /// form), the other jobs as they were. A worker then reads the strategies and records the indicators once
    /// per job instead of once per bar. Which bars share a job depends on where a pass starts and ends, so a
    /// bar may be analysed by two jobs (a pass repeated after a crash): the signal's idempotency key is the
    /// bar's offset, never the job's.
    public static func analysisBatches(_ jobs: [Job]) -> [Job] {
        let bars = jobs.filter { $0.queue == .dataAnalysis }
        guard bars.count > 1 else { return jobs }
        var merged = jobs.filter { $0.queue != .dataAnalysis }
        for start in stride(from: 0, to: bars.count, by: Self.barsPerAnalysisJob) {
            let chunk = bars[start..<min(bars.count, start + Self.barsPerAnalysisJob)]
            guard chunk.count > 1, let first = chunk.first, let last = chunk.last else {
                merged += chunk
                continue
            }
            let data = "{\"bars\":[" + chunk.map(\.data).joined(separator: ",") + "]}"
            merged.append(
                Job(queue: .dataAnalysis, id: "\(first.id)-\(last.id)", data: data, maxAttempts: first.maxAttempts)
            )
        }
        return merged
    }

    /// A trade-execution job for an order at a KIS broker that still needs the broker (not final).
    static func orderJob(_ id: OrderID, offset: UInt64, state: EngineState) -> [Job] {
        guard let order = state.orders[id], !order.status.isTerminal, let account = state.accounts[order.account],
            account.broker == .kisPaper || account.broker == .kisReal
        else { return [] }
        var data = JSONObjectWriter()
        data.field("order", id.description)
        data.field("account", order.account.description)
        return [Job(queue: .tradeExecution, id: String(offset), data: data.finish(), maxAttempts: Self.maxAttempts)]
    }
}

/// The projection from the log to the job queues. Its checkpoint (`stockboom:dispatcher:next-offset`) lives
/// in Redis beside the jobs: after `FLUSHALL` it is gone, the dispatcher starts again from offset 0, and
/// `JobDerivation` recreates only the work still pending in the engine's state — nothing is done twice
/// (job ids are event offsets; handlers check the engine before acting).
///
/// Blocking (hiredis): run it on a thread of its own.
public final class JobDispatcher: @unchecked Sendable {
    // @unchecked: used by one thread at a time (the serve loop or the CLI).
    public static let checkpointKey = "stockboom:dispatcher:next-offset"
    /// The pub/sub channel of committed events that have an owner (a user's registration, accounts, orders,
    /// notifications), in log order; market data (candles, indicators, listings) is not published. A message is
    /// `<offset> <owner user id> <type>`, a newline, then the event's JSON (`EventEnvelope.json()`, the same
    /// bytes the live stream sends).
    public static let eventsChannel = "stockboom:events"
    public let log: EventLog
    public let store: JobQueueStore
    /// The engine's committed state and the offset it covers.
    private let committed: @Sendable () -> (state: EngineState, nextOffset: UInt64)
    private let clock: @Sendable () -> Int64
    /// Whether catching up publishes to `eventsChannel` (not while rebuilding history).
    private var publishes = true
    /// Whether catching up puts stranded jobs back in `wait` (a rebuild: the guide's `DEL "bull:<queue>:wait"`
    /// leaves the records of the jobs it dropped, which a plain add takes for existing jobs).
    private var rebuilding = false
    /// Events the last `catchUp` went through (it stops at `maxEvents`).
    private var lastPassEvents: UInt64 = 0

    /// Where committed events are published (channels are server-wide in Redis, whatever the database).
    public let channel: String

    public init(
        log: EventLog,
        store: JobQueueStore,
        channel: String = JobDispatcher.eventsChannel,
        clock: @escaping @Sendable () -> Int64,
        committed: @escaping @Sendable () -> (state: EngineState, nextOffset: UInt64)
    ) {
        self.channel = channel
        self.log = log
        self.store = store
        self.clock = clock
        self.committed = committed
    }

    /// Empties every queue (`obliterate`) and deletes the checkpoint: for a new log (the demo, a benchmark) or a
    /// restored one, whose jobs must all come from its own events. Returns the keys deleted.
    @discardableResult
    public static func reset(_ store: JobQueueStore) throws(RedisError) -> Int {
        var deleted = 0
        for queue in QueueName.allCases { deleted += try store.obliterate(queue) }
        _ = try store.redis.command(["DEL", Self.checkpointKey])
        return deleted
    }

    /// The stored checkpoint of the dispatcher writing to `store`, nil when Redis has none.
    public static func checkpoint(_ store: JobQueueStore) throws(RedisError) -> UInt64? {
        try store.redis.command(["GET", Self.checkpointKey]).text.flatMap { UInt64($0) }
    }

    /// Derives the jobs of every committed event after the checkpoint (up to `maxEvents`) and moves the
    /// checkpoint; returns how many jobs were new.
    @discardableResult
    public func catchUp(maxEvents: UInt64 = 50_000) throws -> Int {
        let stored = try Self.checkpoint(self.store)
        // No checkpoint: a placeholder that the pass's last write requires (`SET … XX`). A flush during the pass
        // removes it with every job added before, so the checkpoint is not written and the next pass derives
        // again from offset 0; otherwise a flush between this read and that write left a checkpoint past jobs
        // that were gone (orders never sent, resting orders never polled again).
        if stored == nil { _ = try self.store.redis.command(["SET", Self.checkpointKey, "0"]) }
        let start = stored ?? 0
        // History derived again (no checkpoint: new or flushed Redis, or a rebuild) is not news: not published.
        let publish = self.publishes && stored != nil
        let (state, head) = self.committed()
        self.lastPassEvents = 0
        guard start < head else { return 0 }
        let end = min(head, start + maxEvents)
        self.lastPassEvents = end - start
        var jobs: [Job] = []
        var messages: [[[UInt8]]] = []
        var failure: (any Error)?
        let strategyStocks = JobDerivation.strategyStocks(state)
        try self.log.scan(from: start, to: end) { view in
            guard EventCodec.isEngineEvent(view.payload) else { return .continue }
            do {
                let envelope = try EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp)
                jobs += JobDerivation.jobs(
                    for: envelope,
                    offset: view.offset,
                    state: state,
                    strategyStocks: strategyStocks
                )
                // Events someone owns (what live streams deliver); market data — most of a day's events — is in
                // the read models and the log, not on the channel.
                if publish, let owner = EventOwnership.owner(of: envelope.event, state: state) {
                    let message = "\(view.offset) \(owner) \(envelope.typeName)\n" + envelope.json()
                    messages.append([Array("PUBLISH".utf8), Array(self.channel.utf8), Array(message.utf8)])
                }
            } catch {
                failure = error
                return .stop
            }
            return .continue
        }
        if let failure { throw failure }
        jobs = JobDerivation.analysisBatches(jobs)
        // Jobs first, then the checkpoint: a crash between the two re-derives jobs that then already exist.
        let added = try self.store.add(jobs, now: self.clock() / 1_000, requeueStranded: self.rebuilding)
        // Live subscribers get each event once per pass (a pass repeated after a crash publishes again:
        // subscribers deduplicate by offset). A rebuild replays history without publishing it.
        if !messages.isEmpty { _ = try self.store.redis.pipeline(messages) }
        _ = try self.store.redis.command(["SET", Self.checkpointKey, String(end), "XX"])
        return added
    }

    /// Deletes the checkpoint and derives again from offset 0 (after a flush, or by `stockboom queues rebuild`).
    @discardableResult
    public func rebuild() throws -> Int {
        self.publishes = false
        self.rebuilding = true
        defer {
            self.publishes = true
            self.rebuilding = false
        }
        _ = try self.store.redis.command(["DEL", Self.checkpointKey])
        var added = 0
        while true {
            let before = try Self.checkpoint(self.store)
            added += try self.catchUp()
            if try Self.checkpoint(self.store) == before { return added }
        }
    }

    /// Follows the log until `shouldStop`; Redis being away is retried with back-off and reported.
    public func runLive(pollMicros: UInt32 = 20_000, shouldStop: () -> Bool, onError: (any Error) -> Void) {
        var delay: UInt32 = 100_000
        while !shouldStop() {
            do {
                if try !self.step() { usleep(pollMicros) }
                delay = 100_000
            } catch {
                onError(error)
                usleep(delay)
                delay = min(delay * 2, 5_000_000)
            }
        }
    }

    /// One pass of the live loop; true when it stopped short of the head (go on at once). A pass that reached
    /// the head should wait a little for more: every pass costs a log scan, Redis round trips and a
    /// checkpoint, however few its events.
    public func step() throws -> Bool {
        let maxEvents: UInt64 = 50_000
        _ = try self.catchUp(maxEvents: maxEvents)
        return self.lastPassEvents >= maxEvents
    }
}
