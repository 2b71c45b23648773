import Foundation
import Storage
import TestSupport
import Testing

/// Alerts reach someone, through real processes: `stockboom serve`, Prometheus scraping it with the repository's
/// alert rules, Alertmanager rendered from the repository's template, and an SMTP sink. The api is stopped: the
/// `APIDown` e-mail arrives; it is started again: the resolved notice arrives.
///
/// Two things are shortened so the test takes seconds, not minutes, and nothing else is changed: the scrape and
/// evaluation intervals (1 s), and the rules' `for:` (staged copy of alerts.yml with `for: 2m` → `for: 5s`;
/// the real durations are what `promtool test rules` checks) and Alertmanager's grouping waits (its template's
/// ALERT_GROUP_WAIT and ALERT_GROUP_INTERVAL, set to 1 s and 2 s).
@Suite(.serialized) struct AlertDeliveryTests {
    final class Child {
        let process = Process()
        let output = OutputFile()

        init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
            self.process.executableURL = URL(fileURLWithPath: executable)
            self.process.arguments = arguments
            self.process.environment = environment
            self.process.standardOutput = self.output.handle
            self.process.standardError = self.output.handle
            try self.process.run()
        }

        func stop(_ signal: Int32 = SIGTERM) {
            guard self.process.isRunning else { return }
            kill(self.process.processIdentifier, signal)
            self.process.waitUntilExit()
        }

        deinit { self.stop(SIGKILL) }
    }

    static func curl(_ url: String) async -> String? {
        guard let (status, body) = try? await OperationsTests.run("/usr/bin/curl", ["-fsS", "-m", "3", url]),
            status == 0
        else { return nil }
        return body
    }

    /// The messages in the sink's Maildir, oldest first.
    static func mails(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/new")) ?? []
        return names.sorted().compactMap { try? String(contentsOfFile: directory + "/new/" + $0, encoding: .utf8) }
    }

    @Test func apiDownArrivesByEmailAndItsResolvedNoticeFollows() async throws {
        let root = OperationsTests.repositoryRoot
        let directory = TemporaryDirectory("alerts")
        let environment = try OperationsTests.environment()
        let (apiPort, smtpPort, managerPort, prometheusPort) = (
            freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()
        )

        // The SMTP sink.
        let mail = directory.file("mail")
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: mail + "/" + sub, withIntermediateDirectories: true)
        }
        let sink = try Child(
            "/usr/bin/env",
            [
                "python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(smtpPort)", "-c", "aiosmtpd.handlers.Mailbox",
                mail,
            ],
            environment: ProcessInfo.processInfo.environment
        )
        defer { sink.stop(SIGKILL) }

        // The api.
        func serve() throws -> Child {
            try Child(
                try stockboomExecutable(),
                ["serve", "--dir", directory.file("log"), "--port", String(apiPort)],
                environment: environment
            )
        }
        var api = try serve()
        defer { api.stop(SIGKILL) }

        // Alertmanager from the repository's template, checked by amtool.
        var rendering = ProcessInfo.processInfo.environment
        rendering["SMTP_HOST"] = "127.0.0.1"
        rendering["SMTP_PORT"] = String(smtpPort)
        rendering["SMTP_FROM"] = "alerts@stockboom.test"
        rendering["SMTP_REQUIRE_TLS"] = "false"
        rendering["ALERT_EMAIL_TO"] = "ops@stockboom.test"
        rendering["ALERT_GROUP_WAIT"] = "1s"
        rendering["ALERT_GROUP_INTERVAL"] = "2s"
        rendering["ALERT_REPEAT_INTERVAL"] = "1h"
        let managerConfig = directory.file("alertmanager.yml")
        let (rendered, renderOutput) = try await OperationsTests.run(
            "/bin/sh",
            [root + "/docker/alertmanager/render.sh", root + "/docker/alertmanager/alertmanager.yml", managerConfig],
            environment: rendering
        )
        #expect(rendered == 0, "\(renderOutput)")
        let (checked, checkOutput) = try await OperationsTests.run("/usr/bin/amtool", ["check-config", managerConfig])
        #expect(checked == 0, "\(checkOutput)")
        let manager = try Child(
            "/usr/bin/prometheus-alertmanager",
            [
                "--config.file=" + managerConfig, "--storage.path=" + directory.file("alertmanager"),
                "--web.listen-address=127.0.0.1:\(managerPort)", "--cluster.listen-address=",
            ],
            environment: ProcessInfo.processInfo.environment
        )
        defer { manager.stop(SIGKILL) }

        // Prometheus with the repository's rules (durations shortened, see above), scraping the api on loopback.
        let rules = try String(contentsOfFile: root + "/docker/prometheus/alerts.yml", encoding: .utf8)
        #expect(rules.contains("for: 2m"), "APIDown waits 2 minutes in the real rules")
        try rules.replacingOccurrences(of: "for: 2m", with: "for: 5s")
            .write(toFile: directory.file("alerts.yml"), atomically: true, encoding: .utf8)
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        rule_files:
          - \(directory.file("alerts.yml"))
        alerting:
          alertmanagers:
            - static_configs:
                - targets: ['127.0.0.1:\(managerPort)']
        scrape_configs:
          - job_name: 'api'
            scrape_timeout: 1s
            static_configs:
              - targets: ['127.0.0.1:\(apiPort)']
        """.write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
        let prometheus = try Child(
            "/usr/bin/prometheus",
            [
                "--config.file=" + directory.file("prometheus.yml"), "--storage.tsdb.path=" + directory.file("tsdb"),
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ],
            environment: ProcessInfo.processInfo.environment
        )
        defer { prometheus.stop(SIGKILL) }

        // Up and scraped.
        let upQuery = "http://127.0.0.1:\(prometheusPort)/api/v1/query?query=up%7Bjob%3D%22api%22%7D"
        var scraped = false
        for _ in 0..<300 where !scraped {
            let answer = await Self.curl(upQuery) ?? ""
            scraped = answer.contains(#""1"]"#)
            if !scraped { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(scraped, "Prometheus never scraped the api up: \(prometheus.output.text.suffix(1500))")
        #expect(Self.mails(mail).isEmpty, "no alert while everything is up: \(Self.mails(mail))")

        // The api stops: APIDown fires after its for: and arrives by e-mail.
        let stopped = ContinuousClock.now
        api.stop(SIGTERM)
        var firing: String?
        for _ in 0..<600 where firing == nil {
            firing = Self.mails(mail).first { $0.contains("APIDown") && $0.contains("FIRING") }
            if firing == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let firingAfter = ContinuousClock.now - stopped
        let firingMail = try #require(
            firing,
            "no APIDown e-mail; alertmanager: \(manager.output.text.suffix(1500)); prometheus: \(prometheus.output.text.suffix(800))"
        )
        #expect(firingMail.contains("To: ops@stockboom.test"), "\(firingMail.prefix(600))")
        #expect(firingMail.contains("Prometheus cannot scrape the api"), "the rule's summary is in the e-mail")
        #expect(firingMail.contains("docs/runbook.md#1-api-server-not-responding"), "and its runbook link")
        print(
            "alerts: APIDown e-mail \(firingAfter) after the api stopped (for: 5s, scrape and evaluation 1 s, group_wait 1 s)"
        )

        // The api is back: the resolved notice follows.
        let restarted = ContinuousClock.now
        api = try serve()
        var resolved: String?
        for _ in 0..<600 where resolved == nil {
            resolved = Self.mails(mail).first { $0.contains("APIDown") && $0.contains("RESOLVED") }
            if resolved == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(resolved != nil, "no resolved notice; alertmanager: \(manager.output.text.suffix(1500))")
        print("alerts: APIDown resolved e-mail \(ContinuousClock.now - restarted) after the api restarted")
        for message in Self.mails(mail) {
            let subject = message.split(separator: "\n").first { $0.hasPrefix("Subject:") } ?? "?"
            print("alerts: received \(subject)")
        }
    }
}
