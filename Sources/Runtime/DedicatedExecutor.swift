import NIOPosix

/// A task executor on threads of its own, for a server that runs inside a process busy with other work — the
/// KIS fake or the gateway inside the test process, where dozens of suites share the cooperative pool (two
/// threads here) and one that computes for seconds without suspending would leave a request unanswered for
/// as long. In its own process a server has that pool to itself; these threads give it the same footing: the
/// kernel shares the cores between them and the rest, and a request waits milliseconds, not another test.
///
/// The engine's single writer runs on one of these too (a thread per runtime, `EngineRuntime`): its decisions and
/// group commits wait for the kernel, not for whatever else holds the cooperative pool — HTTP handlers encoding
/// JSON in `serve`, a backtest, another test's computation.
///
/// A task runs here when it is started with `Task(executorPreference:)` or inside
/// `withTaskExecutorPreference`; its child tasks follow (Hummingbird's connections are child tasks).
public final class DedicatedExecutor: TaskExecutor {
    /// The executor for loopback servers: four threads, started on first use.
    public static let servers = DedicatedExecutor(threads: 4)

    private let pool: NIOThreadPool

    public init(threads: Int) {
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
    }

    /// Stops the threads once the work queued so far has run. Nothing may be enqueued afterwards.
    public func shutdown() async { try? await self.pool.shutdownGracefully() }

    /// An executor let go without `shutdown` (a runtime whose recovery threw) stops its threads too: they hold
    /// the pool, not this object, and would otherwise wait for work for the rest of the process.
    deinit { self.pool.shutdownGracefully { _ in } }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = self.asUnownedTaskExecutor()
        self.pool.submit { _ in job.runSynchronously(on: executor) }
    }
}
