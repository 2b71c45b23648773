/// Text as PostgreSQL can hold it. A `text` value cannot contain NUL (22021 `invalid byte sequence`), and libpq
/// passes parameters as C strings, so a NUL would cut the value short. The engine refuses NUL in what it
/// records now (`Bounds`), but a log written before that may hold it: such an event must still project and
/// rebuild, so every value written to PostgreSQL passes through here (NUL → U+FFFD, visibly replaced).
public enum PostgresText {
    public static func safe(_ value: String) -> String {
        guard value.utf8.contains(0) else { return value }
        return String(decoding: value.utf8.flatMap { $0 == 0 ? [0xEF, 0xBF, 0xBD] : [$0] }, as: UTF8.self)
    }
}

/// Rows for `COPY … FROM STDIN` (text format), built without any per-value SQL.
public struct CopyRows: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var count = 0

    public init() {}

    /// Appends one row; nil is SQL NULL. Backslash, tab, newline and carriage return are escaped.
    public mutating func append(_ values: [String?]) {
        for (index, value) in values.enumerated() {
            if index > 0 { self.bytes.append(9) }
            guard let value else {
                self.bytes.append(contentsOf: [92, 78])  // \N
                continue
            }
            // Most values need no escaping: append them in one piece (per-byte appends were a measured cost).
            if !value.utf8.contains(where: { $0 == 92 || $0 == 9 || $0 == 10 || $0 == 13 || $0 == 0 }) {
                self.bytes.append(contentsOf: value.utf8)
                continue
            }
            for byte in value.utf8 {
                switch byte {
                case 92: self.bytes.append(contentsOf: [92, 92])
                case 9: self.bytes.append(contentsOf: [92, 116])
                case 10: self.bytes.append(contentsOf: [92, 110])
                case 13: self.bytes.append(contentsOf: [92, 114])
                case 0: self.bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // see PostgresText
                default: self.bytes.append(byte)
                }
            }
        }
        self.bytes.append(10)
        self.count += 1
    }

    public var isEmpty: Bool { self.count == 0 }
}

extension PostgresConnection {
    /// Upserts rows into `table` through a staging table and COPY: one round trip for any number of rows.
    ///
    /// Must run inside a transaction (the staging table empties itself on commit).
    /// - Parameters:
    ///   - key: the primary-key columns (conflict target); every other column is updated from the new row…
    ///   - keep: …except these, written when the row is inserted and never changed (a row's creation time).
    /// - Returns: true when the rows went in through the insert-first fast path (no conflicting key).
    @discardableResult
    public func upsert(
        _ table: String,
        columns: [String],
        key: [String],
        keep: [String] = [],
        rows: CopyRows,
        insertFirst: Bool = false
    ) throws(PostgresError) -> Bool {
        guard !rows.isEmpty else { return insertFirst }
        let quotedColumns = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        if insertFirst {
            // Fast path for rows that are almost always new (a rebuild, a stream of fresh candles): COPY straight
            // into the table; on a key conflict roll back to the savepoint and take the upsert path.
            try self.execute("SAVEPOINT upsert_fast")
            do {
                try self.copyIn("COPY \(table) (\(quotedColumns)) FROM STDIN", data: rows.bytes)
                try self.execute("RELEASE SAVEPOINT upsert_fast")
                return true
            } catch  where error.sqlState == "23505" {
                try self.execute("ROLLBACK TO SAVEPOINT upsert_fast")
            }
        }
        precondition(key.allSatisfy(columns.contains), "the key must be among the columns")
        let staging = "stage_" + table
        let quoted = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        try self.execute(
            "CREATE TEMP TABLE IF NOT EXISTS \(staging) (LIKE \(table) INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        try self.copyIn("COPY \(staging) (\(quoted)) FROM STDIN", data: rows.bytes)
        let updates = columns.filter { !key.contains($0) && !keep.contains($0) }.map {
            "\"\($0)\" = EXCLUDED.\"\($0)\""
        }.joined(separator: ", ")
        let conflict = key.map { "\"\($0)\"" }.joined(separator: ", ")
        try self.execute(
            "INSERT INTO \(table) (\(quoted)) SELECT \(quoted) FROM \(staging) ON CONFLICT (\(conflict)) DO \(updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates)"
        )
        // Emptied for a second upsert in this transaction; DELETE, not TRUNCATE (a new file each time), as the
        // commit truncates the table anyway (ON COMMIT DELETE ROWS), dead rows included.
        try self.execute("DELETE FROM \(staging)")
        return false
    }
}
