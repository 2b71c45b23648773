public import Engine
import Foundation
public import Jobs
public import Storage
import Synchronization

/// What a handler says about a job it ran.
public enum JobResult: Sendable, Equatable {
    /// Finished: the job moves to `completed`.
    case done
    /// Not finished, waiting on the outside world (an order resting at the broker): look again after this
    /// long. Not an attempt.
    case later(seconds: Double)
}

/// A failure that retrying cannot mend; the handler records it and the job ends.
public enum JobFailure: Error, CustomStringConvertible {
    case permanent(RejectionReason, String)
    public var description: String {
        switch self {
        case .permanent(let reason, let message): "\(reason.rawValue): \(message)"
        }
    }
}

/// Runs one kind of job. Throwing counts an attempt: the job is retried with back-off, and lands in
/// `failed` with the error once its attempts are used up.
public protocol JobHandler: Sendable {
    func handle(_ job: Job) async throws -> JobResult
}

/// The consumers of one queue: `concurrency` threads, each with its own Redis connection (BLMOVE blocks
/// it), taking `batch` jobs at a time, plus one thread promoting due retries and returning the jobs of
/// dead workers (lock gone) to `wait`. Handlers run on the cooperative pool; the consumer thread waits.
///
/// `stop()` lets every thread finish the jobs it holds (they complete, fail or are postponed as usual),
/// then returns. A SIGKILL instead leaves them locked in `active` until their locks expire; then they go
/// back to `wait` and run again — handlers are written to be safe to run twice.
public final class QueueConsumers: @unchecked Sendable {
    // @unchecked: `threads` is only touched by start/stop on the owning thread.
    public let queue: QueueName
    public let concurrency: Int
    public let batch: Int
    let endpoint: RedisEndpoint
    let handler: any JobHandler
    let lockMs: Int
    let backoffMs: Int
    let report: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Int>(0)
    /// Jobs finished (completed or failed for good) since start.
    public var finishedCount: Int { self.finished.load(ordering: .relaxed) }
    private let finished = Atomic<Int>(0)
    private var threads: [Thread] = []
    /// Told of every job's turn: its queue, what became of it and how long the batch that held it took.
    let observe: (@Sendable (QueueName, JobOutcome, Duration) -> Void)?
    /// When each thread's current turn began (ms since the epoch), by thread name: a consumer's turn is one
    /// reservation (at most a second while the queue is empty) and the jobs it took; a turn much older than
    /// that is a hung thread (`stalled`).
    private let turns = Mutex<[String: Int64]>([:])
    /// Who this process is on the queue board: `host:pid`. Each reservation's lock value starts with it (so the
    /// board shows which worker holds a job), and the maintenance thread's heartbeat carries it.
    public static let identity = "\(ProcessInfo.processInfo.hostName):\(getpid())"

    public init(
        endpoint: RedisEndpoint,
        queue: QueueName,
        concurrency: Int,
        batch: Int = 1,
        handler: any JobHandler,
        lockMs: Int = 60_000,
        backoffMs: Int = 1_000,
        report: @escaping @Sendable (String) -> Void = { _ in },
        observe: (@Sendable (QueueName, JobOutcome, Duration) -> Void)? = nil
    ) {
        precondition(concurrency > 0 && batch > 0)
        self.endpoint = endpoint
        self.queue = queue
        self.concurrency = concurrency
        self.batch = batch
        self.handler = handler
        self.lockMs = lockMs
        self.backoffMs = backoffMs
        self.report = report
        self.observe = observe
    }

    public func start() {
        for number in 0..<self.concurrency {
            let name = "\(self.queue.rawValue)-\(number)"
            let thread = Thread { [self] in self.consume(name) }
            thread.name = name
            self.threads.append(thread)
        }
        let maintenanceName = "\(self.queue.rawValue)-maintenance"
        let maintenance = Thread { [self] in self.maintain(maintenanceName) }
        maintenance.name = maintenanceName
        self.threads.append(maintenance)
        self.running.store(self.threads.count, ordering: .sequentiallyConsistent)
        for thread in self.threads { thread.start() }
    }

    /// Finishes the held jobs and stops the threads.
    public func stop() {
        self.stopping.store(true, ordering: .sequentiallyConsistent)
        while self.running.load(ordering: .sequentiallyConsistent) > 0 { usleep(10_000) }
    }

    private func store() -> JobQueueStore {
        var store = JobQueueStore(redis: RedisClient(endpoint: self.endpoint))
        store.lockMs = self.lockMs
        store.backoffMs = self.backoffMs
        return store
    }

    public static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    /// Threads whose current turn began more than `limitMs` ago, with the turn's age in ms (oldest first).
    public func stalled(limitMs: Int64, now: Int64 = QueueConsumers.nowMillis()) -> [(thread: String, ageMs: Int64)] {
        self.turns.withLock { turns in
            turns.compactMap { name, began in now - began > limitMs ? (name, now - began) : nil }
        }.sorted { $0.ageMs > $1.ageMs }
    }

    /// Marks the start of a thread's turn (nil: the thread ended).
    private func turn(_ name: String, _ began: Int64?) {
        self.turns.withLock { $0[name] = began }
    }

    private func consume(_ name: String) {
        defer {
            self.turn(name, nil)
            self.running.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        }
        let store = self.store()
        var pause: UInt32 = 100_000
        while !self.stopping.load(ordering: .sequentiallyConsistent) {
            self.turn(name, Self.nowMillis())
            let jobs: [Job]
            do {
                jobs = try store.reserve(
                    self.queue,
                    max: self.batch,
                    waitSeconds: 1,
                    now: Self.nowMillis(),
                    token: "\(Self.identity)/\(name)#\(UUID().uuidString)"
                )
                pause = 100_000
            } catch {
                self.report("\(self.queue.rawValue): Redis unavailable (\(error)); retrying")
                usleep(pause)
                pause = min(pause * 2, 5_000_000)
                continue
            }
            guard !jobs.isEmpty else { continue }
            // While the handlers run, this thread keeps their locks alive (a third of the lock time apart), and
            // says so once a minute when they take that long (a handler waiting on something that never comes).
            let started = Date()
            let clockStarted = ContinuousClock.now
            var minutesReported = 0
            let outcomes = Self.run(jobs, self.handler, every: Double(self.lockMs) / 3_000) {
                for job in jobs { _ = try? store.extendLock(job) }
                let minutes = Int(Date().timeIntervalSince(started) / 60)
                if minutes > minutesReported {
                    minutesReported = minutes
                    self.report(
                        "\(self.queue.rawValue): job(s) \(jobs.map(\.id).joined(separator: ", ")) still running after \(minutes) min"
                    )
                }
            }
            let took = ContinuousClock.now - clockStarted
            var completed: [String] = []
            for (job, outcome) in zip(jobs, outcomes) {
                do {
                    switch outcome {
                    case .success(.done):
                        completed.append(job.id)
                    case .success(.later(let seconds)):
                        try store.postpone(job, until: Self.nowMillis() + Int64(seconds * 1_000))
                        self.observe?(self.queue, .postponed, took)
                    case .failure(let error):
                        let result = try store.fail(job, error: String(describing: error), now: Self.nowMillis())
                        if result == .failed { self.finished.wrappingAdd(1, ordering: .relaxed) }
                        self.observe?(self.queue, result == .failed ? .failed : .retried, took)
                        self.report(
                            "\(self.queue.rawValue) job \(job.id) attempt \(job.attemptsMade + 1)/\(job.maxAttempts) failed (\(result.rawValue)): \(error)"
                        )
                    }
                } catch {
                    // Redis went away after the work: the lock expires and the job runs again (handlers are idempotent).
                    self.report(
                        "\(self.queue.rawValue) job \(job.id): could not record its outcome (\(error)); it will run again"
                    )
                }
            }
            if !completed.isEmpty {
                do {
                    let done = try store.complete(
                        self.queue,
                        ids: completed,
                        token: jobs[0].token,
                        now: Self.nowMillis()
                    )
                    self.finished.wrappingAdd(done, ordering: .relaxed)
                    for _ in completed { self.observe?(self.queue, .completed, took) }
                } catch {
                    self.report(
                        "\(self.queue.rawValue): could not mark \(completed.count) jobs done (\(error)); they will run again"
                    )
                }
            }
        }
    }

    private func maintain(_ name: String) {
        defer {
            self.turn(name, nil)
            self.running.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        }
        let store = self.store()
        let started = Self.nowMillis()
        while !self.stopping.load(ordering: .sequentiallyConsistent) {
            self.turn(name, Self.nowMillis())
            do {
                try store.heartbeat(worker: Self.identity, queue: self.queue, startedAt: started, now: Self.nowMillis())
                let (_, requeued) = try store.maintain(self.queue, now: Self.nowMillis())
                if requeued > 0 {
                    self.report("\(self.queue.rawValue): \(requeued) job(s) of a stopped worker returned to wait")
                }
            } catch {
                // Reported by the consumers; keep trying.
            }
            // Waiting between passes is not a stall: the turn starts again after each nap.
            for _ in 0..<10 where !self.stopping.load(ordering: .sequentiallyConsistent) {
                usleep(100_000)
                self.turn(name, Self.nowMillis())
            }
        }
    }

    /// Runs the handlers of a batch concurrently on the pool and waits for all of them.
    static func run(_ jobs: [Job], _ handler: any JobHandler, every seconds: Double, _ heartbeat: () -> Void)
        -> [Result<JobResult, any Error>]
    {
        final class Box: @unchecked Sendable {
            var results: [Result<JobResult, any Error>] = []
        }
        let box = Box()
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            // Collected then ordered (writing into a pre-sized array inside the group crashed in release builds).
            let collected = await withTaskGroup(
                of: (Int, Result<JobResult, any Error>).self,
                returning: [(Int, Result<JobResult, any Error>)].self
            ) { group in
                for (index, job) in jobs.enumerated() {
                    group.addTask {
                        do { return (index, .success(try await handler.handle(job))) } catch {
                            return (index, .failure(error))
                        }
                    }
                }
                var collected: [(Int, Result<JobResult, any Error>)] = []
                for await item in group { collected.append(item) }
                return collected
            }
            box.results = collected.sorted { $0.0 < $1.0 }.map(\.1)
            semaphore.signal()
        }
        while semaphore.wait(timeout: .now() + seconds) == .timedOut { heartbeat() }
        return box.results
    }
}
