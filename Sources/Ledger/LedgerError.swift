/// Every operating error the log can report.
///
/// A struct over a private code so that new cases can be added without breaking callers, and so that
/// every error carries the context an operator needs at 3 a.m.: which file, which byte position,
/// which offset, which errno.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, comparable with `==`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case io, corrupt, locked, closed, invalidArgument, notFound, tooLarge, diskFull, unsupportedVersion
            case unavailable
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed (see `errno`).
        public static let io = Code(.io)
        /// A checksum, chain link, magic number or structural check failed on data read from disk.
        public static let corrupt = Code(.corrupt)
        /// Another process holds the writer lock of this log directory.
        public static let locked = Code(.locked)
        /// The log was closed, or its writer stopped after a fatal write error.
        public static let closed = Code(.closed)
        /// The caller passed an argument outside the documented limits.
        public static let invalidArgument = Code(.invalidArgument)
        /// The requested offset, time or file does not exist.
        public static let notFound = Code(.notFound)
        /// A record, append or snapshot exceeds a documented size limit.
        public static let tooLarge = Code(.tooLarge)
        /// The file system is full (ENOSPC or EDQUOT); nothing partial was acknowledged.
        public static let diskFull = Code(.diskFull)
        /// The data was written by a format version this build cannot read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The log's replication could not take the write (stream quorum lost, or this node is no longer the
        /// primary); nothing of it was acknowledged or made visible. An operating condition: appends succeed again
        /// once the cause is gone.
        public static let unavailable = Code(.unavailable)

        public var description: String {
            switch self.base {
            case .io: "io"
            case .corrupt: "corrupt"
            case .locked: "locked"
            case .closed: "closed"
            case .invalidArgument: "invalid-argument"
            case .notFound: "not-found"
            case .tooLarge: "too-large"
            case .diskFull: "disk-full"
            case .unsupportedVersion: "unsupported-version"
            case .unavailable: "unavailable"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence a person can act on.
    public let message: String
    /// The file involved, if any.
    public let path: String?
    /// The byte position inside `path`, if known.
    public let position: UInt64?
    /// The system errno, for `.io` and `.diskFull`.
    public let errno: Int32?

    /// Creates an error; prefer the static helpers.
    public init(code: Code, message: String, path: String? = nil, position: UInt64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.position = position
        self.errno = errno
    }

    public var description: String {
        var text = "\(self.code): \(self.message)"
        if let path = self.path {
            text += " [file \(path)"
            if let position = self.position { text += " at byte \(position)" }
            text += "]"
        }
        if let errno = self.errno { text += " (errno \(errno))" }
        return text
    }

    static func corrupt(_ message: String, path: String, position: UInt64) -> LedgerError {
        LedgerError(code: .corrupt, message: message, path: path, position: position)
    }

    static func invalid(_ message: String) -> LedgerError {
        LedgerError(code: .invalidArgument, message: message)
    }
}

/// Runs a closure that can only throw `LedgerError` through APIs (such as `Array.withUnsafeBytes`) whose
/// signatures erase the error type, and restores the type.
@inline(__always)
func typed<T>(_ body: () throws -> T) throws(LedgerError) -> T {
    do {
        return try body()
    } catch let error as LedgerError {
        throw error
    } catch {
        preconditionFailure("only LedgerError can be thrown here, got \(error)")
    }
}
