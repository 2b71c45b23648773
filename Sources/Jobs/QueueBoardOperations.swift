import Foundation
public import Storage

/// A state of a job, as the queue board and BullMQ name them (each is a key `bull:<queue>:<state>`).
public enum JobState: String, Sendable, CaseIterable {
    case wait, active, delayed, failed, completed
}

/// One job as the board shows it: its record (`bull:<queue>:<id>`), where it is, and who holds it.
public struct JobDetail: Sendable, Equatable {
    public var id: String
    public var state: JobState
    public var data: String
    public var attemptsMade: Int
    public var maxAttempts: Int
    public var lastError: String?
    public var failedReason: String?
    /// Milliseconds since the epoch: added, last taken by a worker, finished, and (delayed) due.
    public var timestamp, processedOn, finishedOn, dueAt: Int64?
    /// The lock's value while a worker holds the job: that worker's identity and reservation (`host:pid/queue#…`).
    public var holder: String?
}

/// A worker's heartbeat: one per process and queue, written by its maintenance thread every second.
public struct WorkerBeat: Sendable, Equatable {
    public var worker: String
    public var queue: String
    public var startedAt: Int64
    public var seenAt: Int64

    public init(worker: String, queue: String, startedAt: Int64, seenAt: Int64) {
        self.worker = worker
        self.queue = queue
        self.startedAt = startedAt
        self.seenAt = seenAt
    }
}

/// What the queue board does to jobs and queues (operators' actions; each is one Lua script, atomic in Redis).
extension JobQueueStore {
    static let metaSuffix = "meta"
    static let workersKey = Array("stockboom:workers".utf8)

    /// KEYS: failed, wait, job; ARGV: id. A failed job back to `wait` with its attempts reset.
    static let retryOneScript = LuaScript(
        """
        if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[3], 'attemptsMade', '0')
        redis.call('HDEL', KEYS[3], 'failedReason', 'finishedOn')
        redis.call('LPUSH', KEYS[2], ARGV[1])
        return 1
        """
    )

    /// KEYS: delayed, wait; ARGV: id. A delayed job to `wait` now.
    static let promoteOneScript = LuaScript(
        """
        if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('LPUSH', KEYS[2], ARGV[1])
        return 1
        """
    )

    /// KEYS: wait, delayed, failed, completed, job, lock; ARGV: id. Removes a job that no worker holds: 1, or
    /// 0 when it is not there, -1 when a worker holds it (it cannot be taken from under the worker).
    static let removeOneScript = LuaScript(
        """
        if redis.call('EXISTS', KEYS[6]) == 1 then return -1 end
        local removed = redis.call('LREM', KEYS[1], 0, ARGV[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
            + redis.call('LREM', KEYS[3], 0, ARGV[1]) + redis.call('LREM', KEYS[4], 0, ARGV[1])
        if removed == 0 then return 0 end
        redis.call('DEL', KEYS[5])
        return 1
        """
    )

    /// KEYS: completed; ARGV: prefix. Deletes the completed jobs and their records.
    static let cleanCompletedScript = LuaScript(
        """
        local ids = redis.call('LRANGE', KEYS[1], 0, -1)
        for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
        redis.call('DEL', KEYS[1])
        return #ids
        """
    )

    static let boardScripts = [retryOneScript, promoteOneScript, removeOneScript, cleanCompletedScript]

    /// The jobs of `queue` in `state`, newest first for lists (wait: next to run last), soonest first for
    /// `delayed`: (how many in all, up to `limit` from `offset`).
    public func jobs(_ queue: QueueName, state: JobState, offset: Int, limit: Int) throws(RedisError) -> (
        total: Int, jobs: [JobDetail]
    ) {
        let key = Self.key(queue, state.rawValue)
        let stop = String(offset + max(limit, 1) - 1)
        let listed: [RedisReply]
        if state == .delayed {
            listed = try self.redis.pipeline([
                [Array("ZCARD".utf8), key],
                [Array("ZRANGE".utf8), key, Array(String(offset).utf8), Array(stop.utf8), Array("WITHSCORES".utf8)],
            ])
        } else {
            listed = try self.redis.pipeline([
                [Array("LLEN".utf8), key], [Array("LRANGE".utf8), key, Array(String(offset).utf8), Array(stop.utf8)],
            ])
        }
        guard listed.count == 2, case .integer(let total) = listed[0], case .array(let items) = listed[1] else {
            throw RedisError(message: "unexpected reply listing \(queue.rawValue) \(state.rawValue)")
        }
        var ids: [(String, Int64?)] = []
        if state == .delayed {
            var index = 0
            while index + 1 < items.count {
                // A score is any double (a hand-made `inf`, 1e300): only a plausible time is shown, never trapped on.
                let score = items[index + 1].text.flatMap { Double($0) }
                ids.append((items[index].text ?? "", score.flatMap { Self.plausibleTime($0) }))
                index += 2
            }
        } else {
            ids = items.map { ($0.text ?? "", nil) }
        }
        guard !ids.isEmpty else { return (Int(total), []) }
        let records = try self.redis.pipeline(
            ids.flatMap { id, _ in
                [
                    [Array("HGETALL".utf8), Self.key(queue, id)],
                    [Array("GET".utf8), Self.key(queue, "\(id):lock")],
                ]
            }
        )
        var jobs: [JobDetail] = []
        for (index, (id, due)) in ids.enumerated() {
            var fields: [String: String] = [:]
            if case .array(let pairs) = records[2 * index] {
                var at = 0
                while at + 1 < pairs.count {
                    fields[pairs[at].text ?? ""] = pairs[at + 1].text ?? ""
                    at += 2
                }
            }
            jobs.append(
                JobDetail(
                    id: id,
                    state: state,
                    data: fields["data"] ?? "",
                    attemptsMade: Int(fields["attemptsMade"] ?? "") ?? 0,
                    maxAttempts: Int(fields["maxAttempts"] ?? "") ?? 1,
                    lastError: fields["lastError"].flatMap { $0.isEmpty ? nil : $0 },
                    failedReason: fields["failedReason"].flatMap { $0.isEmpty ? nil : $0 },
                    timestamp: fields["timestamp"].flatMap { Int64($0) },
                    processedOn: fields["processedOn"].flatMap { Int64($0) },
                    finishedOn: fields["finishedOn"].flatMap { Int64($0) },
                    dueAt: due,
                    holder: records[2 * index + 1].text
                )
            )
        }
        return (Int(total), jobs)
    }

    /// A failed job back to `wait` (attempts reset). False when it is not among the failed.
    public func retry(_ queue: QueueName, id: String) throws(RedisError) -> Bool {
        try self.boardScript(
            Self.retryOneScript,
            keys: [Self.key(queue, "failed"), Self.key(queue, "wait"), Self.key(queue, id)],
            id: id
        ) == 1
    }

    /// A delayed job to `wait` now. False when it is not delayed.
    public func promote(_ queue: QueueName, id: String) throws(RedisError) -> Bool {
        try self.boardScript(
            Self.promoteOneScript,
            keys: [Self.key(queue, "delayed"), Self.key(queue, "wait")],
            id: id
        ) == 1
    }

    public enum Removal: Sendable, Equatable { case removed, notFound, heldByAWorker }

    /// Removes a job (and its record) from whatever state it is in, unless a worker holds it.
    public func remove(_ queue: QueueName, id: String) throws(RedisError) -> Removal {
        let result = try self.boardScript(
            Self.removeOneScript,
            keys: [
                Self.key(queue, "wait"), Self.key(queue, "delayed"), Self.key(queue, "failed"),
                Self.key(queue, "completed"), Self.key(queue, id), Self.key(queue, "\(id):lock"),
            ],
            id: id
        )
        return result == 1 ? .removed : result == -1 ? .heldByAWorker : .notFound
    }

    /// Deletes the completed jobs and their records; returns how many.
    public func cleanCompleted(_ queue: QueueName) throws(RedisError) -> Int {
        Int(
            try self.boardScript(
                Self.cleanCompletedScript,
                keys: [Self.key(queue, "completed")],
                id: "bull:\(queue.rawValue):"
            )
        )
    }

    /// Pauses a queue: workers take nothing from it (what they hold runs to its end) until `resume`. Kept in
    /// `bull:<queue>:meta` (field `paused`), as BullMQ keeps it.
    public func pause(_ queue: QueueName) throws(RedisError) {
        let reply = try self.redis.command(bytes: [
            Array("HSET".utf8), Self.key(queue, Self.metaSuffix), Array("paused".utf8), Array("1".utf8),
        ])
        if case .error(let message) = reply { throw RedisError(message: message) }
    }

    public func resume(_ queue: QueueName) throws(RedisError) {
        let reply = try self.redis.command(bytes: [
            Array("HDEL".utf8), Self.key(queue, Self.metaSuffix), Array("paused".utf8),
        ])
        if case .error(let message) = reply { throw RedisError(message: message) }
    }

    public func isPaused(_ queue: QueueName) throws(RedisError) -> Bool {
        try self.redis.command(bytes: [
            Array("HEXISTS".utf8), Self.key(queue, Self.metaSuffix), Array("paused".utf8),
        ]) == .integer(1)
    }

    /// Records that `worker` (host:pid) serves `queue` (the board shows who is alive and since when).
    public func heartbeat(worker: String, queue: QueueName, startedAt: Int64, now: Int64) throws(RedisError) {
        let reply = try self.redis.command(bytes: [
            Array("HSET".utf8), Self.workersKey, Array("\(worker)/\(queue.rawValue)".utf8),
            Array("\(startedAt) \(now)".utf8),
        ])
        if case .error(let message) = reply { throw RedisError(message: message) }
    }

    /// Every heartbeat on record (a worker that stopped keeps its last one: the board shows its age); those
    /// older than `forgetAfterMs` are deleted.
    public func workers(now: Int64, forgetAfterMs: Int64 = 86_400_000) throws(RedisError) -> [WorkerBeat] {
        guard case .array(let items) = try self.redis.command(bytes: [Array("HGETALL".utf8), Self.workersKey]) else {
            return []
        }
        var beats: [WorkerBeat] = []
        var stale: [[UInt8]] = []
        var index = 0
        while index + 1 < items.count {
            let field = items[index].text ?? ""
            let times = (items[index + 1].text ?? "").split(separator: " ").compactMap { Int64($0) }
                .filter { Self.plausibleTime(Double($0)) != nil }
            index += 2
            guard let slash = field.lastIndex(of: "/"), times.count == 2 else { continue }
            if now - times[1] > forgetAfterMs {
                stale.append(Array(field.utf8))
                continue
            }
            beats.append(
                WorkerBeat(
                    worker: String(field[..<slash]),
                    queue: String(field[field.index(after: slash)...]),
                    startedAt: times[0],
                    seenAt: times[1]
                )
            )
        }
        if !stale.isEmpty { _ = try self.redis.command(bytes: [Array("HDEL".utf8), Self.workersKey] + stale) }
        return beats.sorted { ($0.worker, $0.queue) < ($1.worker, $1.queue) }
    }

    /// Milliseconds between 1970 and 9999, or nil: what a hand-edited or forged Redis value is checked against
    /// before any arithmetic on it.
    static func plausibleTime(_ milliseconds: Double) -> Int64? {
        guard milliseconds.isFinite, (0...253_402_300_800_000).contains(milliseconds) else { return nil }
        return Int64(milliseconds)
    }

    private func boardScript(_ script: LuaScript, keys: [[UInt8]], id: String) throws(RedisError) -> Int64 {
        let reply = try self.script(Self.eval(script, keys: keys, arguments: [id]))
        if case .error(let message) = reply { throw RedisError(message: message) }
        guard case .integer(let value) = reply else { throw RedisError(message: "unexpected reply \(reply)") }
        return value
    }
}
