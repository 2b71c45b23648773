import Foundation
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Engine

func jsonLine(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
}

@Suite struct EngineCommandLineTests {
    /// A generated daily file (the KRX files are not redistributable).
    static let samsung = GeneratedFiles.path(1)

    /// Bars of the file from `yyyymmdd` on.
    static func bars(from yyyymmdd: String) throws -> Int {
        try DailyBarsCSV(parsing: try GeneratedFiles.text(1)).bars.filter {
            KST.yyyymmdd(day: KST.day($0.start)) >= yyyymmdd
        }.count
    }

    @Test func indicatorsPrintsTheLibrarysValues() async throws {
        let (status, output, errors) = try await runStockboom(["indicators", "--data", Self.samsung])
        try #require(status == 0, "\(errors)")
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count > 2)
        #expect(lines[0] == "date,close," + IndicatorSet.columns.joined(separator: ","))
        let bars = try DailyBarsCSV(parsing: try GeneratedFiles.text(1)).bars
        #expect(lines.count - 2 == bars.count)
        var set = IndicatorSet()
        for (index, bar) in bars.enumerated() {
            let values = set.update(bar)
            guard index == 100 || index == bars.count - 1 else { continue }
            let fields = lines[index + 1].split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields[0] == Substring(KST.yyyymmdd(day: KST.day(bar.start))))
            for (column, value) in values.enumerated() {
                #expect(Double(fields[column + 2]) == value, "\(IndicatorSet.columns[column]) at \(index)")
            }
        }
    }

    @Test func backtestIsDeterministicAndAuditable() async throws {
        let first = TemporaryDirectory("bt")
        let second = TemporaryDirectory("bt")
        var reports: [[String: Any]] = []
        for directory in [first, second] {
            try FileManager.default.removeItem(atPath: directory.path)
            let (status, output, errors) = try await runStockboom([
                "backtest", "--data", Self.samsung, "--strategy", "ma-cross", "--params", "fast=5,slow=20,quantity=10",
                "--from", "20180504", "--dir", directory.path, "--json",
            ])
            try #require(status == 0, "\(errors)")
            reports.append(try jsonLine(output.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        #expect(reports[0]["stateDigest"] as? String == reports[1]["stateDigest"] as? String)
        #expect((reports[0]["roundTrips"] as? Int ?? 0) > 10)
        let expectedBars = try Self.bars(from: "20180504")
        #expect(expectedBars > 1_000)
        #expect(reports[0]["bars"] as? Int == expectedBars)
        for key in ["profit", "winRatePercent", "maxDrawdownPercent", "sharpeRatio", "equityCurve"] {
            #expect(reports[0][key] != nil, "\(key)")
        }
        let curve = try String(contentsOfFile: first.path + "/equity.csv", encoding: .utf8).split(separator: "\n")
        #expect(curve.count == expectedBars + 1)
        // The backtest's log replays to the same state, and verifies.
        let (replayStatus, replay, _) = try await runStockboom([
            "replay", "--dir", first.path, "--no-snapshots", "--json",
        ])
        #expect(replayStatus == 0)
        #expect(try jsonLine(replay)["stateDigest"] as? String == reports[0]["stateDigest"] as? String)
        let (verifyStatus, _, _) = try await runStockboom(["log", "verify", "--dir", first.path])
        #expect(verifyStatus == 0)
    }

    @Test func aGridSearchRunsEveryPointAsItsOwnBacktestOnBothCores() async throws {
        let directory = TemporaryDirectory("search")
        try FileManager.default.removeItem(atPath: directory.path)
        let (status, output, errors) = try await runStockboom([
            "search", "--data", Self.samsung, "--strategy", "ma-cross", "--params", "quantity=10",
            "--grid", "fast=3,5;slow=20..40:10", "--from", "20180504", "--dir", directory.path, "--workers", "2",
            "--json",
        ])
        try #require(status == 0, "\(errors)")
        let result = try jsonLine(output.trimmingCharacters(in: .whitespacesAndNewlines))
        let runs = try #require(result["runs"] as? [[String: Any]])
        #expect(runs.count == 6 && result["workers"] as? Int == 2)
        let sharpes = runs.compactMap { $0["sharpeRatio"] as? Double }
        #expect(sharpes == sharpes.sorted(by: >), "ranked best first")
        #expect(Set(runs.compactMap { $0["parameters"] as? String }).count == 6)
        // Each run is an auditable backtest: its own log, the same state as the same backtest run alone.
        let best = runs[0]
        let alone = TemporaryDirectory("bt")
        try FileManager.default.removeItem(atPath: alone.path)
        let (soloStatus, solo, soloErrors) = try await runStockboom([
            "backtest", "--data", Self.samsung, "--strategy", "ma-cross", "--params",
            try #require(best["parameters"] as? String), "--from", "20180504", "--dir", alone.path, "--json",
        ])
        try #require(soloStatus == 0, "\(soloErrors)")
        #expect(try jsonLine(solo)["stateDigest"] as? String == best["stateDigest"] as? String)
        let log = try #require(best["log"] as? String)
        let (replayStatus, replay, _) = try await runStockboom(["replay", "--dir", log, "--no-snapshots", "--json"])
        #expect(replayStatus == 0)
        let replayed = try jsonLine(replay)["stateDigest"] as? String
        #expect(replayed == best["stateDigest"] as? String)
        // Walk-forward: choose on 250 days, test on the 60 after, step 60.
        let walk = TemporaryDirectory("walk")
        try FileManager.default.removeItem(atPath: walk.path)
        let (walkStatus, table, walkErrors) = try await runStockboom([
            "search", "--data", Self.samsung, "--strategy", "ma-cross", "--grid", "fast=3,5;slow=20,30",
            "--walk-forward", "250,60", "--from", "20180504", "--dir", walk.path,
        ])
        try #require(walkStatus == 0, "\(walkErrors)")
        let windows = table.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(windows.count >= 3, "\(table)")
        #expect(table.contains("out-of-sample, compounded over the windows"))
        #expect(FileManager.default.fileExists(atPath: walk.path + "/window-1/out-of-sample"))
        // Mistakes before any run.
        for arguments in [
            ["--grid", "fast=3,x"], ["--grid", "fast=1..99999999"], ["--grid", "fast=3;fast=4"],
            ["--grid", "fast=30;slow=20"], ["--grid", "fast=3", "--walk-forward", "5"],
            ["--grid", "fast=3", "--metric", "luck"],
        ] {
            let (bad, _, message) = try await runStockboom(
                ["search", "--data", Self.samsung, "--strategy", "ma-cross"] + arguments
            )
            #expect(bad != 0 && !message.isEmpty, "\(arguments)")
        }
    }

    /// A rule set with `{placeholders}` searched over a grid: each point is its own rule set (the same as the
    /// filled rule set backtested alone); a placeholder without a value, an axis naming none, a value that
    /// makes the rules wrong are refused before any run.
    @Test func aRuleSetTemplateIsSearchedOverAGrid() async throws {
        let folder = TemporaryDirectory("rule-search")
        let template = folder.file("dip.rules")
        try "entry: rsi_{n} < {level}\nexit: rsi_{n} > 70\nstop: 5%\nsize: 10 shares\n".write(
            toFile: template,
            atomically: true,
            encoding: .utf8
        )
        let (status, output, errors) = try await runStockboom([
            "search", "--data", Self.samsung, "--rules", template, "--grid", "n=7,14;level=25..35:10", "--from",
            "20180504", "--dir", folder.file("runs"), "--json",
        ])
        try #require(status == 0, "\(errors)")
        let runs = try #require(
            try jsonLine(output.trimmingCharacters(in: .whitespacesAndNewlines))["runs"] as? [[String: Any]]
        )
        #expect(runs.count == 4)
        #expect(
            Set(runs.compactMap { $0["parameters"] as? String }) == [
                "n=7,level=25", "n=7,level=35", "n=14,level=25", "n=14,level=35",
            ]
        )
        let point = try #require(runs.first { $0["parameters"] as? String == "n=14,level=35" })
        let filled = folder.file("filled.rules")
        try "entry: rsi_14 < 35\nexit: rsi_14 > 70\nstop: 5%\nsize: 10 shares\n".write(
            toFile: filled,
            atomically: true,
            encoding: .utf8
        )
        let (soloStatus, solo, soloErrors) = try await runStockboom([
            "backtest", "--data", Self.samsung, "--rules", filled, "--strategy", "rule:dip", "--from", "20180504",
            "--dir", folder.file("solo"), "--json",
        ])
        try #require(soloStatus == 0, "\(soloErrors)")
        #expect(try jsonLine(solo)["stateDigest"] as? String == point["stateDigest"] as? String)
        // `--params` fills a template for one backtest too.
        let (paramStatus, param, paramErrors) = try await runStockboom([
            "backtest", "--data", Self.samsung, "--rules", template, "--strategy", "rule:dip", "--params",
            "n=14,level=35", "--from", "20180504", "--dir", folder.file("param"), "--json",
        ])
        try #require(paramStatus == 0, "\(paramErrors)")
        #expect(try jsonLine(param)["stateDigest"] as? String == point["stateDigest"] as? String)
        for (grid, said) in [
            ("n=7", "placeholder {level} has no value"), ("n=7;level=30;x=1", "no placeholder {x}"),
            ("n=1;level=30", "rsi"),
        ] {
            let (bad, _, message) = try await runStockboom([
                "search", "--data", Self.samsung, "--rules", template, "--grid", grid, "--dir", folder.file("bad"),
            ])
            #expect(bad != 0 && message.contains(said), "\(grid): \(message)")
        }
        try "entry: rsi_{n < 30\n".write(toFile: template, atomically: true, encoding: .utf8)
        let (broken, _, brokenMessage) = try await runStockboom([
            "search", "--data", Self.samsung, "--rules", template, "--grid", "n=7", "--dir", folder.file("bad"),
        ])
        #expect(broken != 0 && brokenMessage.contains("line 1, column"), "\(brokenMessage)")
    }

    @Test func replayTravelsInTime() async throws {
        let directory = TemporaryDirectory("bt")
        try FileManager.default.removeItem(atPath: directory.path)
        _ = try await runStockboom([
            "backtest", "--data", Self.samsung, "--strategy", "rsi-reversion", "--from", "20200101", "--to", "20201231",
            "--dir", directory.path,
        ])
        let (_, early, _) = try await runStockboom([
            "replay", "--dir", directory.path, "--to-time", "2020-03-01T00:00:00+09:00", "--json",
        ])
        let (_, late, _) = try await runStockboom(["replay", "--dir", directory.path, "--json"])
        let earlyState = try jsonLine(early)
        let lateState = try jsonLine(late)
        #expect((earlyState["events"] as? Int ?? 0) < (lateState["events"] as? Int ?? 0))
        #expect(earlyState["stateDigest"] as? String != lateState["stateDigest"] as? String)
        #expect((lateState["accounts"] as? [[String: Any]])?.first?["cash"] != nil)
    }

    @Test func dumpRendersEngineEvents() async throws {
        let directory = TemporaryDirectory("bt")
        try FileManager.default.removeItem(atPath: directory.path)
        _ = try await runStockboom([
            "backtest", "--data", Self.samsung, "--strategy", "ma-cross", "--from", "20230101", "--dir", directory.path,
        ])
        let (status, output, errors) = try await runStockboom(["log", "dump", "--dir", directory.path, "--limit", "3"])
        try #require(status == 0, "\(errors)")
        let lines = output.split(separator: "\n")
        try #require(lines.count == 3)
        let first = try jsonLine(String(lines[0]))
        #expect(first["type"] as? String == "StockListed")
        #expect((first["payload"] as? [String: Any])?["stock"] as? String == "005930")
    }

    @Test func badInputGetsClearErrors() async throws {
        let (status, _, errors) = try await runStockboom([
            "backtest", "--data", Self.samsung, "--strategy", "buy-the-dip", "--dir",
            TemporaryDirectory("bt").path + "/x",
        ])
        #expect(status != 0)
        #expect(errors.contains("unknown strategy 'buy-the-dip'"))
        let bad = TemporaryDirectory("bad")
        try "date,open,high,low,close,volume\n20240102,100,90,95,105,1\n".write(
            toFile: bad.file("bars.csv"),
            atomically: true,
            encoding: .utf8
        )
        let (csvStatus, _, csvErrors) = try await runStockboom(["indicators", "--data", bad.file("bars.csv")])
        #expect(csvStatus != 0)
        #expect(csvErrors.contains("line 2"))
    }
}
