import Foundation
import NIOPosix

/// The one pool for blocking calls (libpq, hiredis, bcrypt, files): a fixed set of threads started on first
/// use, so that the cooperative pool (2 threads on this machine) is never blocked by a C call and a burst of
/// requests queues for a thread instead of starting one thread each.
///
/// Sized by `STOCKBOOM_BLOCKING_THREADS` (default 16): enough for the gateway's database pool, the worker's
/// consumers and a few password hashes at once. Work that waits without bound (a child process, a lock held
/// by another process) does not belong here: it would hold a thread others queue for.
public enum BlockingPool {
    public static let threads: Int = {
        let configured = ProcessInfo.processInfo.environment["STOCKBOOM_BLOCKING_THREADS"].flatMap { Int($0) } ?? 16
        return min(max(configured, 2), 256)
    }()

    static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: Self.threads)
        pool.start()
        return pool
    }()
}

/// Runs blocking work on `BlockingPool` and awaits it.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingPool.shared.runIfActive(body)
}
