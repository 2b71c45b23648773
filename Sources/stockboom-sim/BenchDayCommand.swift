import ArgumentParser
import Assembly
import Engine
import Foundation
import Gateway
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import Worker

/// `stockboom-sim bench day`: a KRX session through the system the demo runs (engine, gateway, read models,
/// dispatcher, the worker's consumers), at scale and time compressed, with the figures of issue 8: wall time
/// and the multiple of real time, events/s, orders/s, projection lag p50/p99/max (in time), queue depths over
/// time, peak memory, bytes on disk; a CSV of the per-minute series and an SVG of it.
///
/// By default every part is a process of its own and candles arrive through data collection from a simulated
/// KIS (`DayProcesses`). `--in-process` runs the parts in one process, as `demo` does, with candles fed
/// straight into the engine: the pipeline after the broker, without collection.
struct BenchDayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "day",
        abstract:
            "A whole trading session through the system, time compressed: throughput, lag, queues, memory, disk; series as CSV and SVG."
    )

    @Option(help: "Stocks in the market.") var stocks = 2_700
    @Option(help: "People with a simulated account and a live strategy.") var accounts = 200
    @Option(help: "Stocks each account runs its strategy on.") var strategyStocks = 1
    @Option(help: "Seed of the generated market.") var seed: UInt64 = 7
    @Option(help: "Where the log and the results go.") var out = "benchmarks/results/day"
    @Option(help: "Gateway port while it runs (0: any free one).") var port = 0
    @Option(help: "PostgreSQL server (default $DATABASE_URL); a database of its own is recreated.") var databaseURL:
        String?
    @Option(help: "Redis (default $REDIS_URL); its queues are cleared first.") var redisURL: String?
    @Flag(help: "Everything in this process, candles fed straight to the engine (no data collection).") var inProcess =
        false
    /// 410 by default: at exactly 390× the session alone fills the 60 s (09:00 to the 15:30 bar's close),
    /// so a day paced at 390× ends after 60 s however fast the system is; at 410× the session takes 57 s and
    /// the day ends under 60 s (≥ 390× real time) only if the system keeps up.
    @Option(
        help:
            "Session seconds per wall-clock second (processes): 390 plays the session in 60 s; 410 leaves room to finish the day under 60 s."
    ) var speed = 410.0
    @Option(
        help:
            "Session minutes between data-collection schedules (processes); each job fetches every bar since the engine's last."
    ) var collectEvery = 5
    /// 25 with a schedule every 5 minutes: a watched stock is fetched when 25–29 of its minutes are due, one KIS page
    /// (30 rows) a request, while the strategies' stocks are fetched every 5 minutes.
    @Option(
        help: "Minutes a watched stock no strategy trades waits between collections (processes); 1: every schedule."
    ) var watchEvery = 25
    @Option(help: "Wall seconds after which an unfinished day is stopped and reported as such (processes).")
    var maxSeconds = 1_200.0
    @Option(help: "Stocks per data-collection job (processes).") var collectGroup = 25
    @Option(help: "The worker's consumers per queue (processes).") var concurrency =
        "data-collection=4,data-analysis=4,trade-execution=16,notification=8"
    /// A correctness run under faults, not a speed run: the day must still end with every bar the broker's and
    /// the broker's books equal to the log's orders.
    @Option(
        help:
            "Inject a fault (SIGKILL of serve or the worker, Redis FLUSHDB, pg_terminate_backend) every this many wall seconds until 15:30 (processes; 0: none)."
    ) var faultEvery = 0.0
    @Option(help: "Seed of the faults' order and moments.") var faultSeed: UInt64 = 1

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let server = self.databaseURL ?? environment["DATABASE_URL"],
            let redisText = self.redisURL ?? environment["REDIS_URL"],
            let redis = RedisEndpoint(url: redisText)
        else {
            throw ValidationError(
                "bench day needs DATABASE_URL and REDIS_URL (scripts/services.sh start; eval \"$(scripts/services.sh env)\")"
            )
        }
        guard self.stocks > 0, self.accounts > 0, self.strategyStocks > 0 else {
            throw ValidationError("--stocks, --accounts and --strategy-stocks must be positive")
        }
        guard self.speed > 0, self.collectEvery > 0, self.watchEvery > 0 else {
            throw ValidationError("--speed, --collect-every and --watch-every must be positive")
        }
        guard self.faultEvery >= 0, self.faultEvery == 0 || !self.inProcess else {
            throw ValidationError("--fault-every takes seconds ≥ 0, and needs the processes (not --in-process)")
        }
        let output = self.out + (self.inProcess ? "-inprocess" : "") + "-\(self.stocks)"
        try? FileManager.default.removeItem(atPath: output)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        if !self.inProcess {
            try await DayProcesses(command: self, output: output, databaseServer: server, redis: redis).run()
            return
        }
        let day = KST.day(year: 2025, month: 1, day: 3)
        let world = try await DemoWorld.fresh(
            directory: output + "/eventlog",
            database: "stockboom_bench_day",
            server: server,
            redis: redis,
            smtp: nil,
            port: self.port,
            day: day,
            snapshotEveryEvents: 1_000_000,
            bcryptCost: 4
        )
        let (eventLog, runtime, clock, stack) = (world.log, world.runtime, world.clock, world.stack)
        let store = stack.store
        writeLine(
            "bench day: \(self.stocks) stocks × 381 minutes, \(self.accounts) accounts with strategies on \(self.strategyStocks) stock(s) each; setting up…"
        )
        let people = (0..<self.accounts).map { "trader\($0)@bench.example.com" }
        var driver = try await DemoDriver(
            runtime: runtime,
            stack: stack,
            clock: clock,
            stocks: self.stocks,
            strategyStocks: self.strategyStocks,
            seed: self.seed,
            day: day,
            people: people
        )
        try await stack.dispatch()

        struct Sample {
            var minute: Int, seconds: Double, events: UInt64, orders: Int, fills: Int, lag: Double, analysis: Int,
                notification: Int, rss: UInt64
            var engine = 0.0, handoff = 0.0, analysisWait = 0.0
        }
        var samples: [Sample] = []
        let startEvents = runtime.nextOffset
        let startOrders = runtime.state.orders.count
        let started = monotonicNanos()
        let progress = Progress(total: 381)
        for minute in 0..<Int64(381) {
            try await driver.minute(minute)
            let (analysis, notification) = try await blocking {
                (try store.counts(.dataAnalysis), try store.counts(.notification))
            }
            let lag = stack.lagClock.samples.last ?? 0
            let sample = Sample(
                minute: Int(minute),
                seconds: Double(monotonicNanos() - started) / 1e9,
                events: runtime.nextOffset - startEvents,
                orders: runtime.state.orders.count - startOrders,
                fills: driver.fills,
                lag: lag,
                analysis: analysis.wait + analysis.active + analysis.delayed,
                notification: notification.wait + notification.active + notification.delayed,
                rss: ProcessMemory.residentBytes(),
                engine: driver.phases.engine,
                handoff: driver.phases.handoff,
                analysisWait: driver.phases.analysis
            )
            samples.append(sample)
            progress.update(
                Int(minute) + 1,
                "\(sample.events) events  \(sample.orders) orders  lag \(String(format: "%.3f", lag)) s"
            )
        }
        try await driver.closeSession()
        progress.finish()
        let daySeconds = Double(monotonicNanos() - started) / 1e9
        _ = try await stack.settle(runtime: runtime)
        let settledSeconds = Double(monotonicNanos() - started) / 1e9
        let events = runtime.nextOffset - startEvents
        let orders = runtime.state.orders.count - startOrders
        let lags = stack.lagClock.samples.sorted()
        func percentile(_ p: Double) -> Double { Format.percentile(lags, p) }
        let segmentBytes = eventLog.segments.reduce(UInt64(0)) { $0 + $1.bytes }
        let databaseBytes = try await stack.services.database.run {
            try $0.query("SELECT pg_database_size(current_database())").rows.first?[0].flatMap { UInt64($0) } ?? 0
        }
        let redisBytes = try await blocking { () throws -> UInt64 in
            let info = try store.redis.command(["INFO", "memory"]).text ?? ""
            return info.split(separator: "\r\n").first { $0.hasPrefix("used_memory:") }.flatMap {
                UInt64($0.dropFirst("used_memory:".count))
            } ?? 0
        }
        await stack.stop()
        await runtime.close()
        eventLog.close()

        let analysisMax = samples.map { $0.analysis }.max() ?? 0
        let split = (
            samples.reduce(0) { $0 + $1.engine }, samples.reduce(0) { $0 + $1.handoff },
            samples.reduce(0) { $0 + $1.analysisWait }
        )
        let notificationMax = samples.map { $0.notification }.max() ?? 0
        let report = """
            bench day — \(self.stocks) stocks × 381 one-minute bars, \(self.accounts) accounts × \(self.strategyStocks) strategy stock(s), seed \(self.seed)
            session      \(String(format: "%.2f", daySeconds)) s for 09:00–15:30 (\(String(format: "%.0f", 23_400 / daySeconds))× real time); \(String(format: "%.2f", settledSeconds)) s until every job and read model was done
            events       \(events) (\(Format.number(Double(events) / daySeconds))/s)
            orders       \(orders) (\(Format.number(Double(orders) / daySeconds))/s), \(driver.fills) fills
            lag          read models behind the log: p50 \(String(format: "%.3f", percentile(0.5))) s, p99 \(String(format: "%.3f", percentile(0.99))) s, max \(String(format: "%.3f", lags.last ?? 0)) s (\(lags.count) projection passes)
            where        engine commands \(String(format: "%.1f", split.0)) s, hand-off (candle cache, dispatcher) \(String(format: "%.1f", split.1)) s, waiting for the strategies' data-analysis jobs \(String(format: "%.1f", split.2)) s
            queues       data-analysis depth max \(analysisMax) at a minute's end; notification max \(notificationMax)
            memory       peak resident \(Format.bytes(ProcessMemory.peakResidentBytes())) (one process: engine, gateway, projections, dispatcher, consumers)
            disk         log \(Format.bytes(segmentBytes)), PostgreSQL database \(Format.bytes(databaseBytes)), Redis memory \(Format.bytes(redisBytes))
            series       \(output)/series.csv, \(output)/series.svg
            """
        writeLine(report)
        try (report + "\n").write(toFile: output + "/report.txt", atomically: true, encoding: .utf8)
        var csv =
            "minute,seconds,events,orders,fills,lag_seconds,data_analysis_depth,notification_depth,rss_bytes,engine_seconds,handoff_seconds,analysis_seconds\n"
        for sample in samples {
            csv +=
                "\(sample.minute),\(String(format: "%.3f", sample.seconds)),\(sample.events),\(sample.orders),\(sample.fills),\(String(format: "%.4f", sample.lag)),\(sample.analysis),\(sample.notification),\(sample.rss),\(String(format: "%.4f", sample.engine)),\(String(format: "%.4f", sample.handoff)),\(String(format: "%.4f", sample.analysisWait))\n"
        }
        try csv.write(toFile: output + "/series.csv", atomically: true, encoding: .utf8)
        let rates = zip(
            samples,
            [
                Sample(
                    minute: -1,
                    seconds: 0,
                    events: 0,
                    orders: 0,
                    fills: 0,
                    lag: 0,
                    analysis: 0,
                    notification: 0,
                    rss: 0
                )
            ] + samples
        ).map { now, before in
            Double(now.events - before.events) / max(now.seconds - before.seconds, 1e-6)
        }
        let svg = SeriesPlot.svg(
            title: "bench day: \(self.stocks) stocks, \(self.accounts) accounts — per session minute (x: wall seconds)",
            x: samples.map(\.seconds),
            series: [
                ("events/s", rates, "#1f77b4"),
                ("projection lag (s)", samples.map(\.lag), "#d62728"),
                ("engine commands per minute (s)", samples.map(\.engine), "#ff7f0e"),
                ("waiting for data-analysis per minute (s)", samples.map(\.analysisWait), "#2ca02c"),
                ("resident MiB", samples.map { Double($0.rss) / 1_048_576 }, "#9467bd"),
            ]
        )
        try svg.write(toFile: output + "/series.svg", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: eventLog.directory)  // the log is large and regenerated by the run
    }
}

/// Resident and peak resident memory of this process (`/proc/self/status`).
enum ProcessMemory {
    static func field(_ name: String, pid: Int32? = nil) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return 0 }
        return (UInt64(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "") ?? 0) * 1024
    }

    static func residentBytes() -> UInt64 { Self.field("VmRSS") }
    static func peakResidentBytes() -> UInt64 { Self.field("VmHWM") }
}

/// CPU time from `/proc`: a process's (user + system) and the whole machine's busy time, in seconds.
enum ProcessCPU {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// User + system CPU seconds of `pid` (nil: this process) so far.
    static func seconds(pid: Int32? = nil) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Self.ticksPerSecond
    }

    /// Busy CPU seconds of the whole machine since boot (every core: all but idle and I/O wait), from `/proc/stat`.
    static func machineBusySeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return 0 }
        // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
        let values = Array(line.split(separator: " ").dropFirst().compactMap { Double($0) }.prefix(8))
        guard values.count >= 5 else { return 0 }
        return (values.reduce(0, +) - values[3] - values[4]) / Self.ticksPerSecond
    }
}

/// A small SVG line chart: one panel per series, sharing the x axis.
enum SeriesPlot {
    static func svg(title: String, x: [Double], series: [(name: String, values: [Double], color: String)]) -> String {
        let width = 900.0
        let panel = 150.0
        let left = 70.0
        let right = 20.0
        let top = 40.0
        let height = top + panel * Double(series.count) + 30
        let xMax = max(x.max() ?? 1, 1e-9)
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out +=
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"\(left)\" y=\"22\" font-size=\"14\">\(title)</text>\n"
        for (index, item) in series.enumerated() {
            let y0 = top + panel * Double(index)
            let yMax = max(item.values.max() ?? 1, 1e-9)
            let plotHeight = panel - 30
            out +=
                "<text x=\"\(left)\" y=\"\(y0 + 14)\" fill=\"\(item.color)\">\(item.name) (max \(String(format: "%.3g", yMax)))</text>\n"
            out +=
                "<line x1=\"\(left)\" y1=\"\(y0 + panel - 10)\" x2=\"\(width - right)\" y2=\"\(y0 + panel - 10)\" stroke=\"#999\"/>\n"
            let points = zip(x, item.values).map { xv, yv in
                String(
                    format: "%.1f,%.1f",
                    left + (width - left - right) * xv / xMax,
                    y0 + panel - 10 - plotHeight * yv / yMax
                )
            }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"1.5\" points=\"\(points)\"/>\n"
        }
        out +=
            "<text x=\"\(left)\" y=\"\(height - 8)\">0 s</text><text x=\"\(width - right - 60)\" y=\"\(height - 8)\">\(String(format: "%.1f", xMax)) s</text>\n</svg>\n"
        return out
    }
}
