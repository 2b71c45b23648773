import Crypto
import Foundation
import Logging
import Synchronization

/// Back-off after consecutive failures (wrong passwords), per key: an account's address and a client's IP.
/// The first `free` failures cost nothing; after them each one doubles the wait (1 s, 2 s, 4 s … up to 15
/// minutes) during which every attempt for that key — right or wrong — is answered 429 without checking the
/// password. A success clears the account's count (not the IP's: one right password does not buy an IP
/// twenty more guesses at other accounts).
final class FailureThrottle: Sendable {
    private let entries = Mutex([String: (failures: Int, until: Double)]())
    let free: Int
    /// Seconds on the gateway's clock (`GatewayServices.clock`: the wall clock, or a test's).
    let clock: @Sendable () -> Double
    static let longestWait = 900.0

    init(free: Int, clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.free = free
        self.clock = clock
    }

    /// Seconds to wait before `key` may try again, or nil.
    func wait(_ key: String, now: Double? = nil) -> Double? {
        let now = now ?? self.clock()
        return self.entries.withLock { entries in entries[key].flatMap { $0.until > now ? $0.until - now : nil } }
    }

    func failed(_ key: String, now: Double? = nil) {
        let now = now ?? self.clock()
        self.entries.withLock { entries in
            var entry = entries[key] ?? (0, 0)
            entry.failures += 1
            if entry.failures > self.free {
                entry.until = now + min(Self.longestWait, pow(2, Double(min(entry.failures - self.free - 1, 20))))
            }
            entries[key] = entry
            if entries.count > 100_000 { entries = entries.filter { $0.value.until > now } }  // bounded memory
        }
    }

    func succeeded(_ key: String) { _ = self.entries.withLock { $0.removeValue(forKey: key) } }
}

/// The gateway's abuse limits (README "Abuse limits").
struct AbuseLimits: Sendable {
    /// Wrong passwords per account address before back-off.
    let accounts: FailureThrottle
    /// Wrong passwords per client IP (any account) before back-off.
    let addresses: FailureThrottle
    /// Sign-ups per client IP.
    let signUps: RateLimiter

    /// `clock`: seconds; the back-offs are measured on it (the gateway's clock, so a test's is deterministic
    /// however loaded the machine: a 1-s back-off measured on the wall clock expired before a slow next request).
    init(signUpsPerHour: Double, clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.accounts = FailureThrottle(free: 5, clock: clock)
        self.addresses = FailureThrottle(free: 20, clock: clock)
        self.signUps = RateLimiter(rate: signUpsPerHour / 3_600, burst: max(1, min(signUpsPerHour, 20)))
    }

    static let logger = Logger(label: "stockboom.auth")

    /// A stable pseudonym for an address in the logs (the address itself is personal data; logs are not erased).
    static func pseudonym(_ email: String) -> String {
        SHA256.hash(data: Data(email.lowercased().utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// 429 with `Retry-After` while the account or the client must wait.
    func checkSignIn(email: String, client: String) throws {
        let wait = [self.accounts.wait("account:" + email.lowercased()), self.addresses.wait("ip:" + client)].compactMap
        { $0 }.max()
        if let wait {
            throw TooManyRequests(
                retryAfter: wait,
                detail: "too many wrong passwords: try again in \(Int(wait.rounded(.up))) s"
            )
        }
    }

    func signInFailed(email: String, client: String) {
        self.accounts.failed("account:" + email.lowercased())
        self.addresses.failed("ip:" + client)
        Self.logger.warning("sign-in failed", metadata: ["client": "\(client)", "account": "\(Self.pseudonym(email))"])
    }

    func signInSucceeded(email: String) { self.accounts.succeeded("account:" + email.lowercased()) }
}

/// A 429 with the seconds to wait (sent as `Retry-After`).
struct TooManyRequests: Error {
    var retryAfter: Double
    var detail: String
}
