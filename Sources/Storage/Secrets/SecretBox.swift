import Crypto
import Foundation

/// Seals broker app keys and secrets with AES-256-GCM under `STOCKBOOM_SECRETS_KEY`. The sealed form
/// (`v1:` + base64 of nonce‖ciphertext‖tag) is what PostgreSQL stores; the clear text is never logged,
/// never appended to the event log and never returned by the API. The gateway seals, the worker opens.
///
/// Rotation (`STOCKBOOM_SECRETS_KEY_PREVIOUS`): while a previous key is given, what does not open under the key
/// opens under it; sealing always uses the key. `reseal` moves every stored secret to the key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey
    private let previous: SymmetricKey?

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(key: [UInt8], previous: [UInt8]? = nil) {
        precondition(key.count == 32 && (previous?.count ?? 32) == 32)
        self.key = SymmetricKey(data: key)
        self.previous = previous.map { SymmetricKey(data: $0) }
    }

    /// Which key opens a sealed secret: the current one, the previous one, or neither (nil).
    public enum Opener: Sendable { case current, previous }

    public func opener(_ sealed: String) -> Opener? {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))),
            let box = try? AES.GCM.SealedBox(combined: data)
        else { return nil }
        if (try? AES.GCM.open(box, using: self.key)) != nil { return .current }
        if let previous = self.previous, (try? AES.GCM.open(box, using: previous)) != nil { return .previous }
        return nil
    }

    public func seal(_ text: String) throws -> String {
        let box = try AES.GCM.seal(Data(text.utf8), using: self.key)
        guard let combined = box.combined else { throw Failure(description: "sealing failed") }
        return "v1:" + combined.base64EncodedString()
    }

    public func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw Failure(description: "a sealed secret has an unknown format")
        }
        let box = try AES.GCM.SealedBox(combined: data)
        do {
            return String(decoding: try AES.GCM.open(box, using: self.key), as: UTF8.self)
        } catch {
            if let previous = self.previous, let clear = try? AES.GCM.open(box, using: previous) {
                return String(decoding: clear, as: UTF8.self)
            }
            throw Failure(
                description:
                    "a sealed secret does not open with this STOCKBOOM_SECRETS_KEY (was it sealed under another key?)"
            )
        }
    }

    /// A 32-byte key written as 64 hex digits or base64 (`openssl rand -base64 32`); nil for anything else.
    public static func parseKey(_ text: String) -> [UInt8]? {
        if text.utf8.count == 64, text.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                bytes.append(UInt8(text[index..<next], radix: 16)!)
                index = next
            }
            return bytes
        }
        if let data = Data(base64Encoded: text), data.count == 32 { return Array(data) }
        return nil
    }
}

/// A broker account's clear credentials, opened from `broker_credentials` (worker side).
public struct BrokerCredentials: Sendable {
    public var appKey: String
    public var appSecret: String
    public var accountNumber: String

    /// Opens `sealedBrokerCredentials`' row (app key, app secret, account number).
    public init(sealed: [String], box: SecretBox) throws {
        guard sealed.count == 3 else { throw SecretBox.Failure(description: "a broker credentials row has 3 columns") }
        self.appKey = try box.open(sealed[0])
        self.appSecret = try box.open(sealed[1])
        self.accountNumber = try box.open(sealed[2])
    }
}

/// What `reseal` did.
public struct ResealReport: Sendable, Equatable {
    /// Secrets sealed again under the current key, and those already under it.
    public var resealed = 0
    public var current = 0
}

extension PostgresConnection {
    /// The sealed columns: table, key column, sealed columns.
    static let sealedColumns: [(table: String, key: String, columns: [String])] = [
        ("broker_credentials", "broker_account_id", ["sealed_app_key", "sealed_app_secret", "sealed_account_number"]),
        ("broker_tokens", "broker_account_id", ["sealed_token"]),
    ]

    /// Seals every stored secret (broker credentials and tokens) under `box`'s key, opening those sealed under its
    /// previous key: one transaction, all or nothing. A secret that opens under neither key stops it, naming
    /// the row, and nothing is changed. Running it again finds everything current (idempotent).
    public func reseal(_ box: SecretBox) throws -> ResealReport {
        var report = ResealReport()
        try self.execute("BEGIN")
        do {
            for (table, key, columns) in Self.sealedColumns {
                let rows = try self.query(
                    "SELECT \(key), \(columns.joined(separator: ", ")) FROM \(table) ORDER BY 1 FOR UPDATE"
                ).rows
                for row in rows {
                    let id = row[0] ?? ""
                    var updated: [String] = []
                    for (index, column) in columns.enumerated() {
                        let sealed = row[index + 1] ?? ""
                        switch box.opener(sealed) {
                        case .current:
                            report.current += 1
                            updated.append(sealed)
                        case .previous:
                            report.resealed += 1
                            updated.append(try box.seal(try box.open(sealed)))
                        case nil:
                            throw SecretBox.Failure(
                                description:
                                    "\(table).\(column) of \(id) opens under neither STOCKBOOM_SECRETS_KEY nor STOCKBOOM_SECRETS_KEY_PREVIOUS: nothing was changed"
                            )
                        }
                    }
                    let assignments = columns.enumerated().map { "\($1) = $\($0 + 2)" }.joined(separator: ", ")
                    _ = try self.query("UPDATE \(table) SET \(assignments) WHERE \(key) = $1", [id] + updated)
                }
            }
            try self.execute("COMMIT")
        } catch {
            try? self.execute("ROLLBACK")
            throw error
        }
        return report
    }

    /// The sealed credentials of one broker account as stored (app key, app secret, account number); nil when
    /// none are stored.
    public func sealedBrokerCredentials(account: String) throws -> [String]? {
        guard
            let row = try self.query(
                "SELECT sealed_app_key, sealed_app_secret, sealed_account_number FROM broker_credentials WHERE broker_account_id = $1",
                [account]
            ).rows.first
        else { return nil }
        return row.map { $0 ?? "" }
    }

    /// Opens the sealed credentials of one broker account; nil when none are stored.
    public func brokerCredentials(account: String, box: SecretBox) throws -> BrokerCredentials? {
        try self.sealedBrokerCredentials(account: account).map { try BrokerCredentials(sealed: $0, box: box) }
    }
}
