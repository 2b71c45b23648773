import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

/// Brings an order of `world` into `status` through legal transitions.
func bring(_ world: inout World, _ account: AccountID, to status: OrderStatus) throws -> OrderID {
    let (order, _) = try world.place(account, .buy, 10, at: 71_000)
    switch status {
    case .pending: break
    case .submitted: try world.run(.recordSubmitted(order))
    case .accepted: try world.accept(order)
    case .partiallyFilled:
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 4, price: 71_000, fillID: "p1"))
    case .cancelRequested:
        try world.accept(order)
        try world.run(.cancelOrder(order))
    case .filled:
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 10, price: 71_000, fillID: "all"))
    case .cancelled: try world.run(.cancelOrder(order))
    case .rejected:
        try world.run(.recordSubmitted(order))
        try world.run(.recordBrokerRejected(order, reason: .brokerRejected, message: "no"))
    case .failed: try world.run(.recordFailed(order, reason: .brokerUnreachable, message: "down"))
    case .expired:
        try world.accept(order)
        try world.run(.expireDayOrders)
    }
    #expect(world.order(order).status == status)
    return order
}

func command(_ transition: OrderTransition, _ order: OrderID) -> Command {
    switch transition {
    case .submit: .recordSubmitted(order)
    case .accept: .recordAccepted(order, brokerOrderNumber: "0000000099")
    case .brokerReject: .recordBrokerRejected(order, reason: .brokerRejected, message: "refused")
    case .partialFill: .recordFill(order, quantity: 1, price: 71_000, fillID: "t-partial")
    case .fill: .recordFill(order, quantity: 10, price: 71_000, fillID: "t-full")
    case .requestCancel: .cancelOrder(order)
    case .cancel: .recordCancelled(order)
    case .fail: .recordFailed(order, reason: .timeout, message: "timeout")
    case .expire: .expireDayOrders
    }
}

struct TransitionCase: CustomTestStringConvertible, Sendable {
    let transition: OrderTransition
    let from: OrderStatus
    var testDescription: String { "\(self.transition) from \(self.from)" }
}

@Suite struct OrderLifecycleTests {
    static let legal: [TransitionCase] = OrderTransition.allCases.flatMap { transition in
        transition.from.sorted { $0.rawValue < $1.rawValue }.map { TransitionCase(transition: transition, from: $0) }
    }
    static let illegal: [TransitionCase] = OrderTransition.allCases.flatMap { transition in
        // (A cancel request for a PENDING order is legal: it cancels at once, see the legal `cancel` case.)
        OrderStatus.allCases.filter {
            !transition.from.contains($0) && $0 != transition.to && !(transition == .requestCancel && $0 == .pending)
        }
        .map { TransitionCase(transition: transition, from: $0) }
    }

    @Test(arguments: Self.legal)
    func everyLegalTransitionMovesTheOrder(_ testCase: TransitionCase) throws {
        var (world, account) = try World.standard()
        let order = try bring(&world, account, to: testCase.from)
        var transitionCommand = command(testCase.transition, order)
        if testCase.transition == .fill, world.order(order).filledQuantity > 0 {
            transitionCommand = .recordFill(
                order,
                quantity: world.order(order).remainingQuantity,
                price: 71_000,
                fillID: "rest"
            )
        }
        if testCase.transition == .cancel && testCase.from == .pending {
            transitionCommand = .cancelOrder(order)  // a pending order is cancelled at once, never sent
        }
        try world.run(transitionCommand)
        #expect(world.order(order).status == testCase.transition.to)
        #expect(world.replayed() == world.state)
    }

    @Test(arguments: Self.illegal)
    func everyIllegalTransitionIsRefusedOrRecordedAsAnAnomaly(_ testCase: TransitionCase) throws {
        var (world, account) = try World.standard()
        let order = try bring(&world, account, to: testCase.from)
        let before = world.state
        let anomaliesBefore = world.state.anomalies
        switch testCase.transition {
        case .partialFill, .fill:
            // A fill already happened at the broker: it cannot be refused, so it is recorded, not applied.
            let decision = try world.run(command(testCase.transition, order))
            #expect(decision.events.map(\.typeName) == ["AnomalyRecorded"])
            #expect(world.state.anomalies == anomaliesBefore + 1)
            #expect(world.order(order) == before.orders[order])
        case .expire:
            // Expiry sweeps working orders only: others are untouched.
            try world.run(.expireDayOrders)
            #expect(world.order(order).status == testCase.from)
        case .requestCancel:
            #expect(throws: EngineError.self) { try world.run(.cancelOrder(order)) }
            #expect(world.state == before)
        default:
            do {
                try world.run(command(testCase.transition, order))
                Issue.record("\(testCase.testDescription) was accepted")
            } catch {
                #expect(error.code == .conflict)
                #expect(error.message.contains(testCase.from.description))
            }
            #expect(world.state == before)
        }
    }

    @Test func repeatedWorkerReportsAreIdempotent() throws {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        #expect(try world.run(.recordAccepted(order, brokerOrderNumber: "x")).events.isEmpty)
        try world.run(.recordFill(order, quantity: 4, price: 71_000, fillID: "f-1"))
        #expect(
            try world.run(.recordFill(order, quantity: 4, price: 71_000, fillID: "f-1")).events.isEmpty,
            "the same fill twice"
        )
        #expect(world.order(order).filledQuantity == 4)
    }

    /// Two workers looking for twin orders at the broker at once must not both take one broker order: a
    /// number another order of the account holds on that day is refused (and changes nothing), while another
    /// account, or an order of another day (KIS numbers orders per day), may hold the same number. The index
    /// behind it is rebuilt from a snapshot.
    @Test func aBrokerOrderBelongsToOneOrderOfItsDay() throws {
        var (world, account) = try World.standard(cash: 50_000_000)
        let other = AccountID(
            value: try world.run(
                .registerAccount(
                    user: UserID(value: 1),
                    broker: .simulated,
                    accountNumber: "5012345602",
                    dailyOrderLimit: 100
                )
            ).created!
        )
        try world.run(.depositCash(account: other, amount: 10_000_000))
        let (first, _) = try world.place(account, .buy, 10, at: 71_000)
        let (twin, _) = try world.place(account, .buy, 10, at: 71_000)
        let (elsewhere, _) = try world.place(other, .buy, 10, at: 71_000)
        for order in [first, twin, elsewhere] { try world.run(.recordSubmitted(order)) }
        try world.run(.recordAccepted(first, brokerOrderNumber: "0000000501"))
        let before = world.state
        do {
            try world.run(.recordAccepted(twin, brokerOrderNumber: "0000000501"))
            Issue.record("a second order took broker order 0000000501")
        } catch {
            #expect(
                error.code == .conflict && error.message.contains("0000000501")
                    && error.message.contains(first.description),
                "\(error.message)"
            )
        }
        #expect(world.state == before)
        #expect(world.state.brokerOrderNumbers(besides: world.order(twin)) == ["0000000501"])
        #expect(
            try world.run(.recordAccepted(first, brokerOrderNumber: "0000000501")).events.isEmpty,
            "the holder's own report again is a no-op"
        )
        try world.run(.recordAccepted(twin, brokerOrderNumber: "0000000502"))
        try world.run(.recordAccepted(elsewhere, brokerOrderNumber: "0000000501"))
        #expect(
            world.state.brokerOrderNumbers(besides: world.order(elsewhere)).isEmpty,
            "numbers of another account are not this one's"
        )
        // The next trading day (Monday), the same number is a different broker order.
        world.now = KST.instant(day: KST.day(year: 2025, month: 1, day: 6), hour: 10)
        let (tomorrow, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.run(.recordSubmitted(tomorrow))
        #expect(
            world.state.brokerOrderNumbers(besides: world.order(tomorrow)).isEmpty,
            "yesterday's numbers are not today's"
        )
        try world.run(.recordAccepted(tomorrow, brokerOrderNumber: "0000000501"))
        #expect(world.order(tomorrow).status == .accepted)
        #expect(world.replayed() == world.state)
        #expect(try EngineState(snapshot: world.state.snapshot()) == world.state, "a snapshot rebuilds the index")
        #expect(world.state.brokerOrders[account]?.count == 3)
    }

    /// A state whose texts outgrow the snapshot's first buffer (orders refused with the longest broker message
    /// there is) is written again into a larger one: whole, and a state rebuilds from it.
    @Test func aSnapshotLongerThanItsEstimateIsWrittenWhole() throws {
        var (world, account) = try World.standard(cash: 1_000_000_000)
        let message = String(repeating: "거부", count: 200)  // 1,200 bytes: cut to 1,023 by `Bounds`
        for _ in 0..<90 {
            let (order, _) = try world.place(account, .buy, 1, at: 71_000)
            try world.run(.recordSubmitted(order))
            try world.run(.recordBrokerRejected(order, reason: .brokerRejected, message: message))
        }
        let bytes = world.state.snapshot()
        #expect(bytes.count > world.state.snapshotEstimate, "the first buffer was too small")
        let rebuilt = try EngineState(snapshot: bytes)
        #expect(rebuilt == world.state)
        #expect(rebuilt.snapshot() == bytes)
        #expect(rebuilt.orders.values.allSatisfy { $0.failureMessage.utf8.count == 1_023 })
    }

    /// The snapshot walks its tables in key order: ids with few gaps placed by number, anything else (a forged
    /// log's far-apart ids, text keys) sorted — the same order either way.
    @Test func theSnapshotWalksEveryTableInKeyOrder() {
        var random = SystemRandomNumberGenerator()
        let dense = (1...600).filter { _ in Int.random(in: 0..<10, using: &random) > 0 }.map {
            OrderID(value: UInt64($0))
        }
        let sparse = [1, 7, 1 << 40, UInt64.max, 3].map { OrderID(value: $0) }
        for ids in [dense, sparse, [], [OrderID(value: 42)]] {
            let table = Dictionary(uniqueKeysWithValues: ids.shuffled().map { ($0, $0.value) })
            let walked = EngineState.byKey(table, number: \.value).map { table.keys[$0] }
            #expect(walked == ids.sorted())
            #expect(EngineState.byKey(table).map { table.keys[$0] } == ids.sorted())
        }
        let texts = Dictionary(uniqueKeysWithValues: ["trigger:10", "trigger:9", "a", ""].map { ($0, 1) })
        #expect(EngineState.byKey(texts).map { texts.keys[$0] } == ["", "a", "trigger:10", "trigger:9"])
    }

    /// A send again of a SUBMITTED order (the broker's list proved the last one was not taken) records
    /// `OrderSubmitted` once more, moving `updatedAt` to the new send; any other status refuses it.
    @Test func resendingMarksTheNewSendOfASubmittedOrderOnly() throws {
        var (world, account) = try World.standard()
        let order = try bring(&world, account, to: .submitted)
        let sentAt = world.order(order).updatedAt
        let decision = try world.run(.recordResending(order), at: sentAt + 5_000_000)
        #expect(decision.events.map(\.typeName) == ["OrderSubmitted"])
        #expect(world.order(order).status == .submitted && world.order(order).updatedAt == sentAt + 5_000_000)
        #expect(world.replayed() == world.state)
        for status in OrderStatus.allCases where status != .submitted {
            var (other, otherAccount) = try World.standard()
            let id = try bring(&other, otherAccount, to: status)
            let before = other.state
            #expect(throws: EngineError.self, "resending from \(status)") { try other.run(.recordResending(id)) }
            #expect(other.state == before)
        }
    }

    @Test func cancelRequestedThenPartialFillThenCancelled() throws {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        try world.run(.cancelOrder(order))
        try world.run(.recordFill(order, quantity: 3, price: 71_000, fillID: "late"))
        #expect(world.order(order).status == .partiallyFilled)
        try world.run(.recordCancelled(order))
        #expect(world.order(order).status == .cancelled)
        #expect(world.account(account).reservedCash == 0, "the unfilled rest released its reservation")
    }

    @Test func overfillsAreAnomalies() throws {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        let decision = try world.run(.recordFill(order, quantity: 11, price: 71_000, fillID: "big"))
        #expect(decision.events.map(\.typeName) == ["AnomalyRecorded"])
        #expect(world.order(order).filledQuantity == 0)
    }
}

/// Ids print as their prefix and at least ten digits, and read back: every width, both ends of `UInt64`.
@Test func idsPrintZeroPaddedAndReadBack() {
    let values: [UInt64] = [0, 1, 9, 10, 42, 999_999_999, 1_000_000_000, 9_999_999_999, 10_000_000_000, .max - 1, .max]
    for value in values {
        let digits = String(value)
        let expected = String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        #expect(OrderID(value: value).description == "ord-" + expected)
        #expect(TriggerID(value: value).description == "trg-" + expected)
        if digits.count <= 19 { #expect(OrderID(OrderID(value: value).description)?.value == value) }  // as parsed
        #expect(zeroPadded(value, prefix: "") == expected && zeroPadded(value, prefix: "한글-") == "한글-" + expected)
    }
}
