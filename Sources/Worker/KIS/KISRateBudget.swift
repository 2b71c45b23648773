import Crypto
import Foundation
public import Storage

/// Where the requests of one KIS app key are counted. KIS limits a key (19 a second real, 2 paper), not a
/// process: every worker process, and every account, that uses a key must draw on one budget.
public protocol KISRateBudget: Sendable {
    /// Waits until one more request of the key may be sent (requests are spaced `1/rate` apart).
    func take() async
    /// KIS refused for rate (`EGW00201`): nobody using the key sends for `seconds`.
    func pause(seconds: Double) async
}

/// The budget of one process: requests spaced `1/rate` apart on the wall clock.
public actor LocalRateBudget: KISRateBudget {
    public let rate: Double
    private var nextFree = ContinuousClock.now

    public init(rate: Double) {
        precondition(rate > 0)
        self.rate = rate
    }

    public func take() async {
        let now = ContinuousClock.now
        let slot = max(now, self.nextFree)
        self.nextFree = slot + .nanoseconds(Int64(1e9 / self.rate))
        if slot > now { try? await Task.sleep(until: slot, clock: .continuous) }
    }

    public func pause(seconds: Double) async {
        self.nextFree = max(self.nextFree, ContinuousClock.now + .nanoseconds(Int64(seconds * 1e9)))
    }
}

/// The budget shared by every process through Redis: one key per app key
/// (`stockboom:kis:budget:<SHA-256 of the app key, 16 hex>`, never the key itself) holding the next free slot in
/// µs of Redis's clock (`TIME`, so the hosts' clocks need not agree). Taking a slot is one script: the slot is
/// `max(now, next)`, and `next` moves one interval on. While Redis does not answer, the process falls back on
/// its own spacing (`fallback`), and a refusal from KIS still pauses it.
public final class RedisRateBudget: KISRateBudget {
    public let rate: Double
    let key: String
    let redis: RedisClient
    let fallback: LocalRateBudget

    static let script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
        local pause = tonumber(ARGV[2])
        if pause > 0 then
          if now + pause > nextFree then
            redis.call('SET', KEYS[1], string.format('%.0f', now + pause), 'PX', math.floor(pause / 1000) + 60000)
          end
          return 0
        end
        local slot = math.max(now, nextFree)
        redis.call('SET', KEYS[1], string.format('%.0f', slot + tonumber(ARGV[1])), 'PX', 60000)
        return slot - now
        """

    public init(appKey: String, rate: Double, redis: RedisEndpoint) {
        precondition(rate > 0)
        self.rate = rate
        let digest = SHA256.hash(data: Data(appKey.utf8)).map { String(format: "%02x", $0) }.joined()
        self.key = "stockboom:kis:budget:" + digest.prefix(16)
        self.redis = RedisClient(endpoint: redis, timeoutSeconds: 2)
        self.fallback = LocalRateBudget(rate: rate)
    }

    /// Runs the script; nil when Redis did not answer with a number.
    private func run(interval: Int64, pause: Int64) async -> Int64? {
        let (redis, key) = (self.redis, self.key)
        let reply = try? await blocking {
            try redis.command(["EVAL", Self.script, "1", key, String(interval), String(pause)])
        }
        guard case .integer(let value) = reply else { return nil }
        return value
    }

    public func take() async {
        guard let wait = await self.run(interval: Int64(1e6 / self.rate), pause: 0) else {
            await self.fallback.take()
            return
        }
        if wait > 0 { try? await Task.sleep(for: .microseconds(min(wait, 60_000_000))) }
    }

    public func pause(seconds: Double) async {
        await self.fallback.pause(seconds: seconds)
        _ = await self.run(interval: 0, pause: Int64(seconds * 1e6))
    }
}
