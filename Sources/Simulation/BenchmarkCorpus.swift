import Engine
import Foundation

/// The benchmarks' corpus: JSON lines shaped like a KRX trading day, fed alike to StockBoom's log and to
/// every peer (PostgreSQL, Redis Streams, lz4), so their figures compare. About 80 % one-minute candle
/// closes (2,700 stocks in turn, minute after minute of the 381-minute session, prices on the tick grid,
/// moving by a normal step of 0.2 %), 17 % order-lifecycle events over 200 accounts, 3 % notifications with
/// Korean text. Deterministic for a seed.
public struct BenchmarkCorpus {
    /// 2025-01-02 09:00 KST, Unix seconds.
    static let sessionOpen: Int64 = 1_735_776_000
    static let sessionMinutes: Int64 = 381
    static let orderKinds = [
        "OrderRequested", "OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderPartiallyFilled", "OrderRejected",
        "OrderCancelled",
    ]
    static let reasons = [
        "INSUFFICIENT_BALANCE", "MARKET_CLOSED", "PRICE_OUT_OF_RANGE", "DAILY_LIMIT_EXCEEDED", "TOKEN_EXPIRED",
    ]
    static let notificationKinds = ["ORDER_FILLED", "ORDER_FAILED", "PRICE_ALERT"]

    private var random: SplitMixRandom
    private let stocks: [String]
    private var last: [Int64]
    private var next = 0
    private var minute: Int64 = 0
    private var orders = 0

    public init(seed: UInt64, stocks count: Int = 2_700) {
        var random = SplitMixRandom(state: seed)
        var codes = Set<String>()
        while codes.count < count { codes.insert(Self.code(Int.random(in: 1...999_999, using: &random))) }
        self.stocks = codes.sorted()
        self.last = self.stocks.map { _ in Self.onTick(Int64.random(in: 1_000...400_000, using: &random)) }
        self.random = random
    }

    /// The next event, one line of JSON without its newline.
    public mutating func nextLine() -> String {
        if self.next == self.stocks.count {
            self.next = 0
            self.minute = (self.minute + 1) % Self.sessionMinutes
        }
        let time = Self.sessionOpen + self.minute * 60
        let roll = Double.random(in: 0..<1, using: &self.random)
        if roll < 0.8 {
            let index = self.next
            self.next += 1
            let open = self.last[index]
            let close = Self.onTick(max(1, Int64(Double(open) * (1 + self.gaussian() * 0.002))))
            let tick = KRXPriceRules.tickSize(at: open)
            let high = Self.onTick(max(open, close) + tick * Int64.random(in: 0...3, using: &self.random))
            let low = Self.onTick(max(1, min(open, close) - tick * Int64.random(in: 0...3, using: &self.random)))
            self.last[index] = close
            let volume = Int.random(in: 0...250_000, using: &self.random)
            return
                #"{"type":"CandleClosed","v":1,"stock":"\#(self.stocks[index])","tf":"1m","ts":\#(time),"o":\#(open),"h":\#(high),"l":\#(low),"c":\#(close),"vol":\#(volume)}"#
        }
        if roll < 0.97 {
            self.orders += 1
            let index = Int.random(in: 0..<self.stocks.count, using: &self.random)
            let kind = Self.orderKinds.randomElement(using: &self.random)!  // non-empty
            let account = Int.random(in: 0..<200, using: &self.random)
            let side = Bool.random(using: &self.random) ? "BUY" : "SELL"
            let quantity = Int.random(in: 1...500, using: &self.random)
            let millis = time * 1_000 + Int64.random(in: 0...59_999, using: &self.random)
            var line =
                #"{"type":"\#(kind)","v":1,"orderId":"ord-\#(Self.padded(self.orders, 10))","account":"acc-\#(Self.padded(account, 4))","stock":"\#(self.stocks[index])","side":"\#(side)","qty":\#(quantity),"price":\#(self.last[index]),"ts":\#(millis)"#
            if kind == "OrderRejected" { line += #","reason":"\#(Self.reasons.randomElement(using: &self.random)!)""# }
            if ["OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderPartiallyFilled"].contains(kind) {
                line +=
                    #","brokerOrderNo":"\#(Self.padded(Int.random(in: 1...9_999_999_999, using: &self.random), 10))""#
            }
            return line + "}"
        }
        let user = Int.random(in: 0...199, using: &self.random)
        let kind = Self.notificationKinds.randomElement(using: &self.random)!  // non-empty
        let stock = self.stocks.randomElement(using: &self.random)!  // non-empty
        let quantity = Int.random(in: 1...500, using: &self.random)
        return
            #"{"type":"NotificationCreated","v":1,"user":"user-\#(Self.padded(user, 4))","kind":"\#(kind)","title":"주문 체결","message":"\#(stock) \#(quantity)주 체결","ts":\#(time)}"#
    }

    /// A standard normal value (Box–Muller).
    private mutating func gaussian() -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self.random)
        let v = Double.random(in: 0..<1, using: &self.random)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    static func onTick(_ price: Int64) -> Int64 {
        let tick = KRXPriceRules.tickSize(at: price)
        return max(tick, price - price % tick)
    }

    static func code(_ number: Int) -> String { Self.padded(number, 6) }

    static func padded(_ number: Int, _ width: Int) -> String {
        let text = String(number)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
