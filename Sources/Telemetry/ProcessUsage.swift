import Foundation

/// Process CPU and memory from /proc, for `process_cpu_usage_percent` and `process_memory_usage_bytes`.
public final class ProcessUsage: @unchecked Sendable {
    // @unchecked: the two stored samples are only touched under `lock`.
    private let lock = NSLock()
    private var lastCPUTicks: Double = 0
    private var lastWall: Double = 0

    public init() {}

    /// CPU used by this process since the previous call, in percent of one core.
    public func cpuPercent() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        let ticks = user + system
        let wall = ProcessInfo.processInfo.systemUptime
        self.lock.lock()
        defer { self.lock.unlock() }
        defer {
            self.lastCPUTicks = ticks
            self.lastWall = wall
        }
        guard self.lastWall > 0, wall > self.lastWall else { return 0 }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (ticks - self.lastCPUTicks) / hertz / (wall - self.lastWall) * 100
    }

    /// Resident set size in bytes.
    public func residentBytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}
