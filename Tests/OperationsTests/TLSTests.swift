import Foundation
import TestSupport
import Testing

/// `serve` terminates TLS itself and takes a renewed certificate on SIGHUP without a restart; a bad file keeps
/// the certificate in use; `/metrics` answers a bearer of `STOCKBOOM_METRICS_TOKEN` from outside the internal
/// networks and nobody else there.
@Suite(.serialized) struct TLSTests {
    static func certificate(_ directory: TemporaryDirectory, name: String) async throws -> (cert: String, key: String) {
        let (cert, key) = (directory.file("\(name).crt"), directory.file("\(name).key"))
        let (status, output) = try await OperationsTests.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out",
                cert,
            ]
        )
        #expect(status == 0, "\(output)")
        return (cert, key)
    }

    /// The subject of the certificate a new connection is served.
    static func servedSubject(_ port: Int) async throws -> String {
        let (_, output) = try await OperationsTests.run(
            "/bin/bash",
            [
                "-c",
                "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject",
            ]
        )
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func serveTerminatesTLSAndReloadsItsCertificateOnSIGHUP() async throws {
        let directory = TemporaryDirectory("tls")
        let first = try await Self.certificate(directory, name: "first")
        let second = try await Self.certificate(directory, name: "second")
        let (cert, key) = (directory.file("live.crt"), directory.file("live.key"))
        try FileManager.default.copyItem(atPath: first.cert, toPath: cert)
        try FileManager.default.copyItem(atPath: first.key, toPath: key)
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = nil  // the operations routes are enough here
        environment["STOCKBOOM_TLS_CERT"] = cert
        environment["STOCKBOOM_TLS_KEY"] = key
        environment["STOCKBOOM_METRICS_TOKEN"] = "metrics-token-for-the-outside-prometheus"
        let port = freeLoopbackPort()
        let output = OutputFile()
        let server = try OperationsTests.startServe(
            log: directory.file("log"),
            port: port,
            environment: environment,
            stderr: output
        )
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let https = "https://localhost:\(port)"
        let bundle = directory.file("bundle.pem")
        try
            (try String(contentsOfFile: first.cert, encoding: .utf8)
            + String(contentsOfFile: second.cert, encoding: .utf8))
            .write(toFile: bundle, atomically: true, encoding: .utf8)
        func get(_ path: String, _ extra: [String] = []) async throws -> String {
            try await OperationsTests.run(
                "/usr/bin/curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", "localhost:\(port):127.0.0.1", "--cacert"]
                    + [bundle] + extra + [https + path]
            ).1
        }
        let up = try await OperationsTests.waitFor(
            https + "/health",
            curl: ["--cacert", first.cert, "--resolve", "localhost:\(port):127.0.0.1"]
        )
        #expect(up, "TLS with the first certificate: \(output.text.suffix(600))")
        #expect(try await Self.servedSubject(port).contains("CN = first"))
        let plain = try await OperationsTests.run(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3", "http://127.0.0.1:\(port)/health"]
        ).1
        #expect(plain != "200", "no plain HTTP on a TLS port")

        // Renewed: the files replaced, SIGHUP; new connections get the new certificate.
        try FileManager.default.removeItem(atPath: cert)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: second.cert, toPath: cert)
        try FileManager.default.copyItem(atPath: second.key, toPath: key)
        kill(server.processIdentifier, SIGHUP)
        var subject = ""
        for _ in 0..<50 where !subject.contains("CN = second") {
            subject = try await Self.servedSubject(port)
            if !subject.contains("CN = second") { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(subject.contains("CN = second"), "\(subject); \(output.text.suffix(600))")
        #expect(server.isRunning, "no restart")

        // A half-written certificate: the reload fails, the second certificate stays.
        try "-----BEGIN CERTIFICATE-----\nnot a certificate\n".write(toFile: cert, atomically: true, encoding: .utf8)
        kill(server.processIdentifier, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await Self.servedSubject(port).contains("CN = second"))
        #expect(output.text.contains("TLS certificate not reloaded"), "\(output.text.suffix(600))")
        #expect(try await get("/health") == "200")

        // /metrics from outside the internal networks (a proxy's header makes the client public): the token only.
        let outside = ["-H", "X-Forwarded-For: 203.0.113.9"]
        #expect(try await get("/metrics", outside) == "404")
        #expect(
            try await get(
                "/metrics",
                outside + ["-H", "Authorization: Bearer metrics-token-for-the-outside-prometheus"]
            )
                == "200"
        )
        #expect(try await get("/metrics", outside + ["-H", "Authorization: Bearer metrics-token"]) == "404")
        #expect(try await get("/metrics") == "200", "the host itself still reads it")
    }

    /// Without TLS a SIGHUP (the runbook's renewal step, sent by habit) is logged, not the end of the process.
    @Test func aHangUpWithoutTLSDoesNotStopServe() async throws {
        let directory = TemporaryDirectory("hup")
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = nil
        let port = freeLoopbackPort()
        let output = OutputFile()
        let server = try OperationsTests.startServe(
            log: directory.file("log"),
            port: port,
            environment: environment,
            stderr: output
        )
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        #expect(try await OperationsTests.waitFor("http://127.0.0.1:\(port)/health"))
        kill(server.processIdentifier, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(server.isRunning, "\(output.text.suffix(400))")
        #expect(output.text.contains("no TLS certificate to reload"), "\(output.text.suffix(400))")
    }

    @Test func aKeyThatIsNotTheCertificatesStopsTheStart() async throws {
        let directory = TemporaryDirectory("tls-mismatch")
        let first = try await Self.certificate(directory, name: "first")
        let second = try await Self.certificate(directory, name: "second")
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = nil
        environment["STOCKBOOM_TLS_CERT"] = first.cert
        environment["STOCKBOOM_TLS_KEY"] = second.key
        let (status, _, errors) = try await runStockboom(
            ["serve", "--dir", directory.file("log"), "--port", String(freeLoopbackPort())],
            environment: environment
        )
        #expect(status != 0)
        #expect(errors.contains("STOCKBOOM_TLS_CERT"), "\(errors)")
        environment["STOCKBOOM_TLS_KEY"] = nil
        let (alone, _, said) = try await runStockboom(
            ["serve", "--dir", directory.file("log"), "--port", String(freeLoopbackPort())],
            environment: environment
        )
        #expect(alone != 0 && said.contains("both"), "\(said)")
    }
}
