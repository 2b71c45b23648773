import Crypto
import Foundation
import Synchronization

/// Personal data in the log, erasable (crypto-shredding): an e-mail address enters the log only sealed
/// (AES-256-GCM, `SecretBox`) under a key of that person's own, kept outside the log in PostgreSQL's
/// `person_keys`. The log holds `sealed:<key id>:v1:<base64>`; erasing a person deletes the key, and every copy
/// of the log — backups included — then holds bytes nobody can read, while the hash chain is untouched.
///
/// Logs written before this existed hold addresses in clear (`UserRegistered` without the prefix): they are
/// read as they are, and erasure cannot reach them there (see the runbook, "Erasing a person").
public enum PersonalData {
    public static let prefix = "sealed:"
    /// What read models show for an address that can no longer be read.
    public static let erased = "(erased)"

    public struct Sealed: Sendable {
        public var keyID: String
        public var key: [UInt8]
        public var reference: String
    }

    /// `text` sealed under a fresh key (store the key with `store` before the reference reaches the log).
    public static func seal(_ text: String) throws -> Sealed {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let keyID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        return Sealed(
            keyID: keyID,
            key: key,
            reference: Self.prefix + keyID + ":" + (try SecretBox(key: key).seal(text))
        )
    }

    /// The key id of a sealed reference; nil for anything else (a clear address, an erased one).
    public static func keyID(of reference: String) -> String? {
        guard reference.hasPrefix(Self.prefix) else { return nil }
        let rest = reference.dropFirst(Self.prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        return String(rest[..<colon])
    }

    public static func store(_ sealed: Sealed, user: String?, _ connection: PostgresConnection) throws(PostgresError) {
        try connection.query(
            "INSERT INTO person_keys (key_id, user_id, key) VALUES ($1, $2, $3)",
            [sealed.keyID, user, sealed.key.map { String(format: "%02x", $0) }.joined()]
        )
    }

    /// What each reference reads as now: the clear text while its key exists, `erased` once it does not; a
    /// reference that is not sealed (an older log's clear address) as it is, an empty one as `erased`.
    public static func resolve(_ references: [String], _ connection: PostgresConnection) throws(PostgresError)
        -> [String: String]
    {
        var result: [String: String] = [:]
        var sealed: [String: [String]] = [:]
        for reference in references {
            if reference.isEmpty {
                result[reference] = Self.erased
            } else if let id = Self.keyID(of: reference) {
                sealed[id, default: []].append(reference)
            } else {
                result[reference] = reference
            }
        }
        guard !sealed.isEmpty else { return result }
        let rows = try connection.query(
            "SELECT key_id, key FROM person_keys WHERE key_id = ANY($1::text[])",
            ["{" + sealed.keys.joined(separator: ",") + "}"]
        ).rows
        var keys: [String: [UInt8]] = [:]
        for row in rows {
            if let id = row[0], let key = row[1].flatMap(SecretBox.parseKey) { keys[id] = key }
        }
        for (id, references) in sealed {
            for reference in references {
                let box = reference.dropFirst(Self.prefix.count + id.count + 1)
                result[reference] = keys[id].flatMap { try? SecretBox(key: $0).open(String(box)) } ?? Self.erased
            }
        }
        return result
    }

    /// Removes everything PostgreSQL holds of `user` that is personal: the key (the log's sealed address becomes
    /// unreadable), the login (address and password hash) and the sealed broker credentials. Idempotent.
    public static func erase(user: String, _ connection: PostgresConnection) throws(PostgresError) {
        try connection.execute("BEGIN")
        do {
            try connection.query("DELETE FROM person_keys WHERE user_id = $1", [user])
            try connection.query("DELETE FROM broker_credentials WHERE user_id = $1", [user])
            try connection.query("DELETE FROM user_credentials WHERE user_id = $1", [user])
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}

/// Where the person keys are read from when the read models live in a database of their own (a follower's own
/// read models): the installation's database, on a connection of its own, opened when first needed and again
/// after a failure. Without one a read model resolves addresses on the connection it writes with.
public final class PersonKeySource: Sendable {
    private let connect: @Sendable () throws -> PostgresConnection
    private let connection = Mutex<PostgresConnection?>(nil)

    public init(connect: @escaping @Sendable () throws -> PostgresConnection) {
        self.connect = connect
    }

    /// `PersonalData.resolve` against the installation's database.
    public func resolve(_ references: [String]) throws -> [String: String] {
        guard !references.isEmpty else { return [:] }
        return try self.connection.withLock { connection in
            do {
                let open = try connection ?? self.connect()
                connection = open
                return try PersonalData.resolve(references, open)
            } catch {
                connection = nil
                throw error
            }
        }
    }
}
