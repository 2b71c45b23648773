internal import CLibPQ
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL error with the server's SQLSTATE when there is one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Five-character SQLSTATE (`23505` unique violation, `57P01` admin shutdown, …), or nil for client errors.
    public let sqlState: String?
    public let message: String

    public init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String {
        self.sqlState.map { "PostgreSQL \($0): \(self.message)" } ?? "PostgreSQL: \(self.message)"
    }
}

/// A notice or warning the server sent on a connection (`WARNING: there is no transaction in progress`, a
/// `NOTICE` of a DDL statement): not an error, but not to be lost or printed raw on standard error either.
public struct PostgresNotice: Sendable, Equatable {
    /// `WARNING`, `NOTICE`, `INFO`, `LOG` or `DEBUG` (not localized).
    public var severity: String
    public var sqlState: String?
    public var message: String

    public init(severity: String, sqlState: String?, message: String) {
        self.severity = severity
        self.sqlState = sqlState
        self.message = message
    }

    /// The default: a line of the process's log (JSON in the command-line programs), at the notice's level.
    public static let log: @Sendable (PostgresNotice) -> Void = { notice in
        var metadata: Logger.Metadata = ["severity": .string(notice.severity)]
        if let state = notice.sqlState { metadata["sqlstate"] = .string(state) }
        let level: Logger.Level =
            switch notice.severity {
            case "WARNING": .warning
            case "NOTICE": .notice
            case "INFO", "LOG": .info
            default: .debug
            }
        PostgresNotice.logger.log(level: level, "PostgreSQL: \(notice.message)", metadata: metadata)
    }
    private static let logger = Logger(label: "postgres")
}

/// Holds a connection's notice handler for libpq's receiver (a C function, reached through its `arg`).
private final class NoticeSink: Sendable {
    let handle: @Sendable (PostgresNotice) -> Void
    init(_ handle: @escaping @Sendable (PostgresNotice) -> Void) { self.handle = handle }

    static let receiver: PQnoticeReceiver = { argument, result in
        guard let argument, let result else { return }
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let notice = PostgresNotice(
            severity: field("V") ?? field("S") ?? "NOTICE",
            sqlState: field("C"),
            message: field("M") ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters()
        )
        Unmanaged<NoticeSink>.fromOpaque(argument).takeUnretainedValue().handle(notice)
    }
}

/// The rows of a query, as text (libpq's text format), NULL as nil.
public struct PostgresRows: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (`PQcmdTuples`), or 0.
    public let affected: Int
}

/// One libpq connection. Blocking: call it from a dedicated thread, never from the cooperative pool.
///
/// The `PGconn *` lives inside a `Mutex`, so the class is `Sendable` without `@unchecked`, and every call is
/// serialised on it. Values always travel as parameters (`PQexecParams`): no SQL is ever built from values.
public final class PostgresConnection: Sendable {
    private let connection: Mutex<OpaquePointer>
    private let notices: NoticeSink

    /// Connects with a libpq connection string or URL (`postgresql://user@host:port/db`; a `connection_limit`
    /// parameter is the pool's business, not libpq's: see `PostgresURL`).
    /// - Parameter notices: what happens to the server's notices and warnings (by default, log lines).
    public init(url: String, notices: @escaping @Sendable (PostgresNotice) -> Void = PostgresNotice.log)
        throws(PostgresError)
    {
        let url = try PostgresURL.split(url).url
        guard let raw = PQconnectdb(url) else {
            throw PostgresError(sqlState: nil, message: "libpq could not allocate a connection")
        }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(raw)).trimmingCharacters()
            PQfinish(raw)
            throw PostgresError(sqlState: nil, message: message)
        }
        let sink = NoticeSink(notices)
        // The sink outlives the receiver: PQfinish runs in deinit, before the stored properties are released.
        PQsetNoticeReceiver(raw, NoticeSink.receiver, Unmanaged.passUnretained(sink).toOpaque())
        self.notices = sink
        self.connection = Mutex(raw)
    }

    deinit { self.connection.withLock { PQfinish($0) } }

    /// Runs one statement with `$1…$n` parameters bound to `parameters` (text format; nil is NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        try self.connection.withLock { raw throws(PostgresError) -> PostgresRows in
            var owned: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup(PostgresText.safe($0)) } }
            defer { for pointer in owned { free(pointer) } }
            let result = owned.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buffer.count, 1)) {
                    values in
                    PQexecParams(raw, sql, Int32(parameters.count), nil, parameters.isEmpty ? nil : values, nil, nil, 0)
                }
            }
            return try Self.consume(result, connection: raw)
        }
    }

    /// Runs one or more statements without parameters (DDL, `BEGIN`, `COMMIT`).
    public func execute(_ sql: String) throws(PostgresError) {
        try self.connection.withLock { raw throws(PostgresError) in
            _ = try Self.consume(PQexec(raw, sql), connection: raw)
        }
    }

    /// Streams `data` (text or CSV, as `copyStatement` says) through `COPY … FROM STDIN`.
    ///
    /// - Returns: the number of rows copied.
    @discardableResult
    public func copyIn(_ copyStatement: String, data: [UInt8]) throws(PostgresError) -> Int {
        try self.connection.withLock { raw throws(PostgresError) -> Int in
            let start = PQexec(raw, copyStatement)
            guard PQresultStatus(start) == PGRES_COPY_IN else {
                _ = try Self.consume(start, connection: raw)
                throw PostgresError(sqlState: nil, message: "\(copyStatement) did not start a COPY")
            }
            PQclear(start)
            let chunk = 1 << 20
            var index = 0
            while index < data.count {
                let end = min(index + chunk, data.count)
                let sent = data[index..<end].withUnsafeBytes { bytes in
                    PQputCopyData(raw, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
                }
                guard sent == 1 else {
                    throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(raw)))
                }
                index = end
            }
            guard PQputCopyEnd(raw, nil) == 1 else {
                throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(raw)))
            }
            var affected = 0
            while let result = PQgetResult(raw) {
                affected += try Self.consume(result, connection: raw).affected
            }
            return affected
        }
    }

    /// The server's process id for this session (for `pg_terminate_backend` in fault tests).
    public var backendPID: Int32 { self.connection.withLock { PQbackendPID($0) } }

    /// False once the connection to the server is lost (the owner should open a new one).
    public var isHealthy: Bool { self.connection.withLock { PQstatus($0) == CONNECTION_OK } }

    private static func consume(_ result: OpaquePointer?, connection: OpaquePointer) throws(PostgresError)
        -> PostgresRows
    {
        guard let result else {
            throw PostgresError(
                sqlState: nil,
                message: String(cString: PQerrorMessage(connection)).trimmingCharacters()
            )
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters()
            throw PostgresError(sqlState: state, message: message)
        }
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            rows.append(
                (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            )
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affected: affected)
    }
}

extension String {
    func trimmingCharacters() -> String {
        String(self.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}

extension PostgresConnection {
    /// Drops (if present) and creates database `name` on the server of `serverURL`; returns its URL.
    /// For benchmarks and tests that need a database of their own.
    public static func recreateDatabase(_ name: String, serverURL: String) throws(PostgresError) -> String {
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "a plain identifier")
        let admin = try PostgresConnection(url: serverURL)
        try admin.execute("SET client_min_messages TO warning")
        try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(name)")
        guard let slash = serverURL.lastIndex(of: "/") else {
            throw PostgresError(sqlState: nil, message: "the database URL names no database: \(serverURL)")
        }
        return String(serverURL[..<slash]) + "/" + name
    }
}
