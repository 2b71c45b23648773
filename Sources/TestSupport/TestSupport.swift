import Foundation

/// Helpers shared by the test targets (postgres-nio's `_ConnectionPoolTestUtils` pattern). Not shipped.

/// A fresh directory under the system temp dir, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: the only stored property is an immutable String.
    public let path: String

    public init(_ name: String = "test") {
        var template = Array((NSTemporaryDirectory() + "stockboom-\(name)-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(cString: template)
    }

    deinit { try? FileManager.default.removeItem(atPath: self.path) }

    public func file(_ name: String) -> String { self.path + "/" + name }

    public func files(withSuffix suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []).filter { $0.hasSuffix(suffix) }.sorted().map { self.path + "/" + $0 }
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
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: self.path]) }
    }

    /// Fills the file system with a file of `bytes` (or until it is full); returns its path.
    public func fill(_ name: String, bytes: Int) -> String {
        let path = self.path + "/" + name
        FileManager.default.createFile(atPath: path, contents: nil)
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
public func stockboomExecutable() throws -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("stockboom").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/stockboom"
    guard FileManager.default.isExecutableFile(atPath: fallback) else { throw MissingExecutable() }
    return fallback
}

/// Runs `stockboom` with arguments and standard input; returns (exit code, stdout, stderr).
public func runStockboom(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try stockboomExecutable())
    process.arguments = arguments
    process.environment = environment.merging(["SWIFT_BACKTRACE": "enable=no", "PATH": "/usr/bin:/bin"]) { $1 }
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    let errors = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
}

/// Starts `stockboom` with `arguments`, lets it work for `microseconds`, SIGKILLs it, and returns the complete
/// lines it printed (a line cut by the kill is dropped: it was never fully acknowledged).
public func runAndKill(_ arguments: [String], after microseconds: UInt32) throws -> [Substring] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try stockboomExecutable())
    process.arguments = arguments
    process.environment = ["SWIFT_BACKTRACE": "enable=no"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    usleep(microseconds)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    guard process.terminationReason == .uncaughtSignal else { throw ChildExitedEarly(status: process.terminationStatus) }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return Array(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast())
}

public struct ChildExitedEarly: Error, CustomStringConvertible {
    public let status: Int32
    public var description: String { "the child exited by itself (status \(self.status)) before it was killed" }
}

/// A TCP port on 127.0.0.1 that nothing listens on now: the kernel picks it (bind to port 0), the socket is
/// closed, the port is returned. Better than a random pick inside the ephemeral range, where outgoing
/// connections and other servers' port-0 binds live.
public func freeLoopbackPort() -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return Int.random(in: 20_000...29_999) }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { return Int.random(in: 20_000...29_999) }
    return Int(UInt16(bigEndian: address.sin_port))
}
