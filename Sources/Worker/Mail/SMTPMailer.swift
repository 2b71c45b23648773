import Foundation
import NIOCore
import NIOPosix
public import NIOSSL
import Synchronization

/// Where and how to send e-mail: `SMTP_HOST`, `SMTP_PORT` (587), `SMTP_USER`, `SMTP_PASS`, `SMTP_FROM`.
public struct SMTPConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var from: String
    /// Refuse to send credentials over a connection that did not switch to TLS (true unless told otherwise).
    public var requireTLSForAuth = true

    public init(
        host: String,
        port: Int = 587,
        user: String? = nil,
        password: String? = nil,
        from: String = "stockboom@localhost"
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.from = from
    }

    public static func fromEnvironment(_ environment: [String: String]) -> SMTPConfiguration? {
        guard let host = environment["SMTP_HOST"], !host.isEmpty else { return nil }
        var configuration = SMTPConfiguration(host: host, port: environment["SMTP_PORT"].flatMap(Int.init) ?? 587)
        configuration.user = environment["SMTP_USER"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.password = environment["SMTP_PASS"]
        configuration.from =
            environment["SMTP_FROM"].flatMap { $0.isEmpty ? nil : $0 } ?? (configuration.user ?? "stockboom@localhost")
        return configuration
    }
}

/// An SMTP refusal or failure. `permanent` (5xx) means retrying will not help.
public struct SMTPError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var permanent: Bool { (500..<600).contains(self.code) }
    public var description: String { self.code > 0 ? "SMTP \(self.code) \(self.message)" : "SMTP: \(self.message)" }
}

/// A small SMTP client (RFC 5321) over SwiftNIO: EHLO, STARTTLS when the server offers it (NIOSSL,
/// certificate verified against the system roots), AUTH PLAIN when configured, UTF-8 subject (RFC 2047) and
/// base64 body. A connection that delivered a message is kept (idle for at most 20 s, a few at a time) and the
/// next message goes through it with MAIL FROM at once: greeting, EHLO, TLS and AUTH are paid once per
/// connection, not per message. A kept connection the server has closed meanwhile costs a retry on a new one,
/// never a lost message (nothing was sent before DATA).
public struct SMTPMailer: Sendable {
    public let configuration: SMTPConfiguration
    /// TLS settings for STARTTLS (tests may trust their own CA).
    public var tls: TLSConfiguration = .makeClientConfiguration()
    /// Connections ready for the next message; shared by copies of this mailer.
    let idle = SMTPSessionPool()

    public init(configuration: SMTPConfiguration) {
        self.configuration = configuration
    }

    /// Connections this mailer has opened so far (tests: reuse is visible).
    public var connectionsOpened: Int { self.idle.opened }

    /// Sends one message; returns the server's answer to the end of DATA (e.g. `250 OK queued as …`).
    @discardableResult
    public func send(to recipient: String, subject: String, body: String) async throws -> String {
        guard !recipient.contains("\r"), !recipient.contains("\n"), recipient.contains("@") else {
            throw SMTPError(code: 0, message: "'\(recipient)' is not an e-mail address")
        }
        let message = Self.message(from: self.configuration.from, to: recipient, subject: subject, body: body)
        if let kept = self.idle.take() {
            do {
                return try await self.deliver(message, to: recipient, on: kept)
            } catch {
                await kept.close()
                guard !error.dataSent else { throw error.error }
                // Nothing was handed over (closed by the server while idle, most likely): a new connection below.
            }
        }
        let session = try await self.open()
        do {
            return try await self.deliver(message, to: recipient, on: session)
        } catch {
            await session.close()
            throw error.error
        }
    }

    /// A new connection, greeted, secured when offered and authenticated when configured.
    func open() async throws -> SMTPSession {
        let session = try await SMTPSession.connect(host: self.configuration.host, port: self.configuration.port)
        self.idle.countOpened()
        do {
            try await session.expect(220, try await session.reply())
            var features = try await session.command("EHLO stockboom")
            try await session.expect(250, features)
            var secure = false
            if features.lines.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) {
                try await session.expect(220, try await session.command("STARTTLS"))
                try await session.startTLS(configuration: self.tls, hostname: self.configuration.host)
                secure = true
                features = try await session.command("EHLO stockboom")
                try await session.expect(250, features)
            }
            if let user = self.configuration.user {
                guard secure || !self.configuration.requireTLSForAuth else {
                    throw SMTPError(
                        code: 0,
                        message:
                            "\(self.configuration.host) does not offer STARTTLS; not sending SMTP_USER/SMTP_PASS in clear"
                    )
                }
                let plain = Data(("\0" + user + "\0" + (self.configuration.password ?? "")).utf8).base64EncodedString()
                try await session.expect(235, try await session.command("AUTH PLAIN " + plain))
            }
            return session
        } catch {
            await session.close()
            throw error
        }
    }

    /// What went wrong on a connection, and whether the message had been handed over (DATA accepted).
    struct DeliveryFailure: Error {
        var error: any Error
        var dataSent: Bool
    }

    /// One message on a ready connection; the connection is kept for the next one after a 250.
    func deliver(_ message: String, to recipient: String, on session: SMTPSession) async throws(DeliveryFailure)
        -> String
    {
        var dataSent = false
        do {
            try await session.expect(250, try await session.command("MAIL FROM:<\(self.configuration.from)>"))
            try await session.expect(250, try await session.command("RCPT TO:<\(recipient)>"))
            try await session.expect(354, try await session.command("DATA"))
            dataSent = true
            let done = try await session.command(message + "\r\n.")
            try await session.expect(250, done)
            if !self.idle.give(session) {
                _ = try? await session.command("QUIT")
                await session.close()
            }
            return "\(done.code) \(done.lines.last ?? "")"
        } catch {
            throw DeliveryFailure(error: error, dataSent: dataSent)
        }
    }

    static func message(from: String, to: String, subject: String, body: String) -> String {
        let encodedSubject = "=?UTF-8?B?" + Data(subject.utf8).base64EncodedString() + "?="
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let encodedBody = Data(body.utf8).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
        ])
        return [
            "From: StockBoom <\(from)>", "To: <\(to)>", "Subject: \(encodedSubject)",
            "Date: \(date.string(from: Date()))",
            "Message-ID: <\(UUID().uuidString)@stockboom>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64", "", encodedBody,
        ].joined(separator: "\r\n")
    }
}

/// Connections that delivered a message and wait for the next: at most `capacity`, each for at most
/// `maximumIdle` (servers drop idle clients after a few minutes; RFC 5321 asks them to wait at least 5).
final class SMTPSessionPool: Sendable {
    private struct State {
        var idle: [(session: SMTPSession, since: ContinuousClock.Instant)] = []
        var opened = 0
    }
    private let state = Mutex(State())
    let capacity = 8
    let maximumIdle: Duration = .seconds(20)

    var opened: Int { self.state.withLock { $0.opened } }

    func countOpened() { self.state.withLock { $0.opened += 1 } }

    /// The most recently used connection that has not idled too long (older ones are closed).
    func take() -> SMTPSession? {
        let now = ContinuousClock.now
        let (fresh, stale) = self.state.withLock { state -> (SMTPSession?, [SMTPSession]) in
            let stale = state.idle.filter { $0.since.duration(to: now) > self.maximumIdle }.map(\.session)
            state.idle.removeAll { $0.since.duration(to: now) > self.maximumIdle }
            return (state.idle.popLast()?.session, stale)
        }
        for session in stale { session.channel.close(promise: nil) }
        return fresh
    }

    /// Keeps `session` for the next message; false when the pool is full (the caller closes it).
    func give(_ session: SMTPSession) -> Bool {
        guard session.channel.isActive else { return false }
        return self.state.withLock { state in
            guard state.idle.count < self.capacity else { return false }
            state.idle.append((session, ContinuousClock.now))
            return true
        }
    }
}

/// One SMTP reply: its code and text lines.
struct SMTPReply: Sendable {
    var code: Int
    var lines: [String]
}

/// The connection: a handler turns bytes into replies and hands them to waiting commands in order.
final class SMTPSession: Sendable {
    let channel: any Channel
    let replies: SMTPReplyHandler

    private init(channel: any Channel, replies: SMTPReplyHandler) {
        self.channel = channel
        self.replies = replies
    }

    static func connect(host: String, port: Int) async throws -> SMTPSession {
        let handler = SMTPReplyHandler()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(host: host, port: port).get()
            return SMTPSession(channel: channel, replies: handler)
        } catch {
            throw SMTPError(code: 0, message: "cannot connect to \(host):\(port): \(error)")
        }
    }

    /// The next reply; a server silent for 60 s gets its connection closed (the wait then fails).
    func reply() async throws -> SMTPReply {
        let channel = self.channel
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(60)) { channel.close(promise: nil) }
        defer { timeout.cancel() }
        return try await self.replies.next()
    }

    func command(_ line: String) async throws -> SMTPReply {
        var buffer = self.channel.allocator.buffer(capacity: line.utf8.count + 2)
        buffer.writeString(line + "\r\n")
        try await self.channel.writeAndFlush(buffer).get()
        return try await self.reply()
    }

    func expect(_ code: Int, _ reply: SMTPReply) async throws {
        guard reply.code == code else { throw SMTPError(code: reply.code, message: reply.lines.joined(separator: " ")) }
    }

    func startTLS(configuration: TLSConfiguration, hostname: String) async throws {
        let context = try NIOSSLContext(configuration: configuration)
        try await self.channel.eventLoop.submit {
            let tls = try NIOSSLClientHandler(
                context: context,
                serverHostname: hostname.first?.isNumber == true ? nil : hostname
            )
            try self.channel.pipeline.syncOperations.addHandler(tls, position: .first)
        }.get()
    }

    func close() async {
        try? await self.channel.close().get()
    }
}

/// Collects reply lines (`250-…` continues, `250 …` ends) and delivers each reply to the next waiter.
final class SMTPReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct State {
        var pending = ""
        var lines: [String] = []
        var ready: [Result<SMTPReply, SMTPError>] = []
        var waiters: [CheckedContinuation<SMTPReply, any Error>] = []
        /// The connection is gone: a reply asked for now would never come.
        var closed = false
    }
    private let state = Mutex(State())

    func next() async throws -> SMTPReply {
        try await withCheckedThrowingContinuation { continuation in
            let ready = self.state.withLock { state -> Result<SMTPReply, SMTPError>? in
                if !state.ready.isEmpty { return state.ready.removeFirst() }
                if state.closed { return .failure(SMTPError(code: 0, message: "the server closed the connection")) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    private func deliver(_ result: Result<SMTPReply, SMTPError>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<SMTPReply, any Error>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.ready.append(result)
            return nil
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        let text = buffer.readString(length: buffer.readableBytes) ?? ""
        var replies: [SMTPReply] = []
        self.state.withLock { state in
            state.pending += text
            while let range = state.pending.range(of: "\r\n") {
                let line = String(state.pending[..<range.lowerBound])
                state.pending = String(state.pending[range.upperBound...])
                let code = Int(line.prefix(3)) ?? 0
                state.lines.append(String(line.dropFirst(4)))
                if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] == " " {
                    replies.append(SMTPReply(code: code, lines: state.lines))
                    state.lines = []
                }
            }
        }
        for reply in replies { self.deliver(.success(reply)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<SMTPReply, any Error>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            waiter.resume(throwing: SMTPError(code: 0, message: "the server closed the connection"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<SMTPReply, any Error>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: SMTPError(code: 0, message: "\(error)")) }
        context.close(promise: nil)
    }
}
