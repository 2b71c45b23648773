import ArgumentParser
import Foundation
import Simulation

/// `stockboom-sim bench corpus`: writes the benchmarks' corpus (JSON lines) to standard output.
struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Write the benchmarks' corpus: one JSON event per line, shaped like a KRX trading day."
    )

    @Option(help: "Events to write.") var events = 1_000_000
    @Option(help: "Seed (the same seed writes the same file).") var seed: UInt64 = 7
    @Option(help: "Stocks in the market.") var stocks = 2_700

    func run() throws {
        guard self.events >= 0, (1...100_000).contains(self.stocks) else {
            throw ValidationError("--events ≥ 0, --stocks 1…100000")
        }
        var corpus = BenchmarkCorpus(seed: self.seed, stocks: self.stocks)
        var buffer = ""
        buffer.reserveCapacity(1 << 20)
        for _ in 0..<self.events {
            buffer += corpus.nextLine()
            buffer += "\n"
            if buffer.utf8.count > 1 << 20 {
                FileHandle.standardOutput.write(Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        FileHandle.standardOutput.write(Data(buffer.utf8))
    }
}
