import Crypto
import Foundation

/// Seals broker app keys and secrets with AES-256-GCM under `STOCKBOOM_SECRETS_KEY`. The sealed form
/// (`v1:` + base64 of nonce‖ciphertext‖tag) is what PostgreSQL stores; the clear text is never logged,
/// never appended to the event log and never returned by the API. The gateway seals, the worker opens.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(key: [UInt8]) {
        precondition(key.count == 32)
        self.key = SymmetricKey(data: key)
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
}

extension PostgresConnection {
    /// Opens the sealed credentials of one broker account; nil when none are stored.
    public func brokerCredentials(account: String, box: SecretBox) throws -> BrokerCredentials? {
        guard
            let row = try self.query(
                "SELECT sealed_app_key, sealed_app_secret, sealed_account_number FROM broker_credentials WHERE broker_account_id = $1",
                [account]
            ).rows.first,
            let key = row[0], let secret = row[1], let number = row[2]
        else { return nil }
        return BrokerCredentials(
            appKey: try box.open(key),
            appSecret: try box.open(secret),
            accountNumber: try box.open(number)
        )
    }
}
