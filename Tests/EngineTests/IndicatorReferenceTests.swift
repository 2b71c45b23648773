import Foundation
import Projections
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Engine

/// The project's shared folder (`../shared` beside the checkout, or `$STOCKBOOM_SHARED_DIR`) with two KRX
/// daily files and StockCharts' Bollinger example, which may not be redistributed: the tests that read them
/// run only where it exists. Every one of them has a twin on generated data that runs everywhere.
enum SharedData {
    static let root =
        ProcessInfo.processInfo.environment["STOCKBOOM_SHARED_DIR"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared").path
    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: Self.root + "/" + relative, encoding: .utf8)
    }
    static func has(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: Self.root + "/" + relative) }
}

/// Generated daily files (`GeneratedDailyBars`), written once per test process.
enum GeneratedFiles {
    static let directory = TemporaryDirectory("generated-bars")
    static let paths: [UInt64: String] = Dictionary(
        uniqueKeysWithValues: ([1, 2, 3] as [UInt64]).map { seed in
            let path = Self.directory.file("stock-\(seed).csv")
            try? GeneratedDailyBars.csv(code: "005930", name: "생성된주식", seed: seed).write(
                toFile: path,
                atomically: true,
                encoding: .utf8
            )
            return (seed, path)
        }
    )
    static func path(_ seed: UInt64) -> String { Self.paths[seed]! }  // seeds 1...3 are written above
    static func text(_ seed: UInt64) throws -> String { try String(contentsOfFile: Self.path(seed), encoding: .utf8) }
}

/// Runs TA-Lib (PyPI `TA-Lib`, installed by scripts/setup.sh) on a CSV file and parses its columns.
func taLibReference(csvPath: String) async throws -> [[Double]] {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Reference/talib_reference.py"
    ).path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script, csvPath]
    let output = OutputFile()
    let errors = OutputFile()
    process.standardOutput = output.handle
    process.standardError = errors.handle
    try process.run()
    let (data, problem) = try await onOwnThread {  // python's run, waited for off the cooperative pool
        process.waitUntilExit()
        return (Data(output.text.utf8), errors.text)
    }
    try #require(
        process.terminationStatus == 0,
        "TA-Lib reference failed (run scripts/setup.sh to install TA-Lib): \(problem)"
    )
    return String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst().map { line in
        line.split(separator: ",").dropFirst().map { Double($0) ?? .nan }
    }
}

@Suite struct IndicatorReferenceTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyColumnMatchesTALibOnGeneratedBars(seed: UInt64) async throws {
        try await Self.compareWithTALib(path: GeneratedFiles.path(seed), label: "generated bars, seed \(seed)")
    }

    @Test(
        .enabled(
            if: SharedData.has("data/krx/005930_daily.csv"),
            "the KRX files are not redistributable: only beside ../shared"
        ),
        arguments: ["data/krx/005930_daily.csv", "data/krx/000660_daily.csv"]
    )
    func everyColumnMatchesTALibOnKRXFiles(file: String) async throws {
        try await Self.compareWithTALib(path: SharedData.root + "/" + file, label: file)
    }

    static func compareWithTALib(path: String, label file: String) async throws {
        let bars = try DailyBarsCSV(parsing: try String(contentsOfFile: path, encoding: .utf8)).bars
        let reference = try await taLibReference(csvPath: path)
        try #require(reference.count == bars.count)
        var set = IndicatorSet()
        var compared = 0
        var worst = 0.0
        for (index, bar) in bars.enumerated() {
            let ours = set.update(bar)
            for (column, name) in IndicatorSet.columns.enumerated() {
                let theirs = reference[index][column]
                guard let value = ours[column] else {
                    #expect(theirs.isNaN, "\(name) bar \(index): TA-Lib has \(theirs), we are still warming up")
                    continue
                }
                #expect(!theirs.isNaN, "\(name) bar \(index): we have \(value), TA-Lib is still warming up")
                guard !theirs.isNaN else { continue }
                let error = abs(value - theirs) / max(abs(theirs), 1e-12)
                // Relative 1e-9; for values near zero (MACD histogram, flat RSI) an absolute 1e-9 of the price scale.
                let scale = max(abs(theirs), Double(bar.close) * 1e-3)
                #expect(abs(value - theirs) <= 1e-9 * scale, "\(name) bar \(index): ours \(value), TA-Lib \(theirs)")
                if abs(theirs) > 1 { worst = max(worst, error) }
                compared += 1
            }
        }
        #expect(compared > bars.count * 14)
        print("\(file): \(compared) values compared with TA-Lib, worst relative difference \(worst)")
    }

    /// StockCharts ChartSchool's Bollinger example (via the `ta` library's test data): TA-Lib's convention.
    @Test(
        .enabled(if: SharedData.has("data/ta-reference/cs-bbands.csv"), "StockCharts' example is only beside ../shared")
    )
    func bollingerBandsMatchTheStockChartsExample() throws {
        let rows = try SharedData.text("data/ta-reference/cs-bbands.csv").split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
        var bands = BollingerBands(period: 20, deviations: 2)
        var compared = 0
        for row in rows {
            bands.update(Double(row[1])!)
            guard let middle = Double(row[2]), let high = Double(row[4]), let low = Double(row[5]) else {
                #expect(bands.middle == nil)
                continue
            }
            #expect(abs(bands.middle! - middle) < 1e-6)
            #expect(abs(bands.upper! - high) < 1e-6)
            #expect(abs(bands.lower! - low) < 1e-6)
            compared += 1
        }
        #expect(compared >= 23, "every row of the example with values")
    }

    @Test func smaOfAKnownSeries() {
        var sma = SimpleMovingAverage(period: 3)
        var values: [Double?] = []
        for x in [1.0, 2, 3, 4, 5] {
            sma.update(x)
            values.append(sma.value)
        }
        #expect(values == [nil, nil, 2, 3, 4])
    }

    @Test func badCSVRowsNameTheirLine() {
        let text = "date,open,high,low,close,volume\n20240102,100,110,90,105,10\n20240103,100,90,95,105,10\n"
        do {
            _ = try DailyBarsCSV(parsing: text)
            Issue.record("an inconsistent row was accepted")
        } catch {
            #expect(error.message.hasPrefix("line 3:"))
        }
        #expect(throws: EngineError.self) {
            _ = try DailyBarsCSV(parsing: "date,open,high,low,close,volume\n20240103,1,1,1,1,1\n20240102,1,1,1,1,1\n")
        }
        #expect(throws: EngineError.self) { _ = try DailyBarsCSV(parsing: "date,open,high,low\n") }
        #expect(throws: EngineError.self) {
            _ = try DailyBarsCSV(parsing: "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
        }
    }
}
