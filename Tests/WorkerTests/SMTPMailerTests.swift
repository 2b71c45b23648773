import Foundation
import Jobs
import NIOSSL
import Projections
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Worker

/// The SMTP client against aiosmtpd (PyPI), a real SMTP server: STARTTLS with certificate verification,
/// and no credentials over a connection that stayed in clear.
@Suite struct SMTPMailerTests {
    static func sink(_ directory: String, tls: (cert: String, key: String)?, port chosen: Int? = nil) async throws -> (
        Child, Int
    ) {
        let mail = directory + "/mail"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: mail + "/" + sub, withIntermediateDirectories: true)
        }
        let port = chosen ?? freeLoopbackPort()
        var arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)"]
        if let tls { arguments += ["--tlscert", tls.cert, "--tlskey", tls.key] }  // STARTTLS offered and required
        let child = try Child(
            "/usr/bin/env",
            arguments + ["-c", "aiosmtpd.handlers.Mailbox", mail],
            environment: ProcessInfo.processInfo.environment,
            output: directory + "/smtp-\(port).log"
        )
        try await onOwnThread {  // python's start-up is waited for off the cooperative pool
            for _ in 0..<100 {
                let probe = Process()
                probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                probe.arguments = [
                    "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', \(port)), 1).close()",
                ]
                try probe.run()
                probe.waitUntilExit()
                if probe.terminationStatus == 0 { break }
                usleep(100_000)
            }
        }
        return (child, port)
    }

    @Test func startTLSIsUsedWhenOfferedAndTheCertificateIsChecked() async throws {
        let directory = TemporaryDirectory("smtp-tls")
        let cert = directory.path + "/cert.pem"
        let key = directory.path + "/key.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        try await onOwnThread { openssl.waitUntilExit() }
        try #require(openssl.terminationStatus == 0)
        let (server, port) = try await Self.sink(directory.path, tls: (cert, key))
        defer { server.killed() }

        var trusting = SMTPMailer(
            configuration: SMTPConfiguration(host: "localhost", port: port, from: "alerts@stockboom.test")
        )
        trusting.tls.trustRoots = .file(cert)
        let answer = try await trusting.send(to: "trader@example.com", subject: "체결 알림", body: "삼성전자 10주 55,000원")
        #expect(answer.hasPrefix("250"))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/mail/new")
        #expect(files.count == 1, "delivered after STARTTLS (the server requires it)")

        // The same server with the system's trust roots: the self-signed certificate is refused, nothing is sent.
        let strict = SMTPMailer(
            configuration: SMTPConfiguration(host: "localhost", port: port, from: "alerts@stockboom.test")
        )
        await #expect(throws: (any Error).self) {
            try await strict.send(to: "trader@example.com", subject: "x", body: "y")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/mail/new").count == 1)
    }

    @Test func credentialsAreNeverSentInClear() async throws {
        let directory = TemporaryDirectory("smtp-plain")
        let (server, port) = try await Self.sink(directory.path, tls: nil)
        defer { server.killed() }
        let mailer = SMTPMailer(
            configuration: SMTPConfiguration(
                host: "127.0.0.1",
                port: port,
                user: "alerts",
                password: "secret",
                from: "alerts@stockboom.test"
            )
        )
        do {
            try await mailer.send(to: "trader@example.com", subject: "x", body: "y")
            Issue.record("credentials were accepted over a connection without TLS")
        } catch let error as SMTPError {
            #expect(error.description.contains("STARTTLS"))
        }
        #expect(!server.log.contains("secret"))
    }

    /// Messages share a connection; one the server dropped while idle is replaced without losing the message;
    /// concurrent sends each get a connection and all arrive.
    @Test func aConnectionCarriesManyMessagesAndADroppedOneIsReplaced() async throws {
        let directory = TemporaryDirectory("smtp-reuse")
        var (server, port) = try await Self.sink(directory.path + "/first", tls: nil)
        let mailer = SMTPMailer(
            configuration: SMTPConfiguration(host: "127.0.0.1", port: port, from: "alerts@stockboom.test")
        )
        for index in 0..<5 {
            let answer = try await mailer.send(
                to: "trader@example.com",
                subject: "체결 \(index)",
                body: "message \(index)"
            )
            #expect(answer.hasPrefix("250"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/first/mail/new").count == 5)
        #expect(mailer.connectionsOpened == 1, "five messages over one connection (\(mailer.connectionsOpened) opened)")

        // The server goes away with the kept connection; a new one listens on the same port.
        server.killed()
        (server, _) = try await Self.sink(directory.path + "/second", tls: nil, port: port)
        defer { server.killed() }
        #expect(try await mailer.send(to: "trader@example.com", subject: "after", body: "the restart").hasPrefix("250"))
        #expect(
            mailer.connectionsOpened == 2,
            "the dead connection was replaced once (\(mailer.connectionsOpened) opened)"
        )

        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<6 {
                group.addTask { try await mailer.send(to: "trader@example.com", subject: "burst \(index)", body: "b") }
            }
            for try await answer in group { #expect(answer.hasPrefix("250")) }
        }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path + "/second/mail/new").count == 7,
            "every message arrived once"
        )
        #expect(mailer.connectionsOpened <= 8)
    }
}
