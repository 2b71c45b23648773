#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The size and free space of the file system holding a path (`statvfs`), for disk-use reports and alerts.
public struct DiskUsage: Sendable, Equatable {
    /// Bytes of the whole file system.
    public let totalBytes: UInt64
    /// Bytes an unprivileged writer can still use (what an append can count on).
    public let availableBytes: UInt64

    /// The fraction in use, 0...1, from the available bytes.
    public var usedFraction: Double {
        self.totalBytes == 0 ? 0 : 1 - Double(self.availableBytes) / Double(self.totalBytes)
    }

    /// - Throws: `.io` naming the path when `statvfs` fails.
    public static func of(_ path: String) throws(LedgerError) -> DiskUsage {
        var info = statvfs()
        _ = try syscall("statvfs", path: path) { statvfs(path, &info) }
        let block = UInt64(info.f_frsize)
        return DiskUsage(totalBytes: UInt64(info.f_blocks) * block, availableBytes: UInt64(info.f_bavail) * block)
    }
}
