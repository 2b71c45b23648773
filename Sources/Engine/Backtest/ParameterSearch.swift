import Foundation
import Ledger

/// A grid of integer strategy parameters: `fast=3,5,8;slow=20,30` is 6 points, every combination, in order
/// (the last axis fastest). At most `maxPoints`.
public struct ParameterGrid: Sendable, Hashable {
    public var axes: [(name: String, values: [Int64])]
    public static let maxPoints = 10_000

    public init(parsing text: String) throws(EngineError) {
        var axes: [(name: String, values: [Int64])] = []
        for part in text.split(separator: ";") where !part.allSatisfy(\.isWhitespace) {
            let pieces = part.split(separator: "=", maxSplits: 1)
            let name = pieces.first.map { String($0.filter { !$0.isWhitespace }) } ?? ""
            guard pieces.count == 2, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                throw .invalid("grid axis '\(part)' is not name=v1,v2,…")
            }
            guard !axes.contains(where: { $0.name == name }) else { throw .invalid("grid axis '\(name)' given twice") }
            var values: [Int64] = []
            for piece in pieces[1].split(separator: ",") {
                let trimmed = piece.filter { !$0.isWhitespace }
                if let range = trimmed.firstRange(of: "..") {
                    // from..to[:step]
                    let from = Int64(trimmed[..<range.lowerBound])
                    let rest = trimmed[range.upperBound...].split(separator: ":")
                    let to = rest.first.flatMap { Int64($0) }
                    let step = rest.count == 2 ? Int64(rest[1]) : 1
                    guard let from, let to, let step, step > 0, from <= to, (to - from) / step < 10_000 else {
                        throw .invalid("grid range '\(trimmed)' is not from..to[:step] (at most 10,000 values)")
                    }
                    values += stride(from: from, through: to, by: Int(step)).map { $0 }
                } else {
                    guard let value = Int64(trimmed) else {
                        throw .invalid("grid value '\(trimmed)' is not an integer")
                    }
                    values.append(value)
                }
            }
            guard !values.isEmpty else { throw .invalid("grid axis '\(name)' has no values") }
            axes.append((name, values))
        }
        guard !axes.isEmpty else { throw .invalid("an empty grid") }
        let count = axes.reduce(1) { $0.multipliedReportingOverflow(by: $1.values.count).partialValue }
        guard count <= Self.maxPoints, count > 0 else {
            throw .invalid("the grid has more than \(Self.maxPoints) points")
        }
        self.axes = axes
    }

    public static func == (a: ParameterGrid, b: ParameterGrid) -> Bool {
        a.axes.map(\.name) == b.axes.map(\.name) && a.axes.map(\.values) == b.axes.map(\.values)
    }

    public func hash(into hasher: inout Hasher) {
        for axis in self.axes {
            hasher.combine(axis.name)
            hasher.combine(axis.values)
        }
    }

    /// Every point as `key=value,…` strategy parameters, joined to `base` (fixed parameters).
    public func points(base: String = "") -> [String] {
        var points = [""]
        for axis in self.axes {
            points = points.flatMap { prefix in
                axis.values.map { prefix.isEmpty ? "\(axis.name)=\($0)" : "\(prefix),\(axis.name)=\($0)" }
            }
        }
        return base.isEmpty ? points : points.map { "\(base),\($0)" }
    }
}

/// One backtest of a search: its parameters, its report, its log's directory and final state digest.
public struct SearchRun: Sendable {
    public var parameters: String
    public var report: BacktestReport
    public var directory: String?
    public var digest: String
}

/// The measure a search ranks runs by.
public enum SearchMetric: String, Sendable, CaseIterable {
    case sharpe
    case returns = "return"
    case drawdown
    /// Higher is better.
    public func score(_ report: BacktestReport) -> Double {
        switch self {
        case .sharpe: report.sharpeRatio.isFinite ? report.sharpeRatio : -.infinity
        case .returns: report.returnPercent
        case .drawdown: -report.maxDrawdownPercent
        }
    }
}

/// Grid search and walk-forward over many backtests, `concurrency` at a time (each on its own core: the runs
/// share nothing), each writing its own log when `directory` is given.
public enum ParameterSearch {
    /// How a search makes a backtest for `parameters` over `bars` (its stocks, their first prices, its start).
    public typealias Make = @Sendable (_ parameters: String, _ bars: [Candle]) throws(EngineError) -> Backtester

    /// Runs `bars` (time order) through a backtest per point; results in the points' order.
    public static func grid(
        points: [String],
        bars: [Candle],
        make: @escaping Make,
        directory: String?,
        concurrency: Int
    ) async throws -> [SearchRun] {
        try await withThrowingTaskGroup(of: (Int, SearchRun).self) { group in
            var results = [SearchRun?](repeating: nil, count: points.count)
            var next = 0
            func start() {
                guard next < points.count else { return }
                let index = next
                next += 1
                let parameters = points[index]
                group.addTask {
                    let number = String(index + 1)
                    let path = directory.map {
                        "\($0)/run-\(String(repeating: "0", count: max(0, 4 - number.count)))\(number)"
                    }
                    let run = try await Self.run(
                        parameters: parameters,
                        bars: bars,
                        make: make,
                        directory: path,
                        encodeBeside: concurrency < ProcessInfo.processInfo.activeProcessorCount
                    )
                    return (index, run)
                }
            }
            for _ in 0..<max(1, concurrency) { start() }
            while let (index, run) = try await group.next() {
                results[index] = run
                start()
            }
            return results.compactMap { $0 }
        }
    }

    /// One backtest, its records appended to a fresh log in `directory` (none: discarded). `encodeBeside`: the
    /// events are encoded on another core, with the log's work (worth it while a core is idle; a grid running a
    /// backtest on every core passes false).
    public static func run(
        parameters: String,
        bars: [Candle],
        make: Make,
        directory: String?,
        encodeBeside: Bool = true
    ) async throws -> SearchRun {
        var backtester = try make(parameters, bars)
        backtester.defersEncoding = encodeBeside
        var configuration = LogConfiguration()
        configuration.durability = .none  // regenerable
        let log = try directory.map { try EventLog(directory: $0, configuration: configuration) }
        // Batches go to the log in order, one in flight while the next is decided: the log's work (compression,
        // checksums, the chain, the write) — with `encodeBeside` the encoding too — overlaps the backtest's on
        // another core. Each waits for the one before it; the events' room is handed back for the next batch.
        var appending: Task<(events: [EventEnvelope], encoder: EventRecorder?), any Error>?
        var encoder: EventRecorder? = EventRecorder(nextOffset: 0)  // in the task in flight, when one is
        var spare: [EventEnvelope]?
        func hand() async throws {
            guard encodeBeside else {
                let batches = backtester.takeRecords()
                _ = try await appending.take()?.value
                guard let log else { return }  // discarded
                appending = Task {
                    for batch in batches { _ = try await log.append(batch) }
                    return ([], nil)
                }
                return
            }
            let events = backtester.takeEvents(reusing: spare.take())
            if let task = appending.take() { (spare, encoder) = try await task.value }
            guard let log, let recorder = encoder.take() else {
                spare = events  // discarded, not encoded: its room kept
                return
            }
            // Handed over whole, so the task owns the only reference: it empties the batch after encoding it
            // (releasing thousands of events) there, not on the backtest's core when the room is reused.
            let handoff = Handoff(consume events)
            appending = Task { [recorder] in
                var recorder = recorder
                var events = handoff.take()
                try await recorder.record(events) { _ = try await log.append($0) }
                events.removeAll(keepingCapacity: true)
                return (events, recorder)
            }
        }
        let report: BacktestReport
        do {
            for bar in bars {
                try backtester.process(bar)
                if backtester.batchIsDue { try await hand() }
            }
            report = try backtester.finish()
            try await hand()
        } catch {
            // A bar refused or the log failing: the append in flight ends and the log is closed before this
            // throws (the log's deinit would close it too, whenever the task let go of it): once `run` has
            // returned or thrown, nothing writes to `directory` any more — a caller may remove it.
            _ = try? await appending?.value
            log?.close()
            throw error
        }
        // The last batch is written and the log closed on another core while the final state's digest is worked
        // out here (milliseconds each: the state holds every order of the run). Ended either way before this
        // returns or throws, as above.
        let closing = Task { [appending] in
            defer { log?.close() }
            _ = try await appending?.value
        }
        let digest = backtester.state.digest
        try await closing.value
        return SearchRun(parameters: parameters, report: report, directory: directory, digest: digest)
    }

    /// One walk-forward window: the grid on `inSample` days, the best point on the `outOfSample` days after.
    public struct Window: Sendable {
        public var inSample: ClosedRange<Int64>
        public var outOfSample: ClosedRange<Int64>
        public var best: SearchRun
        public var outOfSampleRun: SearchRun
    }

    /// Rolling windows over the bars' KST days: `inDays` to choose the parameters on, then `outDays` to test
    /// them on, stepping by `outDays`.
    public static func walkForward(
        points: [String],
        bars: [Candle],
        inDays: Int,
        outDays: Int,
        metric: SearchMetric,
        make: @escaping Make,
        directory: String?,
        concurrency: Int
    ) async throws -> [Window] {
        let days = Array(Set(bars.map { KST.day($0.start) })).sorted()
        guard inDays > 0, outDays > 0, days.count >= inDays + outDays else {
            throw EngineError.invalid(
                "walk-forward needs at least \(inDays) + \(outDays) days of bars; these have \(days.count)"
            )
        }
        var windows: [Window] = []
        var start = 0
        while start + inDays + outDays <= days.count {
            let inRange = days[start]...days[start + inDays - 1]
            let outRange = days[start + inDays]...days[start + inDays + outDays - 1]
            let label = directory.map { "\($0)/window-\(windows.count + 1)" }
            let inBars = bars.filter { inRange.contains(KST.day($0.start)) }
            let outBars = bars.filter { outRange.contains(KST.day($0.start)) }
            let runs = try await Self.grid(
                points: points,
                bars: inBars,
                make: make,
                directory: label.map { "\($0)/in-sample" },
                concurrency: concurrency
            )
            guard let best = runs.max(by: { metric.score($0.report) < metric.score($1.report) }) else { break }
            let tested = try await Self.run(
                parameters: best.parameters,
                bars: outBars,
                make: make,
                directory: label.map { "\($0)/out-of-sample" }
            )
            windows.append(Window(inSample: inRange, outOfSample: outRange, best: best, outOfSampleRun: tested))
            start += outDays
        }
        return windows
    }
}

/// A value passed to one task, which takes it out: the only reference is then the task's (a capture would keep
/// one of its own, so changing the value there would copy it).
private final class Handoff<Value>: @unchecked Sendable {
    private var value: Value?

    init(_ value: consuming Value) { self.value = value }

    /// Called once, by the one task it was made for.
    func take() -> Value {
        guard let value = self.value.take() else { preconditionFailure("handed over twice") }
        return value
    }
}
