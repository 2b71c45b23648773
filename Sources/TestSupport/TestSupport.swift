public import Foundation
import Storage
import Synchronization

/// Helpers shared by the test targets (postgres-nio's `_ConnectionPoolTestUtils` pattern). Not shipped.

/// A fresh directory under the system temp dir, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: the only stored property is an immutable String.
    public let path: String

    public init(_ name: String = "test") {
        var template = Array((NSTemporaryDirectory() + "stockboom-\(name)-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Kept when `STOCKBOOM_KEEP_TEMP=1` (to read a failed run's logs afterwards).
    deinit {
        guard ProcessInfo.processInfo.environment["STOCKBOOM_KEEP_TEMP"] != "1" else { return }
        try? FileManager.default.removeItem(atPath: self.path)
    }

    public func file(_ name: String) -> String { self.path + "/" + name }

    public func files(withSuffix suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []).filter { $0.hasSuffix(suffix) }
            .sorted().map { self.path + "/" + $0 }
    }
}

/// A tmpfs of a few MiB of the test's own, mounted at a temporary directory and unmounted on `deinit`: a disk
/// that really fills up (ENOSPC) without touching the machine's disks. Needs root (mount); `available` says
/// whether this process may mount.
public final class SmallFileSystem: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let path: String
    private let directory: TemporaryDirectory

    public static var available: Bool { getuid() == 0 }

    public init(megabytes: Int, _ name: String = "smallfs") throws {
        self.directory = TemporaryDirectory(name)
        self.path = self.directory.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", self.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: self.path])
        }
    }

    /// Fills the file system with a file of `bytes` (or until it is full); returns its path.
    public func fill(_ name: String, bytes: Int) -> String {
        let path = self.path + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        if let handle = FileHandle(forWritingAtPath: path) {
            let chunk = Data(count: 64 << 10)
            var written = 0
            while written < bytes {
                do { try handle.write(contentsOf: chunk) } catch { break }
                written += chunk.count
            }
            try? handle.close()
        }
        return path
    }

    deinit {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = ["-l", self.path]
        try? process.run()
        process.waitUntilExit()
    }
}

/// A deterministic pseudo-random generator (SplitMix64), so failures reproduce from the printed seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_E29B
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public var description: String { "the stockboom executable is not built: run `swift build` first" }
}

/// The `stockboom` executable built next to the test bundle.
public func stockboomExecutable(_ name: String = "stockboom") throws -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/" + name
    guard FileManager.default.isExecutableFile(atPath: fallback) else { throw MissingExecutable() }
    return fallback
}

/// A child's standard output (or error, or input) in a temporary file instead of a pipe. A pipe's write end
/// is inherited by any process spawned elsewhere in this process while it is open (a `Pipe` is not
/// close-on-exec), so a long-lived child started at that moment — a restarted PostgreSQL, a `serve` — keeps
/// it, and a reader waiting for the end of the pipe waits for that child to exit: the fault suite hung so.
/// A file has no end to wait for: wait for the child, then read the file.
public final class OutputFile: @unchecked Sendable {
    // @unchecked: set once in init.
    public let path: String
    public let handle: FileHandle

    /// An empty file for a child to write; with `contents`, a file for it to read (its standard input).
    public init(contents: String? = nil) {
        self.path = NSTemporaryDirectory() + "stockboom-output-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: self.path, contents: contents.map { Data($0.utf8) } ?? Data())
        self.handle =
            contents == nil ? FileHandle(forWritingAtPath: self.path)! : FileHandle(forReadingAtPath: self.path)!
    }

    /// What the child wrote so far.
    public var text: String {
        String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: self.path))) ?? Data(), as: UTF8.self)
    }

    deinit {
        try? self.handle.close()
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// Runs `stockboom` with arguments and standard input; returns (exit code, stdout, stderr).
/// The child runs off the cooperative pool (`blocking`): a test waiting for it leaves both of the pool's threads
/// to the in-process servers of the tests running beside it.
public func runStockboom(
    _ arguments: [String],
    input: String = "",
    environment: [String: String] = [:],
    program: String = "stockboom"
) async throws -> (Int32, String, String) {
    try await onOwnThread {
        try runStockboomWaiting(arguments, input: input, environment: environment, program: program)
    }
}

private func runStockboomWaiting(_ arguments: [String], input: String, environment: [String: String], program: String)
    throws -> (Int32, String, String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try stockboomExecutable(program))
    process.arguments = arguments
    process.environment = environment.merging(["SWIFT_BACKTRACE": "enable=no", "PATH": "/usr/bin:/bin"]) { $1 }
    let stdin = OutputFile(contents: input)
    let stdout = OutputFile()
    let stderr = OutputFile()
    process.standardInput = stdin.handle
    process.standardOutput = stdout.handle
    process.standardError = stderr.handle
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus, stdout.text, stderr.text)
}

/// Starts `stockboom` with `arguments`, lets it work for `microseconds`, SIGKILLs it, and returns the complete
/// lines it printed (a line cut by the kill is dropped: it was never fully acknowledged).
/// - Parameter started: when given, the delay counts from the child's first output line starting with it (at
///   most 30 s later): on a loaded machine a cold start alone can take longer than the delay.
public func runAndKill(
    _ arguments: [String],
    after microseconds: UInt32,
    startedWhen started: String? = nil,
    program: String = "stockboom"
) async throws -> [Substring] {
    try await onOwnThread {
        try runAndKillWaiting(arguments, after: microseconds, startedWhen: started, program: program)
    }
}

private func runAndKillWaiting(
    _ arguments: [String],
    after microseconds: UInt32,
    startedWhen started: String?,
    program: String
) throws -> [Substring] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try stockboomExecutable(program))
    process.arguments = arguments
    process.environment = ["SWIFT_BACKTRACE": "enable=no"]
    let output = OutputFile()
    process.standardOutput = output.handle
    process.standardError = FileHandle.nullDevice
    try process.run()
    if let started {
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline,
            !output.text.split(separator: "\n").contains(where: { $0.hasPrefix(started) })
        { usleep(5_000) }
    }
    usleep(microseconds)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    guard process.terminationReason == .uncaughtSignal else {
        throw ChildExitedEarly(status: process.terminationStatus)
    }
    let text = output.text
    return Array(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast())
}

public struct ChildExitedEarly: Error, CustomStringConvertible {
    public let status: Int32
    public var description: String { "the child exited by itself (status \(self.status)) before it was killed" }
}

/// A loopback TCP port nothing listens on, for a server a test starts. Chosen below the kernel's ephemeral range
/// (`ip_local_port_range`), so that no outgoing connection of a parallel test can be holding it, and never the same
/// port twice in one test process, so that two servers started at once by parallel tests cannot be handed the same
/// one (a CI run once had an SMTP sink answer Prometheus on Alertmanager's port). Checked by binding it.
public func freeLoopbackPort() -> Int {
    let low = 10_000
    let high = ephemeralPortRangeStart - 1
    for _ in 0..<1_000 {
        let candidate = Int.random(in: low...high)
        let fresh = handedOutPorts.withLock { $0.insert(candidate).inserted }
        if fresh && loopbackPortBinds(candidate) { return candidate }
    }
    preconditionFailure("no free loopback port between \(low) and \(high)")
}

private let handedOutPorts = Mutex<Set<Int>>([])

/// The first port the kernel hands to outgoing connections (`/proc/sys/net/ipv4/ip_local_port_range`).
private let ephemeralPortRangeStart: Int = {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let start = range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
    return max(start, 20_000)
}()

/// A loopback port that takes connections into its backlog and never answers: a peer that hangs (an engine, a
/// broker). Closing it resets the connections it never accepted, so a call hung on it fails at once.
public final class SilentListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard descriptor >= 0, listening else {
            if descriptor >= 0 { _ = Glibc.close(descriptor) }
            throw POSIXError(.EADDRINUSE)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a connection waits in the backlog: someone is calling (and waiting for an answer).
    public var isCalled: Bool {
        var entry = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1
    }

    public func close() { _ = Glibc.close(self.descriptor) }
}

/// Whether something accepts TCP connections on a loopback port now (a refused connect answers at once).
public func loopbackPortAccepts(_ port: Int) -> Bool { withLoopbackSocket(port, connect) }

private func loopbackPortBinds(_ port: Int) -> Bool { withLoopbackSocket(port, bind) }

/// `call` (connect or bind) on a fresh TCP socket with 127.0.0.1:`port`; whether it succeeded. The socket is closed.
private func withLoopbackSocket(
    _ port: Int,
    _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            call(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// A PostgreSQL server of the test's own (initdb on a free port), so that it can be SIGKILLed.
public final class PrivatePostgres: @unchecked Sendable {
    // @unchecked: set once in init.
    public let directory = TemporaryDirectory("private-pg")
    public let port = freeLoopbackPort()
    public let bin: String

    public var url: String { "postgresql://postgres@127.0.0.1:\(self.port)/stockboom" }
    public var data: String { self.directory.path + "/data" }

    public init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "PostgreSQL is not installed (/usr/lib/postgresql/*/bin)"]
            )
        }
        self.bin = "/usr/lib/postgresql/\(version)/bin"
        if getuid() == 0 { try Self.shell("chown -R postgres '\(self.directory.path)'") }
        try self.asPostgres(
            "'\(self.bin)/initdb' -D '\(self.data)' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 > '\(self.directory.path)/initdb.log' 2>&1"
        )
        try self.start()
        try self.asPostgres("'\(self.bin)/createdb' -h 127.0.0.1 -p \(self.port) -U postgres stockboom")
    }

    /// Starts the server; after a SIGKILL, retries while the killed postmaster's backends are still exiting
    /// (they hold its shared memory for a moment).
    public func start() throws {
        for _ in 0..<40 {
            if (try? self.startOnce()) != nil { return }
            usleep(250_000)
        }
        try self.startOnce()
    }

    private func startOnce() throws {
        try self.asPostgres(
            "'\(self.bin)/pg_ctl' -D '\(self.data)' -l '\(self.directory.path)/server.log' -w -t 60 -o \"-p \(self.port) -k '\(self.directory.path)' -c listen_addresses=127.0.0.1\" start > /dev/null 2>&1"
        )
    }

    /// SIGKILL of the postmaster (its children follow); returns once the port no longer answers.
    public func kill9() throws {
        let pidText = try String(contentsOfFile: self.data + "/postmaster.pid", encoding: .utf8)
        guard let pid = pidText.split(separator: "\n").first.flatMap({ Int32($0) }), kill(pid, SIGKILL) == 0 else {
            throw CocoaError(
                .fileReadCorruptFile,
                userInfo: [NSLocalizedDescriptionKey: "no postmaster to kill in \(self.data)/postmaster.pid"]
            )
        }
        for _ in 0..<200 {
            if (try? Self.shell("'\(self.bin)/pg_isready' -h 127.0.0.1 -p \(self.port) -q")) == nil { return }
            usleep(50_000)
        }
    }

    deinit {
        try? self.asPostgres("'\(self.bin)/pg_ctl' -D '\(self.data)' -m immediate -w stop > /dev/null 2>&1")
    }

    public func asPostgres(_ command: String) throws {
        try Self.shell(getuid() == 0 ? "su postgres -s /bin/sh -c \(Self.quote(command))" : command)
    }

    public static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// `sh -c command`, waited for; the child inherits standard input, output and error only.
    ///
    /// Not `system(3)`: that hands every open descriptor of this process to the child, and a daemon it leaves
    /// running (`pg_ctl start`'s postmaster) keeps them for its life. Among them are the sockets by which
    /// Foundation's `Process` learns that its other children exited — one held open makes that child's
    /// `waitUntilExit` wait forever, beside a zombie (the fault test's 12-minute hang: a `curl` never reaped).
    public static func shell(_ command: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        _ = addCloseFrom(&actions, 3)
        let words: [String] = ["/bin/sh", "-c", command]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, arguments, environ)
        guard spawned == 0 else {
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "spawn failed (\(spawned)): \(command)"]
            )
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "failed (\(status)): \(command)"])
        }
    }
}

/// glibc ≥ 2.34's `posix_spawn_file_actions_addclosefrom_np`, which its headers show only to `_GNU_SOURCE`
/// builds (Swift's Glibc module is not one).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// Waits for a child process on a thread of its own: such waits have no bound, so they stay off the
/// bounded `BlockingPool` the code under test uses.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }.start()
    }
}

/// A flag one task raises and others read, without a lock (a spinner reads it in a loop).
public final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    public init() {}
    public func raise() { self.value.store(true, ordering: .releasing) }
    public var isRaised: Bool { self.value.load(ordering: .acquiring) }
}

/// Holds every thread of the cooperative pool: twice as many tasks as it has threads, each computing without
/// suspending until `flag` is raised or `atMost` passes. True when the flag ended them all — what a test of
/// work that must go on beside a busy pool (a server's handler, the engine's writer) expects.
public func spinEveryCooperativeThread(until flag: Flag, atMost: Duration = .seconds(30)) async -> Bool {
    let spinners = 2 * ProcessInfo.processInfo.activeProcessorCount
    return await withTaskGroup(of: Bool.self) { group in
        for _ in 0..<spinners {
            group.addTask {
                let deadline = ContinuousClock.now + atMost
                while !flag.isRaised {
                    if ContinuousClock.now > deadline { return false }
                }
                return true
            }
        }
        return await group.reduce(true) { $0 && $1 }
    }
}
