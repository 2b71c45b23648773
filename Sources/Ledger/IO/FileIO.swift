#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a system call, retrying on EINTR, and converts failures into `LedgerError`.
///
/// One place for the error policy of every call the log makes (SwiftNIO's `syscall` wrapper pattern):
/// ENOSPC and EDQUOT become `.diskFull` so the caller can refuse an append cleanly; anything else is `.io`.
@inline(__always)
func syscall<T: BinaryInteger>(
    _ what: @autoclosure () -> String,
    path: String,
    _ body: () -> T
) throws(LedgerError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        let reason = String(cString: strerror(code))
        if code == ENOSPC || code == EDQUOT {
            throw LedgerError(
                code: .diskFull,
                message: "\(what()) failed: \(reason)",
                path: path,
                errno: code
            )
        }
        throw LedgerError(code: .io, message: "\(what()) failed: \(reason)", path: path, errno: code)
    }
}

/// An open file descriptor with positional reads and writes.
///
/// Positional I/O (`pread`/`pwrite`) means a descriptor can be shared by the writer and many readers
/// without a shared file position. The descriptor is closed on `deinit`.
final class FileHandle: Sendable {
    let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        precondition(descriptor >= 0)
        self.descriptor = descriptor
        self.path = path
    }

    deinit { _ = Glibc.close(self.descriptor) }

    /// Opens an existing file for reading (and writing when `writable`).
    static func open(_ path: String, writable: Bool) throws(LedgerError) -> FileHandle {
        let flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC
        let descriptor = try syscall("open", path: path) { Glibc.open(path, flags) }
        return FileHandle(descriptor: descriptor, path: path)
    }

    /// Creates a new file; fails if it exists, so two writers can never both create a segment.
    static func create(_ path: String) throws(LedgerError) -> FileHandle {
        let descriptor = try syscall("create", path: path) {
            // the log holds what people did: not world-readable
            Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        }
        return FileHandle(descriptor: descriptor, path: path)
    }

    /// The current size of the file in bytes.
    func size() throws(LedgerError) -> UInt64 {
        var info = stat()
        _ = try syscall("fstat", path: self.path) { fstat(self.descriptor, &info) }
        return UInt64(info.st_size)
    }

    /// Reads exactly `buffer.count` bytes at `position`, or fewer only at end of file. Returns the count read.
    func read(into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws(LedgerError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = try syscall("pread", path: self.path) {
                pread(self.descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(position) + off_t(done))
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Reads up to `count` bytes at `position` into a new array (shorter at end of file).
    func read(count: Int, at position: UInt64) throws(LedgerError) -> [UInt8] {
        precondition(count >= 0)
        var bytes = [UInt8](repeating: 0, count: count)
        let done = try typed {
            try bytes.withUnsafeMutableBytes { buffer in try self.read(into: buffer, at: position) }
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// Writes all of `bytes` at `position`.
    func write(_ bytes: UnsafeRawBufferPointer, at position: UInt64) throws(LedgerError) {
        var done = 0
        while done < bytes.count {
            let count = try syscall("pwrite", path: self.path) {
                pwrite(self.descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(position) + off_t(done))
            }
            precondition(count > 0, "pwrite returned 0 for a non-empty buffer")
            done += count
        }
    }

    func write(_ bytes: [UInt8], at position: UInt64) throws(LedgerError) {
        try typed { try bytes.withUnsafeBytes { buffer in try self.write(buffer, at: position) } }
    }

    /// Forces written data (not necessarily metadata such as mtime) to stable storage.
    func syncData() throws(LedgerError) {
        _ = try syscall("fdatasync", path: self.path) { fdatasync(self.descriptor) }
    }

    /// Forces data and metadata to stable storage.
    func sync() throws(LedgerError) {
        _ = try syscall("fsync", path: self.path) { fsync(self.descriptor) }
    }

    /// Cuts the file to `size` bytes.
    func truncate(to size: UInt64) throws(LedgerError) {
        _ = try syscall("ftruncate", path: self.path) { ftruncate(self.descriptor, off_t(size)) }
    }

    /// Takes an exclusive advisory lock without waiting; returns false if another process holds it.
    func tryLock() throws(LedgerError) -> Bool {
        while true {
            if flock(self.descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK { return false }
            throw LedgerError(code: .io, message: "flock failed", path: self.path, errno: code)
        }
    }
}

/// Small file-system helpers used by the log and the snapshot store.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its parents if missing.
    static func createDirectory(_ path: String) throws(LedgerError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw LedgerError(code: .io, message: "mkdir failed", path: prefix, errno: errno)
            }
        }
    }

    /// Lists the names in a directory (not recursive), sorted.
    static func list(_ path: String) throws(LedgerError) -> [String] {
        guard let directory = opendir(path) else {
            let code = errno
            throw LedgerError(
                code: code == ENOENT ? .notFound : .io,
                message: "cannot list directory",
                path: path,
                errno: code
            )
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// fsyncs a directory so that creations, renames and removals in it are durable.
    static func syncDirectory(_ path: String) throws(LedgerError) {
        let handle = try FileHandle.open(path, writable: false)
        try handle.sync()
    }

    static func remove(_ path: String) throws(LedgerError) {
        _ = try syscall("unlink", path: path) { unlink(path) }
    }

    static func rename(_ source: String, _ target: String) throws(LedgerError) {
        _ = try syscall("rename to \(target)", path: source) { Glibc.rename(source, target) }
    }

    static func size(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_size) : nil
    }

    /// Writes a whole file atomically: temporary file, fsync, rename, fsync of the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(LedgerError) {
        let temporary = path + ".tmp"
        if Self.exists(temporary) { try Self.remove(temporary) }
        let handle = try FileHandle.create(temporary)
        try handle.write(bytes, at: 0)
        try handle.sync()
        try Self.rename(temporary, path)
        try Self.syncDirectory(directory)
    }
}

/// Wall-clock time in microseconds since the Unix epoch (UTC).
public func wallClockMicros() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
}

/// Monotonic time in nanoseconds, for measuring durations.
public func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
