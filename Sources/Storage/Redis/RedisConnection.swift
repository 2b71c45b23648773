internal import CHiredis
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A Redis reply, decoded from hiredis' tree into values.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    /// The reply as UTF-8 text when it is a bulk string or status.
    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }
}

/// A Redis connection failure or an error reply.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "Redis: \(self.message)" }
    public init(message: String) { self.message = message }
}

/// Where to reach Redis, parsed from `REDIS_URL` (`redis://[:password@]host[:port][/db]`).
public struct RedisEndpoint: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port: Int32 = 6379
    public var password: String?
    public var database = 0

    public init(host: String = "127.0.0.1", port: Int32 = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    /// As a `REDIS_URL` again, the password included (for a child process's environment; never logged).
    public var url: String {
        "redis://\(self.password.map { ":\($0)@" } ?? "")\(self.host):\(self.port)/\(self.database)"
    }

    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            let password = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last.map(
                String.init
            )
            self.password = password?.isEmpty == true ? nil : password
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard
                let database = Int(rest[rest.index(after: slash)...].isEmpty ? "0" : rest[rest.index(after: slash)...])
            else { return nil }
            self.database = database
            rest = rest[..<slash]
        }
        let parts = rest.split(separator: ":")
        if let host = parts.first, !host.isEmpty { self.host = String(host) }
        if parts.count == 2 {
            guard let port = Int32(parts[1]) else { return nil }
            self.port = port
        }
    }
}

/// One hiredis connection. Blocking: use it from a dedicated thread, never from the cooperative pool.
///
/// Arguments are always sent with `redisCommandArgv` (binary-safe, never a formatted string).
public final class RedisConnection: Sendable {
    /// `nonisolated(unsafe)`-free: the context pointer lives inside a Mutex and every call holds it.
    private let context: Mutex<UnsafeMutablePointer<redisContext>>

    public init(endpoint: RedisEndpoint, timeoutSeconds: Int = 5) throws(RedisError) {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        guard let raw = redisConnectWithTimeout(endpoint.host, endpoint.port, timeout) else {
            throw RedisError(message: "hiredis could not allocate a context")
        }
        if raw.pointee.err != 0 {
            let message = withUnsafeBytes(of: raw.pointee.errstr) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            redisFree(raw)
            throw RedisError(message: "connect to \(endpoint.host):\(endpoint.port): \(message)")
        }
        _ = redisSetTimeout(raw, timeout)
        timeout.tv_sec = 0
        self.context = Mutex(raw)
        if let password = endpoint.password {
            if case .error(let message) = try self.command(["AUTH", password]) { throw RedisError(message: message) }
        }
        if endpoint.database != 0 {
            if case .error(let message) = try self.command(["SELECT", String(endpoint.database)]) {
                throw RedisError(message: message)
            }
        }
    }

    deinit { self.context.withLock { redisFree($0) } }

    /// Sends one command and waits for its reply.
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try self.command(bytes: arguments.map { Array($0.utf8) })
    }

    /// Sends one command with binary arguments.
    public func command(bytes arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        try self.pipeline([arguments])[0]
    }

    /// Sends all commands, then reads all replies (one round trip for the batch).
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        try self.context.withLock { raw throws(RedisError) -> [RedisReply] in
            for arguments in commands {
                precondition(!arguments.isEmpty, "a Redis command needs a name")
                var lengths = arguments.map { $0.count }
                let copies: [UnsafeMutablePointer<CChar>] = arguments.map { argument in
                    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
                    argument.withUnsafeBytes { bytes in
                        if let base = bytes.baseAddress {
                            copy.initialize(from: base.assumingMemoryBound(to: CChar.self), count: bytes.count)
                        }
                    }
                    return copy
                }
                defer { for copy in copies { copy.deallocate() } }
                var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
                let status = redisAppendCommandArgv(raw, Int32(arguments.count), &pointers, &lengths)
                guard status == REDIS_OK else { throw Self.contextError(raw) }
            }
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            for _ in commands {
                var reply: UnsafeMutableRawPointer?
                guard redisGetReply(raw, &reply) == REDIS_OK, let reply else { throw Self.contextError(raw) }
                let typed = reply.assumingMemoryBound(to: redisReply.self)
                replies.append(Self.decode(typed))
                freeReplyObject(reply)
            }
            return replies
        }
    }

    /// Reads wait without a time limit from now on (a subscriber idles between messages).
    public func waitIndefinitely() {
        self.context.withLock { raw in _ = redisSetTimeout(raw, timeval(tv_sec: 0, tv_usec: 0)) }
    }

    /// Subscribes this connection to `channel`; afterwards read messages with `nextPush` (a subscribed
    /// connection takes no other commands).
    public func subscribe(_ channel: String) throws(RedisError) {
        let reply = try self.command(["SUBSCRIBE", channel])
        guard case .array = reply else { throw RedisError(message: "SUBSCRIBE \(channel) answered \(reply)") }
    }

    /// The next message pushed to a subscribed connection (`["message", channel, payload]`); throws after the
    /// connection's timeout without one.
    public func nextPush() throws(RedisError) -> RedisReply {
        try self.context.withLock { raw throws(RedisError) -> RedisReply in
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(raw, &reply) == REDIS_OK, let reply else { throw Self.contextError(raw) }
            defer { freeReplyObject(reply) }
            return Self.decode(reply.assumingMemoryBound(to: redisReply.self))
        }
    }

    private static func contextError(_ raw: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = withUnsafeBytes(of: raw.pointee.errstr) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return RedisError(message: message.isEmpty ? "connection lost" : message)
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .string(Array(UnsafeRawBufferPointer(start: value.str, count: Int(value.len))))
        case REDIS_REPLY_STATUS:
            return .status(
                String(decoding: UnsafeRawBufferPointer(start: value.str, count: Int(value.len)), as: UTF8.self)
            )
        case REDIS_REPLY_ERROR:
            return .error(
                String(decoding: UnsafeRawBufferPointer(start: value.str, count: Int(value.len)), as: UTF8.self)
            )
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(value.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(value.elements)).map { Self.decode(value.element[$0]!) })
        default:
            return .null
        }
    }
}
