import Foundation

/// A protective order the engine holds and watches: stop-loss, take-profit, trailing stop. KIS's domestic REST
/// orders have no native stop, so the engine watches the 1-minute bars it records (a daily backtest's daily bars,
/// on days without minutes) and, when a bar crosses the
/// trigger's level, places the exit as an ordinary market or limit order (risk-checked as any order: a refusal
/// — market closed, account halted, no shares — is the exit's `OrderRejected` with its reason, never silence).
/// The decision is made in the pure core from recorded events only, so a replay fires the same exits at the
/// same offsets, and a backtest runs the same code.
///
/// Levels, for a SELL trigger protecting a long position (a BUY trigger mirrors them):
/// * stop-loss fires when a bar's low reaches `triggerPrice`;
/// * take-profit fires when a bar's high reaches `triggerPrice`;
/// * trailing stop fires when a bar's low reaches `water × (1 − trail)` rounded down to the tick, where `water`
///   is the highest high of the bars *before* the one being checked (the last close when armed): a bar that
///   raises the high-water mark and falls back within itself does not fire on the level it just raised, because
///   the order of prices inside a bar is unknown (no look-ahead).
///
/// Triggers sharing a non-empty `group` on the same account and stock are one-cancels-the-other: the first to
/// fire cancels the rest (a bracket's stop and target).
public struct TriggerID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt64
    public init(value: UInt64) { self.value = value }
    public var description: String { zeroPadded(self.value, prefix: "trg-") }

    /// `trg-0000000001`.
    public init?(_ text: String) {
        guard text.hasPrefix("trg-"), text.count == 14, let value = UInt64(text.dropFirst(4)), value > 0 else {
            return nil
        }
        self.value = value
    }

    public static func < (a: TriggerID, b: TriggerID) -> Bool { a.value < b.value }

    /// As `EngineIdentifier`'s: `integerHash` (every bar of a stock with armed triggers looks each of them up).
    public func _rawHashValue(seed: Int) -> Int { integerHash(self.value, seed: seed) }
}

public enum TriggerKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case stopLoss = 1
    case takeProfit = 2
    case trailingStop = 3

    public var description: String {
        switch self {
        case .stopLoss: "STOP_LOSS"
        case .takeProfit: "TAKE_PROFIT"
        case .trailingStop: "TRAILING_STOP"
        }
    }

    public init?(text: String) {
        guard let kind = Self.allCases.first(where: { $0.description == text.uppercased() }) else { return nil }
        self = kind
    }
}

public enum TriggerStatus: UInt8, Sendable, Hashable, CustomStringConvertible {
    case armed = 1
    case fired = 2
    case cancelled = 3

    public var description: String {
        switch self {
        case .armed: "ARMED"
        case .fired: "FIRED"
        case .cancelled: "CANCELLED"
        }
    }
}

/// What a person asks for: the command's payload.
public struct ArmTrigger: Sendable, Hashable {
    public var account: AccountID
    public var stock: StockCode
    public var side: OrderSide
    public var kind: TriggerKind
    public var quantity: Int64
    /// The level of a stop-loss or take-profit (KRW, on the tick); 0 for a trailing stop.
    public var triggerPrice: Int64
    /// A trailing stop's distance in basis points (250 = 2.5 %); 0 otherwise.
    public var trailBasisPoints: Int64
    /// The exit's limit price; 0: a market exit.
    public var limitPrice: Int64
    /// One-cancels-the-other group ("" for none).
    public var group: String
    /// A bracket's exit: watched only once this entry order has filled (for the quantity it filled); cancelled
    /// if it ends unfilled. nil: watched from the start.
    public var entry: OrderID?
    /// A bracket's stop-loss or take-profit placed as a distance from the entry's average fill price, in basis
    /// points (300 = 3 %), instead of a price: `triggerPrice` is 0 until the entry fills and is then set from
    /// the fill (a sell's stop below it rounded down to its tick, a sell's target above it rounded up; a buy's
    /// mirrored). 0: `triggerPrice` as given.
    public var offsetBasisPoints: Int64

    public init(
        account: AccountID,
        stock: StockCode,
        side: OrderSide = .sell,
        kind: TriggerKind,
        quantity: Int64,
        triggerPrice: Int64 = 0,
        trailBasisPoints: Int64 = 0,
        limitPrice: Int64 = 0,
        group: String = "",
        entry: OrderID? = nil,
        offsetBasisPoints: Int64 = 0
    ) {
        self.account = account
        self.stock = stock
        self.side = side
        self.kind = kind
        self.quantity = quantity
        self.triggerPrice = triggerPrice
        self.trailBasisPoints = trailBasisPoints
        self.limitPrice = limitPrice
        self.group = group
        self.entry = entry
        self.offsetBasisPoints = offsetBasisPoints
    }

    /// The level an offset exit takes once its entry filled at `price` on average.
    func level(fromFill price: Int64) -> Int64 {
        let price = max(1, min(price, Bounds.maxPrice))
        let bp = min(max(self.offsetBasisPoints, 1), 9_999)  // as decideArm admits: positive, within Int64
        // A stop below the fill for a sell exit, above it for a buy exit; a target the other way.
        let below = (self.kind == .stopLoss) == (self.side == .sell)
        let raw = below ? price * (10_000 - bp) / 10_000 : (price * (10_000 + bp) + 9_999) / 10_000
        return OrderIntent.onTick(raw, up: !below)
    }
}

extension ArmTrigger {
    /// The binary form, shared by `TriggerArmed` in the log and the snapshot's triggers.
    func encode(into writer: inout some ByteWriter) {
        writer.varint(self.account.value)
        writer.varint(UInt64(self.stock.value))
        writer.byte(self.side.rawValue)
        writer.byte(self.kind.rawValue)
        writer.signed(self.quantity)
        writer.signed(self.triggerPrice)
        writer.signed(self.trailBasisPoints)
        writer.signed(self.limitPrice)
        writer.string(self.group)
        writer.varint(self.entry.map { $0.value + 1 } ?? 0)
        writer.signed(self.offsetBasisPoints)
    }

    /// `withOffset`: the form written since `TriggerArmed` v2 and snapshot v8 (older ones have no offset).
    static func decode(_ reader: inout BinaryReader, withOffset: Bool) throws(EngineError) -> ArmTrigger {
        let account = AccountID(value: try reader.varint())
        let stock = try EventCodec.stock(&reader)
        let side = try EventCodec.enumeration(&reader, OrderSide.self)
        let kind = try EventCodec.enumeration(&reader, TriggerKind.self)
        var request = ArmTrigger(
            account: account,
            stock: stock,
            side: side,
            kind: kind,
            quantity: try reader.signed(),
            triggerPrice: try reader.signed(),
            trailBasisPoints: try reader.signed(),
            limitPrice: try reader.signed(),
            group: try reader.string()
        )
        let entry = try reader.varint()
        request.entry = entry == 0 ? nil : OrderID(value: entry - 1)
        if withOffset { request.offsetBasisPoints = try reader.signed() }
        return request
    }
}

/// `TriggerArmed`: the trigger as armed, with the price its trailing mark starts from.
public struct TriggerArmed: Sendable, Hashable {
    public var trigger: TriggerID
    public var request: ArmTrigger
    /// The last close when armed: a trailing stop's first high-water (low-water for a buy) mark.
    public var water: Int64

    public init(trigger: TriggerID, request: ArmTrigger, water: Int64) {
        self.trigger = trigger
        self.request = request
        self.water = water
    }
}

/// `TriggerFired`: the bar that crossed the level, and the exit order it placed (requested or rejected next).
public struct TriggerFired: Sendable, Hashable {
    public var trigger: TriggerID
    public var order: OrderID
    public var barStart: Int64
    /// The level crossed and the bar's price that crossed it (its low, or its high).
    public var level: Int64
    public var observed: Int64

    public init(trigger: TriggerID, order: OrderID, barStart: Int64, level: Int64, observed: Int64) {
        self.trigger = trigger
        self.order = order
        self.barStart = barStart
        self.level = level
        self.observed = observed
    }
}

/// `TriggerCancelled`: by its owner, by the kill switch, or by a sibling's firing (one-cancels-the-other).
public struct TriggerCancelled: Sendable, Hashable {
    public var trigger: TriggerID
    public var reason: String

    public init(trigger: TriggerID, reason: String) {
        self.trigger = trigger
        self.reason = reason
    }
}

/// A trigger in the state.
public struct Trigger: Sendable, Hashable {
    public var id: TriggerID
    public var request: ArmTrigger
    /// The trailing mark: the highest high (a sell) or lowest low (a buy) of the bars seen since arming.
    public var water: Int64
    public var status: TriggerStatus = .armed
    /// The exit it placed, once fired.
    public var order: OrderID?
    public var reason: String = ""
    public var armedAt: Int64 = 0
    /// Watched now: false while a bracket's entry has not filled.
    public var active = true

    public init(id: TriggerID, request: ArmTrigger, water: Int64) {
        self.id = id
        self.request = request
        self.water = water
    }

    /// The price that fires it on the next bar.
    public var level: Int64 {
        let r = self.request
        guard r.kind == .trailingStop else { return r.triggerPrice }
        // Held within the engine's bounds (as `priceLimits` is): a log older than `Bounds` may hold any close.
        let water = min(max(self.water, 1), Bounds.maxPrice)
        if r.side == .sell {
            let raw = max(1, water * (10_000 - r.trailBasisPoints) / 10_000)
            return max(1, raw - raw % KRXPriceRules.tickSize(at: raw))
        }
        let raw = max(1, (water * (10_000 + r.trailBasisPoints) + 9_999) / 10_000)
        let tick = KRXPriceRules.tickSize(at: raw)
        return raw % tick == 0 ? raw : raw + tick - raw % tick
    }

    /// The bar's price that reaches the level (its low or its high), or nil when the bar does not.
    public func crossing(_ bar: Candle) -> Int64? {
        let level = self.level
        switch (self.request.kind, self.request.side) {
        case (.stopLoss, .sell), (.trailingStop, .sell), (.takeProfit, .buy):
            return bar.low <= level ? bar.low : nil
        case (.takeProfit, .sell), (.stopLoss, .buy), (.trailingStop, .buy):
            return bar.high >= level ? bar.high : nil
        }
    }

    /// Whether `bar` tells it anything: a bar that ended by the time it was armed (a backlog arriving late, a
    /// stock nobody collected before the trigger) says nothing of prices since; a quote must be taken after.
    func sees(_ bar: Candle, quote: Bool = false) -> Bool {
        (quote ? bar.start : bar.start.saturatingAdd(bar.timeframe.minutes * KST.minuteMicros)) > self.armedAt
    }

    /// The trailing mark after `bar` (unchanged for fixed levels).
    func water(after bar: Candle) -> Int64 {
        guard self.request.kind == .trailingStop else { return self.water }
        return self.request.side == .sell ? max(self.water, bar.high) : min(self.water, bar.low)
    }
}

extension Engine {
    /// `armTrigger`: a listed stock, an open account of the requester's, a sell no larger than the position, the
    /// level on the tick and inside today's band (a trailing stop: 0.1 %–50 %), the exit's limit on the tick.
    ///
    /// `requested`: a bracket's entry decided in the same decision (not in `state` yet), and `armedBefore` the
    /// exits armed with it so far (their ids follow). Checked against it rather than a copy of the state with it
    /// applied: a copy of a day's state per bracket is what made a bracket backtest quadratic.
    func decideArm(
        _ state: EngineState,
        _ request: ArmTrigger,
        requested: OrderRequested? = nil,
        armedBefore: UInt64 = 0
    )
        throws(EngineError) -> Decision
    {
        guard let account = state.accounts[request.account], account.closedAt == nil else {
            throw .notFound("account \(request.account) does not exist")
        }
        guard let stock = state.stocks[request.stock] else { throw .notFound("stock \(request.stock) is not listed") }
        if let entry = request.entry {
            // A bracket's exit: the opposite side of an entry of the same account and stock, still working.
            typealias Entry = (account: AccountID, stock: StockCode, side: OrderSide, quantity: Int64, working: Bool)
            let decided: Entry? = requested.flatMap {
                $0.order == entry ? ($0.account, $0.stock, $0.side, $0.quantity, true) : nil
            }
            let order: Entry? =
                decided
                ?? state.orders[entry].map { ($0.account, $0.stock, $0.side, $0.quantity, !$0.status.isTerminal) }
            guard let order, order.account == request.account, order.stock == request.stock,
                order.side != request.side, order.working
            else { throw .invalid("a bracket's exit needs a working entry on the other side: \(entry)") }
            guard request.quantity == order.quantity else {
                throw .invalid("a bracket's exit covers its entry's \(order.quantity) shares")
            }
        } else if request.side == .sell {
            let held = account.positions[request.stock]?.quantity ?? 0
            guard request.quantity <= held else {
                throw .invalid("a sell trigger protects shares held: \(request.quantity) asked, \(held) held")
            }
        }
        switch request.kind {
        case .stopLoss where request.offsetBasisPoints != 0, .takeProfit where request.offsetBasisPoints != 0:
            guard request.entry != nil else { throw .invalid("only a bracket's exit is placed from its entry's fill") }
            guard (1...9_999).contains(request.offsetBasisPoints) else {
                throw .invalid("an exit's distance from the fill is 0.01 % to 99.99 % (1 to 9,999 basis points)")
            }
            guard request.triggerPrice == 0 else { throw .invalid("an exit placed from the fill has no triggerPrice") }
            guard request.trailBasisPoints == 0 else { throw .invalid("only a trailing stop has a trail") }
        case .stopLoss, .takeProfit:
            guard KRXPriceRules.isOnTick(request.triggerPrice) else {
                throw .invalid("triggerPrice \(request.triggerPrice) KRW is not on its tick")
            }
            guard request.trailBasisPoints == 0 else { throw .invalid("only a trailing stop has a trail") }
        case .trailingStop:
            guard request.offsetBasisPoints == 0 else { throw .invalid("a trailing stop's distance is its trail") }
            guard (10...5_000).contains(request.trailBasisPoints) else {
                throw .invalid("a trailing stop's trail is 0.1 % to 50 % (10 to 5,000 basis points)")
            }
            guard request.triggerPrice == 0 else { throw .invalid("a trailing stop's level follows the price") }
        }
        if request.limitPrice != 0, !KRXPriceRules.isOnTick(request.limitPrice) {
            throw .invalid("limitPrice \(request.limitPrice) KRW is not on its tick")
        }
        let water = stock.marketData.lastClose > 0 ? stock.marketData.lastClose : stock.marketData.basePrice
        let id = TriggerID(value: state.nextTrigger + armedBefore)
        return Decision(
            events: [.triggerArmed(TriggerArmed(trigger: id, request: request, water: water))],
            created: id.value
        )
    }

    /// The triggers `bar` (a closed bar they watch: `StockMarketData.watchesTriggers`) fires, in id order, each followed by its exit's decision and
    /// the cancellation of its one-cancels-the-other siblings. `closed` are the bar's own events (applied first).
    /// `quote`: `bar` is a recorded quote's point (`QuoteRecorded.point`), checked whatever bars the stock has.
    func fireTriggers(
        _ state: EngineState,
        _ bar: Candle,
        closed: [DomainEvent],
        context: CommandContext,
        quote: Bool = false
    )
        throws(EngineError) -> [DomainEvent]
    {
        // A stock KRX halted takes no order, one in a volatility interruption trades in a single-price auction:
        // its triggers wait, and the first bar after the halt or the VI that crosses fires.
        guard let armed = state.armedTriggers[bar.stock], !armed.isEmpty,
            let index = state.stocks.index(forKey: bar.stock)
        else { return [] }
        let stock = state.stocks.values[index]  // one read of the stock, not one per field
        guard stock.tradingStatus == .trading, quote || stock.marketData.watchesTriggers(bar) else { return [] }
        // The exit is decided on `state` itself when it is the bar's first and the bar opens no session: nothing
        // this decision produced can change its checks (ids, reservations, the band). Otherwise on a copy with the
        // bar and the exits before it applied — made only then (a copy per fired trigger was quadratic in a day),
        // and brought up to date only when an exit is decided on it: each event applied to a copy of the state
        // copies the tables it changes (the orders, the triggers) whole.
        var scratch: EngineState?
        var applied = 0  // `events` applied to `scratch`
        var ended: Set<TriggerID> = []
        var events: [DomainEvent] = []
        let opensSession = stock.marketData.currentDay != KST.day(bar.start)
        for id in armed.sorted() {
            // Levels as they stood before this bar; not fired or cancelled earlier in this decision.
            guard !ended.contains(id), let trigger = state.triggers[id], trigger.sees(bar, quote: quote),
                let observed = trigger.crossing(bar)
            else {
                continue
            }
            if !events.isEmpty || opensSession {
                if scratch == nil { scratch = Self.placing(state, after: closed, at: context.time) }
                while applied < events.count {
                    scratch?.apply(EventEnvelope(timestamp: context.time, event: events[applied]))
                    applied += 1
                }
            }
            let r = trigger.request
            let placed = try self.decidePlace(
                scratch ?? state,
                PlaceOrder(
                    account: r.account,
                    stock: r.stock,
                    side: r.side,
                    type: r.limitPrice > 0 ? .limit : .market,
                    quantity: r.quantity,
                    price: r.limitPrice,
                    source: .trigger,
                    clientOrderID: "trigger:\(id)"
                ),
                context: context
            )
            guard let order = placed.order else { continue }
            var batch: [DomainEvent] = [
                .triggerFired(
                    TriggerFired(
                        trigger: id,
                        order: order,
                        barStart: bar.start,
                        level: trigger.level,
                        observed: observed
                    )
                )
            ]
            batch += placed.events
            ended.insert(id)
            if !r.group.isEmpty {
                for sibling in armed.sorted() where sibling != id && !ended.contains(sibling) {
                    guard let other = state.triggers[sibling], other.request.account == r.account,
                        other.request.group == r.group
                    else { continue }
                    ended.insert(sibling)
                    batch.append(
                        .triggerCancelled(
                            TriggerCancelled(trigger: sibling, reason: "one-cancels-the-other: \(id) fired")
                        )
                    )
                }
            }
            events += batch
        }
        return events
    }

    /// `state` as placing an exit sees it after the bar's own records (`closed`): a candle changes what placing
    /// reads only through its stock's market data (the session, the band, the last close) — the trailing marks
    /// it moves are the triggers' business, and moving them here copied the whole trigger table on every bar that
    /// opened a session; a quote changes nothing placing reads. Anything else is applied whole.
    static func placing(_ state: EngineState, after closed: [DomainEvent], at time: Int64) -> EngineState {
        var copy = state
        for event in closed {
            switch event {
            case .candleClosed(let candle): copy.applyMarketData(candle)
            case .quoteRecorded: break
            default: copy.apply(EventEnvelope(timestamp: time, event: event))
            }
        }
        return copy
    }
}
