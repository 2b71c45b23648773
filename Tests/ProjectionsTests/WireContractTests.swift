import Engine
import Foundation
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import Testing

/// The worker protocol's hand-written JSON (indicator commands, stock and strategy views) reads back as what
/// `JSONEncoder` writes for the same values: the gateway and the worker still decode with `Codable`.
@Suite struct WorkerJSONTests {
    static let sorted: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    @Test func indicatorCommandsDecodeAsWritten() throws {
        let values: [String: Double] = [
            "rsi14": 63.25, "sma20": 55_123.5, "macd": -12.000001, "tiny": 1e-7, "big": 1.5e300, "zero": 0,
        ]
        let command = WireCommand.indicators(
            stock: "005930",
            timeframe: "1m",
            start: 1_736_121_600_000_000,
            values: values
        )
        let text = try command.json()
        let decoded = try JSONDecoder().decode(WireCommand.self, from: Data(text.utf8))
        #expect(decoded == command, "\(text)")
        // The other cases keep JSONEncoder's form, so a request may mix them.
        let fill = WireCommand.fill(order: "ord-0000000007", quantity: 3, price: 55_100, fillID: "f\"1/2")
        #expect(try JSONDecoder().decode(WireCommand.self, from: Data(try fill.json().utf8)) == fill)
        let body = try "{\"commands\":[" + [command, fill].map { try $0.json() }.joined(separator: ",") + "]}"
        struct Body: Decodable { var commands: [WireCommand] }
        #expect(try JSONDecoder().decode(Body.self, from: Data(body.utf8)).commands == [command, fill])
        // What JSON cannot carry is refused before sending, as JSONEncoder refuses it.
        #expect(throws: EncodingError.self) {
            try WireCommand.indicators(stock: "005930", timeframe: "1m", start: 0, values: ["rsi14": .nan]).json()
        }
    }

    /// A send again carries the last send the worker saw; a worker of an earlier version sends it without
    /// one, and that still reads (as a send again without the check).
    @Test func aSendAgainReadsWithAndWithoutItsLastSend() throws {
        let checked = WireCommand.resending(order: "ord-0000000007", lastSend: 1_736_121_600_123_456)
        #expect(try JSONDecoder().decode(WireCommand.self, from: Data(try checked.json().utf8)) == checked)
        #expect(try checked.command() == .recordResending(OrderID(value: 7), lastSend: 1_736_121_600_123_456))
        let old = try JSONDecoder().decode(
            WireCommand.self,
            from: Data(#"{"resending":{"order":"ord-0000000007"}}"#.utf8)
        )
        #expect(old == .resending(order: "ord-0000000007", lastSend: nil))
        #expect(try old.command() == .recordResending(OrderID(value: 7), lastSend: nil))
    }

    @Test func viewsAreWhatTheEncoderWrites() throws {
        let stocks = [
            WorkerStockView(
                stock: "005930",
                lastMinuteStart: 1_736_121_600_000_000,
                strategyAccounts: ["acc-0000000001", "acc-0000000002"]
            ),
            WorkerStockView(stock: "000660", lastMinuteStart: nil, strategyAccounts: []),
        ]
        for view in stocks {
            #expect(view.json == String(decoding: try Self.sorted.encode(view), as: UTF8.self))
            #expect(try JSONDecoder().decode(WorkerStockView.self, from: Data(view.json.utf8)) == view)
        }
        let strategies = [
            WorkerStrategyView(
                account: "acc-0000000001",
                stock: "005930",
                strategy: "ma-cross",
                parameters: "fast=5,slow=20,quantity=10",
                position: 30
            ),
            WorkerStrategyView(
                account: "acc-0000000002",
                stock: "000660",
                strategy: "rsi-reversion",
                parameters: "a \"quoted\" \\ value\n",
                position: -1
            ),
        ]
        for view in strategies {
            #expect(view.json == String(decoding: try Self.sorted.encode(view), as: UTF8.self))
            #expect(try JSONDecoder().decode(WorkerStrategyView.self, from: Data(view.json.utf8)) == view)
        }
        struct Stocks: Decodable { var stocks: [WorkerStockView] }
        #expect(
            try JSONDecoder().decode(
                Stocks.self,
                from: Data(JSONObjectWriter.document("stocks", objects: stocks.map(\.json)).utf8)
            ).stocks == stocks
        )
    }
}
