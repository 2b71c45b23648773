import Ledger

/// The canonical binary form of the whole state: the snapshot format, and (hashed) the state digest.
///
/// Canonical means every dictionary and set is written in sorted key order, so two equal states always
/// encode to the same bytes, and so have the same digest. Version 10 (v9 had no send marks of orders, v8 had no keys of skipped signals, v7 had no trigger offsets and no stock halts, v6 no rule sets, v5 no triggers, v4 no operators and no
/// global trading halt, v3 no broker organization per order,
/// v2 no analysed-bar marker per
/// stock, v1 no account closing time either; both still decode); `stateVersion` in the snapshot header.
extension EngineState {
    public static let snapshotVersion: UInt32 = 10
    /// Versions `init(snapshot:)` reads.
    public static let readableSnapshotVersions: ClosedRange<UInt32> = 1...10

    /// SHA-256 of the canonical encoding: equal digests ⇔ equal states (to SHA-256's strength).
    public var digest: String { Digest.sha256Hex(self.snapshot()) }

    public func snapshot() -> [UInt8] {
        // Written into one buffer with no array bookkeeping per value (`ScratchWriter`: per-value appends were
        // most of a long backtest's digest), sized from the tables; a state whose texts outgrow the estimate is
        // written again into a buffer four times as large. Pages of the estimate never written are never touched.
        var capacity = self.snapshotEstimate
        while true {
            var fits = false
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                var writer = ScratchWriter(buffer)
                self.encodeSnapshot(into: &writer)
                fits = !writer.overflowed
                count = fits ? writer.count : 0
            }
            if fits { return bytes }
            capacity *= 4
        }
    }

    /// Bytes the snapshot likely takes: generous per entry (a few hundred bytes an order or trigger), far less
    /// than a state holding long texts everywhere would need.
    var snapshotEstimate: Int {
        var estimate = 1 << 14
        estimate += self.stocks.count * 1_024 + self.users.count * 512 + self.accounts.count * 4_096
        estimate += self.orders.count * 384 + self.triggers.count * 256 + self.notifications.count * 48
        estimate += self.clientOrderIDs.values.reduce(0) { $0 + $1.count * 96 }
        estimate += self.skippedSignals.values.reduce(0) { $0 + $1.count * 96 }
        estimate += self.ruleSets.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count * 4_096 } }
        return estimate
    }

    private func encodeSnapshot(into w: inout some ByteWriter) {
        w.varint(UInt64(Self.snapshotVersion))
        w.signed(self.fees.commissionPartsPerBillion)
        w.signed(self.fees.sellTaxPartsPerBillion)
        w.varint(self.nextOrder)
        w.varint(self.nextAccount)
        w.varint(self.nextUser)
        w.varint(self.nextNotification)
        w.varint(self.anomalies)
        w.varint(self.eventCount)
        w.varint(UInt64(self.stocks.count))
        for code in self.stocks.keys.sorted() { Self.encode(self.stocks[code]!, &w) }  // key from the dictionary
        w.varint(UInt64(self.users.count))
        for user in self.users.keys.sorted() {
            w.varint(user.value)
            w.string(self.users[user]!)
        }
        w.varint(UInt64(self.accounts.count))
        for id in self.accounts.keys.sorted() { Self.encode(self.accounts[id]!, &w) }
        w.varint(UInt64(self.orders.count))
        for index in Self.byKey(self.orders, number: \.value) { Self.encode(self.orders.values[index], &w) }
        w.varint(UInt64(self.notifications.count))
        for index in Self.byKey(self.notifications, number: \.value) {
            let (id, n) = self.notifications[index]
            w.varint(id.value)
            w.varint(n.user.value)
            w.string(n.kind)
            w.byte(n.delivered ? 1 : 0)
            w.byte(n.read ? 1 : 0)
        }
        w.varint(UInt64(self.clientOrderIDs.count))
        for account in self.clientOrderIDs.keys.sorted() {
            let ids = self.clientOrderIDs[account]!
            w.varint(account.value)
            w.varint(UInt64(ids.count))
            for index in Self.byKey(ids) {
                w.string(ids.keys[index])
                w.varint(ids.values[index].value)
            }
        }
        w.varint(UInt64(self.operators.count))
        for user in self.operators.sorted(by: { $0.value < $1.value }) { w.varint(user.value) }
        w.byte(self.tradingHalt == nil ? 0 : 1)
        w.string(self.tradingHalt ?? "")
        w.varint(self.nextTrigger)
        w.varint(UInt64(self.triggers.count))
        for index in Self.byKey(self.triggers, number: \.value) {
            let t = self.triggers.values[index]
            w.varint(self.triggers.keys[index].value)
            t.request.encode(into: &w)
            w.signed(t.water)
            w.byte(t.status.rawValue)
            w.varint(t.order.map { $0.value + 1 } ?? 0)
            w.string(t.reason)
            w.signed(t.armedAt)
            w.byte(t.active ? 1 : 0)
        }
        w.varint(UInt64(self.ruleSets.count))
        for user in self.ruleSets.keys.sorted(by: { $0.value < $1.value }) {
            let sets = self.ruleSets[user]!  // key from the dictionary
            w.varint(user.value)
            w.varint(UInt64(sets.count))
            for name in sets.keys.sorted() {
                w.string(name)
                w.varint(UInt64(sets[name]!.count))
                for source in sets[name]! { w.string(source) }
            }
        }
        w.varint(UInt64(self.skippedSignals.count))
        for account in self.skippedSignals.keys.sorted() {
            let keys = self.skippedSignals[account]!.sorted()  // key from the dictionary
            w.varint(account.value)
            w.varint(UInt64(keys.count))
            for key in keys { w.string(key) }
        }
    }

    /// The positions of `table`'s entries in ascending key order: the canonical walk, without a lookup by key
    /// per entry (the large tables — orders, triggers, notifications — were a share of a long run's digest).
    /// `number`: the integer of ids handed out by a counter, in the keys' order; when they span at most twice
    /// their count (a run with few gaps, as the engine hands them out) they are placed by it in one pass, no sort.
    static func byKey<Key: Comparable, Value>(_ table: [Key: Value], number: ((Key) -> UInt64)? = nil)
        -> [Dictionary<Key, Value>.Index]
    {
        if let number, !table.isEmpty {
            var low = UInt64.max
            var high = UInt64.min
            for key in table.keys {
                low = min(low, number(key))
                high = max(high, number(key))
            }
            if high - low < 2 * UInt64(table.count) {
                var slots = [Dictionary<Key, Value>.Index?](repeating: nil, count: Int(high - low) + 1)
                var index = table.startIndex
                while index != table.endIndex {
                    slots[Int(number(table.keys[index]) - low)] = index
                    table.formIndex(after: &index)
                }
                return slots.compactMap { $0 }
            }
        }
        var entries: [(key: Key, index: Dictionary<Key, Value>.Index)] = []
        entries.reserveCapacity(table.count)
        var index = table.startIndex
        while index != table.endIndex {
            entries.append((table.keys[index], index))
            table.formIndex(after: &index)
        }
        entries.sort { $0.key < $1.key }
        return entries.map(\.index)
    }

    private static func encode(_ s: StockInfo, _ w: inout some ByteWriter) {
        w.varint(UInt64(s.code.value))
        w.string(s.name)
        w.string(s.market)
        let m = s.marketData
        w.signed(m.basePrice)
        w.signed(m.lastClose)
        w.signed(m.lastCloseAt)
        w.signed(m.currentDay)
        w.varint(UInt64(m.minutesSeen.count))
        for word in m.minutesSeen { w.fixed64(word) }
        let direct = m.lastDirectStart.enumerated().compactMap { slot, start in start.map { (UInt8(slot + 1), $0) } }
        w.varint(UInt64(direct.count))
        for (key, start) in direct {
            w.byte(key)
            w.signed(start)
        }
        for table in [m.open, m.lastClosed] {
            let present = table.enumerated().compactMap { slot, aggregate in aggregate.map { (UInt8(slot + 1), $0) } }
            w.varint(UInt64(present.count))
            for (key, a) in present {
                w.byte(key)
                w.signed(a.start)
                w.signed(a.open)
                w.signed(a.high)
                w.signed(a.low)
                w.signed(a.close)
                w.signed(a.volume)
                w.signed(a.firstMinute)
                w.signed(a.lastMinute)
            }
        }
        w.signed(s.lastAnalysedMinute ?? .min)
        w.byte(s.tradingStatus.rawValue)
        w.string(s.statusReason)
    }

    private static func encode(_ a: Account, _ w: inout some ByteWriter) {
        w.varint(a.id.value)
        w.varint(a.user.value)
        w.byte(a.broker.rawValue)
        w.string(a.maskedAccountNumber)
        w.signed(a.dailyOrderLimit)
        w.signed(a.cash)
        w.signed(a.reservedCash)
        w.signed(a.realizedProfit)
        w.signed(a.commissionPaid)
        w.signed(a.taxPaid)
        w.signed(a.orderDay)
        w.signed(a.ordersThatDay)
        w.signed(a.tokenExpiresAt ?? .min)
        w.byte(a.haltReason == nil ? 0 : 1)
        w.string(a.haltReason ?? "")
        w.signed(a.closedAt ?? .min)
        w.varint(UInt64(a.positions.count))
        for code in a.positions.keys.sorted() {
            let p = a.positions[code]!
            w.varint(UInt64(code.value))
            w.signed(p.quantity)
            w.signed(p.reservedForSale)
            w.signed(p.costBasis)
        }
        w.varint(UInt64(a.strategies.count))
        for key in a.strategies.keys.sorted() {
            let s = a.strategies[key]!
            w.varint(UInt64(s.stock.value))
            w.string(s.strategy)
            w.string(s.parameters)
        }
    }

    private static func encode(_ o: Order, _ w: inout some ByteWriter) {
        w.varint(o.id.value)
        w.varint(o.account.value)
        w.varint(UInt64(o.stock.value))
        w.byte(o.side.rawValue)
        w.byte(o.type.rawValue)
        w.signed(o.quantity)
        w.signed(o.price)
        w.byte(o.source.rawValue)
        w.string(o.clientOrderID)
        w.byte(o.status.rawValue)
        w.signed(o.filledQuantity)
        w.signed(o.filledNotional)
        w.signed(o.commission)
        w.signed(o.tax)
        w.signed(o.reservedCash)
        w.string(o.brokerOrderNumber)
        w.string(o.brokerOrganization)  // v4
        w.byte(o.rejectedBy?.rawValue ?? 0)
        w.string(o.failureReason?.rawValue ?? "")
        w.string(o.failureMessage)
        w.signed(o.createdAt)
        w.signed(o.updatedAt)
        w.byte(o.cancelRequested ? 1 : 0)
        w.varint(UInt64(o.fillIDs.count))
        if o.fillIDs.count == 1, let only = o.fillIDs.first {
            w.string(only)  // most orders: one fill, nothing to sort
        } else {
            for id in o.fillIDs.sorted() { w.string(id) }
        }
        w.string(o.sendMark)  // v10
    }

    /// Rebuilds a state from `snapshot()` bytes.
    public init(snapshot bytes: [UInt8]) throws(EngineError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(EngineError) in try Self.decode(raw) } }
        self = try result.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws(EngineError) -> EngineState {
        var r = BinaryReader(raw)
        let version = try r.varint()
        guard version <= UInt64(UInt32.max), Self.readableSnapshotVersions.contains(UInt32(version)) else {
            throw .undecodable("engine snapshot version \(version) is not one of \(Self.readableSnapshotVersions)")
        }
        var state = EngineState(
            fees: FeeSchedule(commissionPartsPerBillion: try r.signed(), sellTaxPartsPerBillion: try r.signed())
        )
        state.nextOrder = try r.varint()
        state.nextAccount = try r.varint()
        state.nextUser = try r.varint()
        state.nextNotification = try r.varint()
        state.anomalies = try r.varint()
        state.eventCount = try r.varint()
        for _ in 0..<(try Self.count(&r)) {
            let stock = try Self.decodeStock(&r, version: version)
            state.stocks[stock.code] = stock
        }
        for _ in 0..<(try Self.count(&r)) { state.users[UserID(value: try r.varint())] = try r.string() }
        for _ in 0..<(try Self.count(&r)) {
            let account = try Self.decodeAccount(&r, version: version)
            state.accounts[account.id] = account
        }
        for _ in 0..<(try Self.count(&r)) {
            let order = try Self.decodeOrder(&r, version: version)
            state.orders[order.id] = order
            state.indexBrokerOrder(order)
            if !order.status.isTerminal { state.workingOrders.insert(order.id) }
        }
        for _ in 0..<(try Self.count(&r)) {
            let id = NotificationID(value: try r.varint())
            var n = NotificationState(user: UserID(value: try r.varint()), kind: try r.string())
            n.delivered = try r.byte() == 1
            n.read = try r.byte() == 1
            state.notifications[id] = n
        }
        for _ in 0..<(try Self.count(&r)) {
            let account = AccountID(value: try r.varint())
            var ids: [String: OrderID] = [:]
            for _ in 0..<(try Self.count(&r)) { ids[try r.string()] = OrderID(value: try r.varint()) }
            state.clientOrderIDs[account] = ids
        }
        if version >= 5 {
            for _ in 0..<(try Self.count(&r)) { state.operators.insert(UserID(value: try r.varint())) }
            let halted = try r.byte()
            let reason = try r.string()
            state.tradingHalt = halted == 1 ? reason : nil
        }
        if version >= 6 {
            state.nextTrigger = try r.varint()
            for _ in 0..<(try Self.count(&r)) {
                let id = TriggerID(value: try r.varint())
                let request = try ArmTrigger.decode(&r, withOffset: version >= 8)
                var trigger = Trigger(id: id, request: request, water: try r.signed())
                guard let status = TriggerStatus(rawValue: try r.byte()) else {
                    throw .undecodable("trigger status out of range in snapshot")
                }
                trigger.status = status
                let order = try r.varint()
                trigger.order = order == 0 ? nil : OrderID(value: order - 1)
                trigger.reason = try r.string()
                trigger.armedAt = try r.signed()
                trigger.active = try r.byte() == 1
                state.triggers[id] = trigger
                if status == .armed {
                    if trigger.active {
                        state.armedTriggers[request.stock, default: []].append(id)
                    } else if let entry = trigger.request.entry {
                        state.waitingTriggers[entry, default: []].append(id)
                    }
                }
            }
        }
        if version >= 7 {
            for _ in 0..<(try Self.count(&r)) {
                let user = UserID(value: try r.varint())
                var sets: [String: [String]] = [:]
                for _ in 0..<(try Self.count(&r)) {
                    let name = try r.string()
                    var sources: [String] = []
                    for _ in 0..<(try Self.count(&r)) { sources.append(try r.string()) }
                    sets[name] = sources
                }
                state.ruleSets[user] = sets
            }
        }
        if version >= 9 {
            for _ in 0..<(try Self.count(&r)) {
                let account = AccountID(value: try r.varint())
                var keys: Set<String> = []
                for _ in 0..<(try Self.count(&r)) { keys.insert(try r.string()) }
                state.skippedSignals[account] = keys
            }
        }
        guard r.isAtEnd else { throw .undecodable("engine snapshot has trailing bytes") }
        return state
    }

    private static func count(_ r: inout BinaryReader) throws(EngineError) -> Int {
        let count = try r.varint()
        guard count <= 100_000_000 else { throw .undecodable("implausible count \(count) in snapshot") }
        return Int(count)
    }

    private static func decodeStock(_ r: inout BinaryReader, version: UInt64) throws(EngineError) -> StockInfo {
        let code = try r.varint()
        guard code < 1_000_000 else { throw .undecodable("stock code out of range in snapshot") }
        let name = try r.string()
        let market = try r.string()
        var m = StockMarketData(code: StockCode(value: UInt32(code)), basePrice: try r.signed())
        m.lastClose = try r.signed()
        m.lastCloseAt = try r.signed()
        m.currentDay = try r.signed()
        m.minutesSeen = []
        for _ in 0..<(try Self.count(&r)) { m.minutesSeen.append(try r.fixed64()) }
        for _ in 0..<(try Self.count(&r)) { m.lastDirectStart[try Self.slot(&r)] = try r.signed() }
        for table in 0..<2 {
            for _ in 0..<(try Self.count(&r)) {
                let key = try Self.slot(&r)
                var a = Aggregate(
                    start: try r.signed(),
                    minute: Candle(
                        stock: m.code,
                        timeframe: .minute1,
                        start: 0,
                        open: 1,
                        high: 1,
                        low: 1,
                        close: 1,
                        volume: 0
                    )
                )
                a.open = try r.signed()
                a.high = try r.signed()
                a.low = try r.signed()
                a.close = try r.signed()
                a.volume = try r.signed()
                a.firstMinute = try r.signed()
                a.lastMinute = try r.signed()
                if table == 0 { m.open[key] = a } else { m.lastClosed[key] = a }
            }
        }
        let analysed = version >= 3 ? try r.signed() : .min
        var stock = StockInfo(
            code: m.code,
            name: name,
            market: market,
            marketData: m,
            lastAnalysedMinute: analysed == .min ? nil : analysed
        )
        if version >= 8 {
            let byte = try r.byte()
            let reason = try r.string()
            guard let status = StockTradingStatus(rawValue: byte) else {
                throw .undecodable("stock \(code) has status \(byte) in the snapshot")
            }
            stock.tradingStatus = status
            stock.statusReason = reason
        }
        return stock
    }

    private static func slot(_ r: inout BinaryReader) throws(EngineError) -> Int {
        let key = Int(try r.byte())
        guard key >= 1 && key <= StockMarketData.slots else { throw .undecodable("timeframe slot \(key) in snapshot") }
        return key - 1
    }

    private static func decodeAccount(_ r: inout BinaryReader, version: UInt64) throws(EngineError) -> Account {
        let id = AccountID(value: try r.varint())
        let user = UserID(value: try r.varint())
        guard let broker = BrokerKind(rawValue: try r.byte()) else { throw .undecodable("broker kind in snapshot") }
        var a = Account(
            id: id,
            user: user,
            broker: broker,
            maskedAccountNumber: try r.string(),
            dailyOrderLimit: try r.signed()
        )
        a.cash = try r.signed()
        a.reservedCash = try r.signed()
        a.realizedProfit = try r.signed()
        a.commissionPaid = try r.signed()
        a.taxPaid = try r.signed()
        a.orderDay = try r.signed()
        a.ordersThatDay = try r.signed()
        let token = try r.signed()
        a.tokenExpiresAt = token == .min ? nil : token
        let halted = try r.byte()
        let reason = try r.string()
        a.haltReason = halted == 1 ? reason : nil
        if version >= 2 {
            let closed = try r.signed()
            a.closedAt = closed == .min ? nil : closed
        }
        for _ in 0..<(try Self.count(&r)) {
            let code = try r.varint()
            guard code < 1_000_000 else { throw .undecodable("stock code out of range in snapshot") }
            var p = Position()
            p.quantity = try r.signed()
            p.reservedForSale = try r.signed()
            p.costBasis = try r.signed()
            a.positions[StockCode(value: UInt32(code))] = p
        }
        for _ in 0..<(try Self.count(&r)) {
            let code = try r.varint()
            guard code < 1_000_000 else { throw .undecodable("stock code out of range in snapshot") }
            let stock = StockCode(value: UInt32(code))
            let strategy = try r.string()
            a.strategies[strategy + "@" + stock.description] = StrategyEnabled(
                account: id,
                stock: stock,
                strategy: strategy,
                parameters: try r.string()
            )
        }
        return a
    }

    private static func decodeOrder(_ r: inout BinaryReader, version: UInt64) throws(EngineError) -> Order {
        let id = OrderID(value: try r.varint())
        let account = AccountID(value: try r.varint())
        let code = try r.varint()
        guard code < 1_000_000, let side = OrderSide(rawValue: try r.byte()),
            let type = OrderType(rawValue: try r.byte())
        else {
            throw .undecodable("order fields in snapshot")
        }
        let quantity = try r.signed()
        let price = try r.signed()
        guard let source = OrderSource(rawValue: try r.byte()) else { throw .undecodable("order source in snapshot") }
        let client = try r.string()
        guard let status = OrderStatus(rawValue: try r.byte()) else { throw .undecodable("order status in snapshot") }
        var o = Order(
            id: id,
            account: account,
            stock: StockCode(value: UInt32(code)),
            side: side,
            type: type,
            quantity: quantity,
            price: price,
            source: source,
            clientOrderID: client,
            createdAt: 0,
            updatedAt: 0
        )
        o.status = status
        o.filledQuantity = try r.signed()
        o.filledNotional = try r.signed()
        o.commission = try r.signed()
        o.tax = try r.signed()
        o.reservedCash = try r.signed()
        o.brokerOrderNumber = try r.string()
        o.brokerOrganization = version >= 4 ? try r.string() : ""
        o.rejectedBy = RejectedBy(rawValue: try r.byte())
        let reason = try r.string()
        o.failureReason = reason.isEmpty ? nil : RejectionReason(rawValue: reason)
        o.failureMessage = try r.string()
        o.createdAt = try r.signed()
        o.updatedAt = try r.signed()
        o.cancelRequested = try r.byte() == 1
        for _ in 0..<(try Self.count(&r)) { o.fillIDs.insert(try r.string()) }
        o.sendMark = version >= 10 ? try r.string() : ""
        return o
    }
}
