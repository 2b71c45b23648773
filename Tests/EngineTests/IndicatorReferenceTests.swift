import Simulation
import Runtime
import Storage
import Foundation
import Projections
import Testing
import TestSupport
@testable import Engine

enum SharedData {
    /// `../shared` next to the checkout (present for every developer and in CI), or `$STOCKBOOM_SHARED_DIR`.
    static let root = ProcessInfo.processInfo.environment["STOCKBOOM_SHARED_DIR"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared").path
    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: Self.root + "/" + relative, encoding: .utf8)
    }
}

/// Runs TA-Lib (PyPI `TA-Lib`, installed by scripts/setup.sh) on a CSV file and parses its columns.
func taLibReference(csvPath: String) async throws -> [[Double]] {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Reference/talib_reference.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script, csvPath]
    let output = OutputFile()
    let errors = OutputFile()
    process.standardOutput = output.handle
    process.standardError = errors.handle
    try process.run()
    let (data, problem) = try await blocking {  // python's run, waited for off the cooperative pool
        process.waitUntilExit()
        return (Data(output.text.utf8), errors.text)
    }
    try #require(process.terminationStatus == 0, "TA-Lib reference failed (run scripts/setup.sh to install TA-Lib): \(problem)")
    return String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst().map { line in
        line.split(separator: ",").dropFirst().map { Double($0) ?? .nan }
    }
}

@Suite struct IndicatorReferenceTests {
    @Test(arguments: ["data/krx/005930_daily.csv", "data/krx/000660_daily.csv"])
    func everyColumnMatchesTALibAfterWarmUp(file: String) async throws {
        let bars = try DailyBarsCSV(parsing: try SharedData.text(file)).bars
        let reference = try await taLibReference(csvPath: SharedData.root + "/" + file)
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
    @Test func bollingerBandsMatchTheStockChartsExample() throws {
        let rows = try SharedData.text("data/ta-reference/cs-bbands.csv").split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
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
        #expect(throws: EngineError.self) { _ = try DailyBarsCSV(parsing: "date,open,high,low,close,volume\n20240103,1,1,1,1,1\n20240102,1,1,1,1,1\n") }
        #expect(throws: EngineError.self) { _ = try DailyBarsCSV(parsing: "date,open,high,low\n") }
        #expect(throws: EngineError.self) { _ = try DailyBarsCSV(parsing: "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n") }
    }
}
