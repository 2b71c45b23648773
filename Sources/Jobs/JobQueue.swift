import Crypto
import Foundation
public import Storage

/// The queues of the side-effect half, in Redis with BullMQ's key layout so the operator guide's
/// `redis-cli` commands work (`LLEN "bull:trade-execution:wait"`, `LLEN …:failed`, `KEYS "bull:*"`).
public enum QueueName: String, Sendable, CaseIterable {
    case dataCollection = "data-collection"
    case dataAnalysis = "data-analysis"
    case tradeExecution = "trade-execution"
    case notification = "notification"
}

/// A job as stored: `bull:<queue>:<id>` is a hash with these fields.
public struct Job: Sendable, Equatable {
    public var queue: QueueName
    /// Unique within the queue: the offset of the event that asked for the work (its idempotency key), or a
    /// schedule key such as `collect:005930:20250106T0930`.
    public var id: String
    /// What the handler needs, as JSON.
    public var data: String
    public var attemptsMade: Int
    public var maxAttempts: Int
    public var lastError: String?
    /// The lock token of this reservation (set by `reserve`).
    public var token: String = ""

    public init(
        queue: QueueName,
        id: String,
        data: String,
        attemptsMade: Int = 0,
        maxAttempts: Int = 5,
        lastError: String? = nil
    ) {
        self.queue = queue
        self.id = id
        self.data = data
        self.attemptsMade = attemptsMade
        self.maxAttempts = maxAttempts
        self.lastError = lastError
    }
}

/// Sizes of one queue by state.
public struct QueueCounts: Sendable, Equatable {
    public var wait = 0
    public var active = 0
    public var delayed = 0
    public var completed = 0
    public var failed = 0

    public init(wait: Int = 0, active: Int = 0, delayed: Int = 0, completed: Int = 0, failed: Int = 0) {
        self.wait = wait
        self.active = active
        self.delayed = delayed
        self.completed = completed
        self.failed = failed
    }
}

/// Operations on the queues. Every move between states is one Lua script (atomic in Redis):
///
/// * `wait` (list): new and retried jobs; consumers take from the right (FIFO).
/// * `active` (list): reserved jobs; each has `bull:<q>:<id>:lock` (token, expiring). A job in `active`
///   whose lock is gone on two consecutive checks (its worker died) goes back to `wait` (`requeueStalled`).
/// * `delayed` (sorted set by due time in ms): failed attempts waiting for their back-off
///   (`backoffMs · 2^(attempt−1)`); `promoteDelayed` moves due ones to `wait`.
/// * `completed` (list, newest first, trimmed) and `failed` (list): finished jobs. The job hash stays
///   (completed ones expire after a week) and keeps `attemptsMade`, `lastError`, `failedReason`.
///
/// Adding a job whose hash exists does nothing: a job id is added once (idempotent dispatch).
public struct JobQueueStore: Sendable {
    public let redis: RedisClient
    public var lockMs = 30_000
    public var backoffMs = 1_000
    public var keepCompleted = 1_000

    public init(redis: RedisClient) {
        self.redis = redis
    }

    static func key(_ queue: QueueName, _ suffix: String) -> [UInt8] { Array("bull:\(queue.rawValue):\(suffix)".utf8) }

    // MARK: Scripts

    static let addScript = LuaScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'data', ARGV[2], 'attemptsMade', '0', 'maxAttempts', ARGV[3], 'timestamp', ARGV[4])
        redis.call('LPUSH', KEYS[2], ARGV[1])
        return 1
        """
    )

    /// KEYS: job, wait, active, delayed; ARGV: id, data, maxAttempts, now. As `addScript`, and a job whose record
    /// is there, unfinished, but in no list (stranded by the guide's `DEL "bull:<queue>:wait"`) is put back in
    /// `wait`. For `stockboom queues rebuild`, which only adds jobs the engine's state says are still pending.
    static let addOrRequeueScript = LuaScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then
            if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 then return 0 end
            if redis.call('LPOS', KEYS[2], ARGV[1]) or redis.call('LPOS', KEYS[3], ARGV[1])
                or redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 0 end
            redis.call('LPUSH', KEYS[2], ARGV[1])
            return 1
        end
        redis.call('HSET', KEYS[1], 'data', ARGV[2], 'attemptsMade', '0', 'maxAttempts', ARGV[3], 'timestamp', ARGV[4])
        redis.call('LPUSH', KEYS[2], ARGV[1])
        return 1
        """
    )

    /// KEYS: wait, active, meta; ARGV: prefix, max, lockMs, token, now, firstID (already moved by BLMOVE, or '').
    /// A paused queue (`meta` has `paused`) hands out nothing: the job BLMOVE took goes back where it was.
    static let reserveScript = LuaScript(
        """
        if redis.call('HEXISTS', KEYS[3], 'paused') == 1 then
            if ARGV[6] ~= '' then
                redis.call('LREM', KEYS[2], -1, ARGV[6])
                redis.call('RPUSH', KEYS[1], ARGV[6])
            end
            return {}
        end
        local ids = {}
        -- The job BLMOVE took, unless the stalled check returned it to `wait` in between (a consumer paused for
        -- two checks between its BLMOVE and this script, as a loaded machine can): it is handed out from `wait`
        -- again, once, not here as well.
        if ARGV[6] ~= '' and redis.call('LPOS', KEYS[2], ARGV[6]) then table.insert(ids, ARGV[6]) end
        local max = tonumber(ARGV[2])
        while #ids < max do
            local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
            if not id then break end
            table.insert(ids, id)
        end
        local out = {}
        for _, id in ipairs(ids) do
            if redis.call('EXISTS', ARGV[1] .. id) == 0 then
                -- An id without its record (the database was flushed between BLMOVE and here, or the record was
                -- deleted by hand): nothing to run. Dropped, and no record created — writing `processedOn` here
                -- made a data-less record that the handler failed for good and that kept the dispatcher's
                -- re-derived job (same id) from being added again.
                redis.call('LREM', KEYS[2], -1, id)
            else
                redis.call('SET', ARGV[1] .. id .. ':lock', ARGV[4], 'PX', ARGV[3])
                redis.call('HSET', ARGV[1] .. id, 'processedOn', ARGV[5])
                local fields = redis.call('HMGET', ARGV[1] .. id, 'data', 'attemptsMade', 'maxAttempts', 'lastError')
                table.insert(out, id)
                table.insert(out, fields[1] or '')
                table.insert(out, fields[2] or '0')
                table.insert(out, fields[3] or '1')
                table.insert(out, fields[4] or '')
            end
        end
        return out
        """
    )

    /// KEYS: active, completed; ARGV: prefix, token, now, keep, id...
    static let completeScript = LuaScript(
        """
        local done = 0
        for i = 5, #ARGV do
            local id = ARGV[i]
            local lock = ARGV[1] .. id .. ':lock'
            if redis.call('GET', lock) == ARGV[2] then
                redis.call('DEL', lock)
                redis.call('LREM', KEYS[1], -1, id)
                redis.call('LPUSH', KEYS[2], id)
                redis.call('HSET', ARGV[1] .. id, 'finishedOn', ARGV[3])
                redis.call('EXPIRE', ARGV[1] .. id, 604800)
                done = done + 1
            end
        end
        redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
        return done
        """
    )

    /// KEYS: active, delayed, failed, job hash, lock; ARGV: id, token, now, error, backoffMs.
    /// Returns 'delayed', 'failed' or 'lost' (the lock was no longer ours).
    static let failScript = LuaScript(
        """
        if redis.call('GET', KEYS[5]) ~= ARGV[2] then return 'lost' end
        redis.call('DEL', KEYS[5])
        redis.call('LREM', KEYS[1], -1, ARGV[1])
        local attempts = redis.call('HINCRBY', KEYS[4], 'attemptsMade', 1)
        redis.call('HSET', KEYS[4], 'lastError', ARGV[4])
        local max = tonumber(redis.call('HGET', KEYS[4], 'maxAttempts') or '1')
        if attempts >= max then
            redis.call('HSET', KEYS[4], 'failedReason', ARGV[4], 'finishedOn', ARGV[3])
            redis.call('LPUSH', KEYS[3], ARGV[1])
            return 'failed'
        end
        redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[5]) * (2 ^ (attempts - 1)), ARGV[1])
        return 'delayed'
        """
    )

    /// KEYS: active, delayed, lock; ARGV: id, token, due. Not an attempt: the job asked to be looked at later.
    static let postponeScript = LuaScript(
        """
        if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
        redis.call('DEL', KEYS[3])
        redis.call('LREM', KEYS[1], -1, ARGV[1])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        return 1
        """
    )

    /// KEYS: delayed, wait; ARGV: now.
    static let promoteScript = LuaScript(
        """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
        for _, id in ipairs(due) do
            redis.call('ZREM', KEYS[1], id)
            redis.call('LPUSH', KEYS[2], id)
        end
        return #due
        """
    )

    /// KEYS: active, wait, stalled (set of suspects from the previous check); ARGV: prefix.
    /// A job is returned to `wait` only if it had no lock on this check and on the previous one (a job between
    /// BLMOVE and its lock is never mistaken for a dead one).
    static let stalledScript = LuaScript(
        """
        local requeued = 0
        local suspects = redis.call('SMEMBERS', KEYS[3])
        redis.call('DEL', KEYS[3])
        for _, id in ipairs(suspects) do
            if redis.call('EXISTS', ARGV[1] .. id .. ':lock') == 0 and redis.call('LREM', KEYS[1], -1, id) > 0 then
                redis.call('RPUSH', KEYS[2], id)
                redis.call('HINCRBY', ARGV[1] .. id, 'stalledCounter', 1)
                requeued = requeued + 1
            end
        end
        for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
            if redis.call('EXISTS', ARGV[1] .. id .. ':lock') == 0 then redis.call('SADD', KEYS[3], id) end
        end
        return requeued
        """
    )

    /// KEYS: failed, wait; ARGV: prefix.
    static let retryFailedScript = LuaScript(
        """
        local ids = redis.call('LRANGE', KEYS[1], 0, -1)
        for i = #ids, 1, -1 do
            redis.call('HSET', ARGV[1] .. ids[i], 'attemptsMade', '0')
            redis.call('HDEL', ARGV[1] .. ids[i], 'failedReason', 'finishedOn')
            redis.call('LPUSH', KEYS[2], ids[i])
        end
        redis.call('DEL', KEYS[1])
        return #ids
        """
    )

    /// KEYS: lock; ARGV: token, lockMs.
    static let extendScript = LuaScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """
    )

    // MARK: Operations

    /// Adds jobs (one round trip); returns how many were new. `requeueStranded`: also put back in `wait` an
    /// unfinished job whose record exists in no list (counted as added).
    @discardableResult
    public func add(_ jobs: [Job], now: Int64, requeueStranded: Bool = false) throws(RedisError) -> Int {
        guard !jobs.isEmpty else { return 0 }
        let commands: [[[UInt8]]] = jobs.map { job in
            requeueStranded
                ? Self.eval(
                    Self.addOrRequeueScript,
                    keys: [
                        Self.key(job.queue, job.id), Self.key(job.queue, "wait"), Self.key(job.queue, "active"),
                        Self.key(job.queue, "delayed"),
                    ],
                    arguments: [job.id, job.data, String(job.maxAttempts), String(now)]
                )
                : Self.eval(
                    Self.addScript,
                    keys: [Self.key(job.queue, job.id), Self.key(job.queue, "wait")],
                    arguments: [job.id, job.data, String(job.maxAttempts), String(now)]
                )
        }
        var added = 0
        for reply in try self.scripts(commands) {
            if case .integer(let value) = reply { added += Int(value) }
            if case .error(let message) = reply { throw RedisError(message: message) }
        }
        return added
    }

    /// Takes up to `max` jobs from `wait` into `active`, each locked for `lockMs`. Waits up to `waitSeconds`
    /// for the first one (BLMOVE); returns [] when none came.
    public func reserve(_ queue: QueueName, max: Int, waitSeconds: Double, now: Int64, token: String) throws(RedisError)
        -> [Job]
    {
        var first = ""
        if waitSeconds > 0 {
            // Paused by an operator (the board): nothing is taken; the caller comes back after a nap.
            if try self.isPaused(queue) {
                usleep(UInt32(min(waitSeconds, 1) * 1_000_000))
                return []
            }
            let reply = try self.redis.command(bytes: [
                Array("BLMOVE".utf8), Self.key(queue, "wait"), Self.key(queue, "active"), Array("RIGHT".utf8),
                Array("LEFT".utf8), Array(String(waitSeconds).utf8),
            ])
            switch reply {
            case .string(let bytes): first = String(decoding: bytes, as: UTF8.self)
            case .error(let message): throw RedisError(message: message)
            default: return []
            }
        }
        let reply = try self.script(
            Self.eval(
                Self.reserveScript,
                keys: [Self.key(queue, "wait"), Self.key(queue, "active"), Self.key(queue, Self.metaSuffix)],
                arguments: ["bull:\(queue.rawValue):", String(max), String(self.lockMs), token, String(now), first]
            )
        )
        guard case .array(let items) = reply else {
            if case .error(let message) = reply { throw RedisError(message: message) }
            return []
        }
        var jobs: [Job] = []
        var index = 0
        while index + 4 < items.count {
            let text = items[index...index + 4].map { $0.text ?? "" }
            var job = Job(
                queue: queue,
                id: text[0],
                data: text[1],
                attemptsMade: Int(text[2]) ?? 0,
                maxAttempts: Int(text[3]) ?? 1,
                lastError: text[4].isEmpty ? nil : text[4]
            )
            job.token = token
            jobs.append(job)
            index += 5
        }
        return jobs
    }

    /// Marks reserved jobs done; returns how many were still ours (a job whose lock expired was taken back).
    @discardableResult
    public func complete(_ queue: QueueName, ids: [String], token: String, now: Int64) throws(RedisError) -> Int {
        guard !ids.isEmpty else { return 0 }
        let reply = try self.script(
            Self.eval(
                Self.completeScript,
                keys: [Self.key(queue, "active"), Self.key(queue, "completed")],
                arguments: ["bull:\(queue.rawValue):", token, String(now), String(self.keepCompleted)] + ids
            )
        )
        if case .error(let message) = reply { throw RedisError(message: message) }
        if case .integer(let done) = reply { return Int(done) }
        return 0
    }

    public enum FailOutcome: String, Sendable { case delayed, failed, lost }

    /// Records a failed attempt: back to `delayed` with back-off, or `failed` when attempts are used up.
    public func fail(_ job: Job, error: String, now: Int64) throws(RedisError) -> FailOutcome {
        let reply = try self.script(
            Self.eval(
                Self.failScript,
                keys: [
                    Self.key(job.queue, "active"), Self.key(job.queue, "delayed"), Self.key(job.queue, "failed"),
                    Self.key(job.queue, job.id), Self.key(job.queue, "\(job.id):lock"),
                ],
                arguments: [job.id, job.token, String(now), String(error.prefix(2_000)), String(self.backoffMs)]
            )
        )
        if case .error(let message) = reply { throw RedisError(message: message) }
        return reply.text.flatMap(FailOutcome.init(rawValue:)) ?? .lost
    }

    /// Puts a reserved job back into `delayed` until `due` (ms) without counting an attempt: work that waits
    /// on the outside world (an order resting at the broker). False when the lock was no longer ours.
    @discardableResult
    public func postpone(_ job: Job, until due: Int64) throws(RedisError) -> Bool {
        let reply = try self.script(
            Self.eval(
                Self.postponeScript,
                keys: [
                    Self.key(job.queue, "active"), Self.key(job.queue, "delayed"),
                    Self.key(job.queue, "\(job.id):lock"),
                ],
                arguments: [job.id, job.token, String(due)]
            )
        )
        if case .error(let message) = reply { throw RedisError(message: message) }
        return reply == .integer(1)
    }

    /// Keeps a long job's lock alive; false when the lock was lost.
    public func extendLock(_ job: Job) throws(RedisError) -> Bool {
        let reply = try self.script(
            Self.eval(
                Self.extendScript,
                keys: [Self.key(job.queue, "\(job.id):lock")],
                arguments: [job.token, String(self.lockMs)]
            )
        )
        if case .integer(let value) = reply { return value == 1 }
        return false
    }

    /// Moves due delayed jobs to `wait`, and stalled active jobs (lock gone twice in a row) back to `wait`.
    /// Call every few seconds (the worker does); returns (promoted, requeued).
    @discardableResult
    public func maintain(_ queue: QueueName, now: Int64) throws(RedisError) -> (promoted: Int, requeued: Int) {
        let replies = try self.scripts([
            Self.eval(
                Self.promoteScript,
                keys: [Self.key(queue, "delayed"), Self.key(queue, "wait")],
                arguments: [String(now)]
            ),
            Self.eval(
                Self.stalledScript,
                keys: [Self.key(queue, "active"), Self.key(queue, "wait"), Self.key(queue, "stalled-check")],
                arguments: ["bull:\(queue.rawValue):"]
            ),
        ])
        var counts: [Int] = []
        for reply in replies {
            if case .error(let message) = reply { throw RedisError(message: message) }
            if case .integer(let value) = reply { counts.append(Int(value)) } else { counts.append(0) }
        }
        return (counts[0], counts[1])
    }

    /// Puts every failed job of `queue` back in `wait` with its attempts reset; returns how many.
    /// Deletes every key of a queue (`bull:<queue>:*`), as BullMQ's `obliterate` does; returns how many. For a
    /// restore: the restored log may lack the events some jobs came from.
    @discardableResult
    public func obliterate(_ queue: QueueName) throws(RedisError) -> Int {
        var cursor = "0"
        var deleted = 0
        repeat {
            let reply = try self.redis.command(["SCAN", cursor, "MATCH", "bull:\(queue.rawValue):*", "COUNT", "1000"])
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].text,
                case .array(let keys) = parts[1]
            else {
                throw RedisError(message: "unexpected SCAN reply \(reply)")
            }
            cursor = next
            let names = keys.compactMap(\.text)
            if !names.isEmpty, case .integer(let count) = try self.redis.command(["DEL"] + names) {
                deleted += Int(count)
            }
        } while cursor != "0"
        return deleted
    }

    public func retryFailed(_ queue: QueueName) throws(RedisError) -> Int {
        let reply = try self.script(
            Self.eval(
                Self.retryFailedScript,
                keys: [Self.key(queue, "failed"), Self.key(queue, "wait")],
                arguments: ["bull:\(queue.rawValue):"]
            )
        )
        if case .error(let message) = reply { throw RedisError(message: message) }
        if case .integer(let value) = reply { return Int(value) }
        return 0
    }

    public func counts(_ queue: QueueName) throws(RedisError) -> QueueCounts {
        let replies = try self.redis.pipeline([
            [Array("LLEN".utf8), Self.key(queue, "wait")], [Array("LLEN".utf8), Self.key(queue, "active")],
            [Array("ZCARD".utf8), Self.key(queue, "delayed")], [Array("LLEN".utf8), Self.key(queue, "completed")],
            [Array("LLEN".utf8), Self.key(queue, "failed")],
        ])
        let values = replies.map { reply -> Int in if case .integer(let value) = reply { Int(value) } else { 0 } }
        return QueueCounts(
            wait: values[0],
            active: values[1],
            delayed: values[2],
            completed: values[3],
            failed: values[4]
        )
    }

    /// The stored job (any state), or nil.
    public func job(_ queue: QueueName, id: String) throws(RedisError) -> [String: String]? {
        guard case .array(let items) = try self.redis.command(bytes: [Array("HGETALL".utf8), Self.key(queue, id)]),
            !items.isEmpty
        else { return nil }
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            fields[items[index].text ?? ""] = items[index + 1].text ?? ""
            index += 2
        }
        return fields
    }

    /// `EVALSHA` of a script (the text is sent only when Redis does not know it yet: see `scripts`).
    static func eval(_ script: LuaScript, keys: [[UInt8]], arguments: [String]) -> [[UInt8]] {
        [Array("EVALSHA".utf8), script.sha, Array(String(keys.count).utf8)] + keys + arguments.map { Array($0.utf8) }
    }

    static let allScripts =
        [
            addScript, addOrRequeueScript, reserveScript, completeScript, failScript, postponeScript, promoteScript,
            stalledScript, retryFailedScript, extendScript,
        ] + boardScripts
    static let scriptsBySHA: [[UInt8]: [UInt8]] = Dictionary(
        uniqueKeysWithValues: allScripts.map { ($0.sha, Array($0.text.utf8)) }
    )

    /// Sends script calls in one round trip; those Redis answers `NOSCRIPT` (a new or flushed server) are sent
    /// again with their text (a script that was not found did not run, so this is safe).
    func scripts(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        var replies = try self.redis.pipeline(commands)
        let missing = replies.indices.filter {
            if case .error(let message) = replies[$0] { message.hasPrefix("NOSCRIPT") } else { false }
        }
        guard !missing.isEmpty else { return replies }
        let retried = try self.redis.pipeline(
            missing.map { index in
                var command = commands[index]
                command[0] = Array("EVAL".utf8)
                // A script missing from `allScripts` answers an error instead of silently doing nothing.
                command[1] =
                    Self.scriptsBySHA[command[1]] ?? Array("return redis.error_reply('script not in allScripts')".utf8)
                return command
            }
        )
        for (index, reply) in zip(missing, retried) { replies[index] = reply }
        return replies
    }

    func script(_ command: [[UInt8]]) throws(RedisError) -> RedisReply { try self.scripts([command])[0] }
}

/// A Lua script with its SHA-1 (computed once: `EVALSHA` sends 40 bytes instead of the text).
struct LuaScript: Sendable {
    let text: String
    let sha: [UInt8]

    init(_ text: String) {
        self.text = text
        let hex = Array("0123456789abcdef".utf8)
        self.sha = Insecure.SHA1.hash(data: Array(text.utf8)).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }
    }
}
