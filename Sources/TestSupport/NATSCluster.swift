import Foundation

/// Three real `nats-server`s (Debian's package) clustered with JetStream on loopback ports, each with its own
/// store directory under a temporary directory, for tests and benchmarks. Nodes can be killed (SIGKILL), paused
/// (SIGSTOP) and restarted on the same ports and store.
public final class NATSCluster: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let clientPorts: [Int]
    public let routePorts: [Int]
    private var processes: [Process?]
    private let lock = NSLock()

    /// Why a cluster could not start.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The server binary, or nil when it is not installed (`scripts/setup.sh --test` installs it).
    public static var serverPath: String? {
        ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    public init(nodes: Int = 3) throws {
        guard Self.serverPath != nil else { throw Unavailable(description: "nats-server is not installed") }
        self.directory = TemporaryDirectory("nats")
        self.clientPorts = (0..<nodes).map { _ in freeLoopbackPort() }
        self.routePorts = (0..<nodes).map { _ in freeLoopbackPort() }
        self.processes = Array(repeating: nil, count: nodes)
        for node in 0..<nodes { try self.start(node) }
    }

    deinit {
        for node in self.processes.indices { self.kill(node) }
    }

    /// `nats://127.0.0.1:port` of every node.
    public var urls: [String] { self.clientPorts.map { "nats://127.0.0.1:\($0)" } }

    public func name(_ node: Int) -> String { "n\(node + 1)" }

    /// Starts (or restarts) a node on its ports and store.
    public func start(_ node: Int) throws {
        let store = self.directory.file("store-\(node)")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let routes = self.routePorts.enumerated().filter { $0.offset != node }
            .map { "nats-route://127.0.0.1:\($0.element)" }.joined(separator: ", ")
        let config = """
            server_name: \(self.name(node))
            listen: 127.0.0.1:\(self.clientPorts[node])
            jetstream {
              store_dir: "\(store)"
              max_memory_store: 64MB
              max_file_store: 4GB
            }
            cluster {
              name: stockboom-test
              listen: 127.0.0.1:\(self.routePorts[node])
              routes: [\(routes)]
            }
            """
        let path = self.directory.file("n\(node + 1).conf")
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.serverPath!)
        process.arguments = ["-c", path]
        let output = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = output
        process.standardError = (try? self.logHandle(node)) ?? output
        try process.run()
        self.lock.withLock { self.processes[node] = process }
    }

    private func logHandle(_ node: Int) throws -> FileHandle {
        let path = self.directory.file("n\(node + 1).log")
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        return handle
    }

    /// SIGKILLs a node (no-op if it is not running).
    public func kill(_ node: Int) {
        guard let process = self.lock.withLock({ self.processes[node] }) else { return }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGCONT)
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.lock.withLock { self.processes[node] = nil }
    }

    public func isRunning(_ node: Int) -> Bool { self.lock.withLock { self.processes[node]?.isRunning ?? false } }
}
