import Foundation
public import Logging
import NIOCore
public import NIOSSL
import Synchronization
import UnixSignals

/// `serve`'s own TLS (`STOCKBOOM_TLS_CERT`, `STOCKBOOM_TLS_KEY`: PEM files): the certificate chain and key are
/// read at start and again on SIGHUP, and each new connection's handshake uses the ones read last (a renewed
/// certificate — certbot's deploy hook, say — takes effect without a restart; open connections keep theirs).
/// A reload that fails (a half-written file, a key that is not the certificate's) keeps the previous pair and
/// says why.
public final class TLSCertificates: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let current: Mutex<(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)>

    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.current = Mutex(try Self.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    static func load(certificatePath: String, keyPath: String) throws -> (
        chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
    ) {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw TLSFilesError("\(certificatePath) holds no certificate") }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        // The key must be the certificate's: a TLS context built from them refuses a pair that does not match.
        var check = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        check.minimumTLSVersion = .tlsv12
        _ = try NIOSSLContext(configuration: check)
        return (chain, key)
    }

    /// Reads both files again; on failure the pair in use stays.
    public func reload() throws {
        let pair = try Self.load(certificatePath: self.certificatePath, keyPath: self.keyPath)
        self.current.withLock { $0 = pair }
    }

    /// The server's TLS configuration: TLS 1.2 and later; the certificate of each handshake is the current one.
    public var configuration: TLSConfiguration {
        let (chain, key) = self.current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in
            let (chain, key) = self.current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = chain.map { .certificate($0) }
            override.privateKey = .privateKey(key)
            promise.succeed(override)
        }
        return configuration
    }

    /// Reloads on every SIGHUP until the task is cancelled.
    public func reloadOnHangUp(logger: Logger) -> Task<Void, Never> {
        Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    try self.reload()
                    logger.info("TLS certificate reloaded", metadata: ["certificate": "\(self.certificatePath)"])
                } catch {
                    logger.error("TLS certificate not reloaded, the previous one stays: \(error)")
                }
            }
        }
    }
}

struct TLSFilesError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
