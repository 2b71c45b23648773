import AsyncHTTPClient
public import Engine
import Foundation
public import Jobs
import NIOCore
import NIOHTTP1
import Storage
import Synchronization

/// trade-execution: takes an order at a KIS account from PENDING to a final state.
///
/// * PENDING → records SUBMITTED first, then sends `order-cash`: an ODNO → ACCEPTED; a business refusal →
///   REJECTED with the guide's reason; a dead token or wrong keys → FAILED (TOKEN_EXPIRED); no answer →
///   the attempt fails and the next one reconciles.
/// * SUBMITTED (an earlier attempt may or may not have reached KIS) → looks for it in the day's orders
///   before sending again: a broker order that matches is adopted, never doubled. Not found is *unknown*
///   (the list may lag) until the list shows an order placed well after our last send; only then is the
///   order sent again (recording the new send first). An unknown order stays SUBMITTED, never assumed
///   cancelled. Each send is marked with an id of this process (the mark's correlation id, `SendMarks`): a
///   SUBMITTED order whose mark this process recorded and never sent — the answer to the mark was lost, as
///   when the primary that appended it died before answering — is sent without waiting for a proof, since
///   no other worker can have sent under that mark.
/// * Workers in several processes (or a job taken over from a worker that stalled past its lock) are fenced
///   by the engine, not by the per-process turns: a send follows only a SUBMITTED (or send again, against the
///   last send seen) that this attempt appended, so an order cancelled or taken meanwhile is not sent; and a
///   broker order is adopted by one order of the account only (`recordAccepted` refuses a second).
/// * ACCEPTED / PARTIALLY_FILLED / CANCEL_REQUESTED → polls the day's orders: new fills are recorded
///   (fill id = ODNO:cumulative quantity, so a repeated poll adds nothing), a pending cancel is sent, and
///   the job looks again in `pollSeconds` until the order is final.
/// * Once the order's day is over (`dayFinalMinutes` after the close, when KIS's list of that day is final):
///   a SUBMITTED order the list does not hold never reached KIS → FAILED (BROKER_UNREACHABLE); what still
///   rests unfilled → EXPIRED (a requested cancel → CANCELLED), after a last poll for its fills. No job
///   polls a finished day forever.
public struct TradeExecutionHandler: JobHandler {
    let engine: EngineClient
    let brokers: BrokerDirectory
    let pollSeconds: Double
    let clock: @Sendable () -> Int64
    let calendar: TradingCalendar
    /// Session µs by which a broker order must follow our last send to prove that send was not taken
    /// (`absenceProofMicros(clockSpeed:)`).
    let absenceProof: Int64
    /// Sends and adoptions, one at a time per account (in this process).
    let turns = AccountTurns()
    /// The send marks this process recorded and has not sent.
    let marks = SendMarks()

    /// - Parameters:
    ///   - clock: now, in µs (the session clock of a simulated session): when an order's day is over.
    ///   - calendar: the KRX calendar (each day's close).
    ///   - clockSpeed: session seconds per wall second of `clock` (a simulated session's `--clock-speed`).
    public init(
        engine: EngineClient,
        brokers: BrokerDirectory,
        pollSeconds: Double = 2,
        clock: @escaping @Sendable () -> Int64,
        calendar: TradingCalendar = TradingCalendar(),
        clockSpeed: Double = 1
    ) {
        self.engine = engine
        self.brokers = brokers
        self.pollSeconds = pollSeconds
        self.clock = clock
        self.calendar = calendar
        self.absenceProof = Self.absenceProofMicros(clockSpeed: clockSpeed)
    }

    /// Minutes after the close from which the broker's order list of that day is taken as final.
    static let dayFinalMinutes: Int64 = 10

    func dayIsOver(_ view: WorkerOrderView) -> Bool {
        self.clock() >= self.calendar.close(ofDayContaining: view.createdAt) + Self.dayFinalMinutes * KST.minuteMicros
    }

    struct Data: Decodable {
        var order: String
    }

    public func handle(_ job: Job) async throws -> JobResult {
        do {
            let result = try await self.run(job)
            // An order whose job is done is past its sends, however it ended (FAILED at the day's end, a broker
            // account gone): a mark of this process that was never appended would otherwise be held for good.
            if result == .done, let order = try? JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8)) {
                self.marks.forget(order.order)
            }
            return result
        } catch let error as KISError where error.kind == .tokenIssueTooSoon {
            return .later(seconds: 15)  // a token was just requested (by another worker?): waiting is not a failure
        }
    }

    private func run(_ job: Job) async throws -> JobResult {
        let data = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        var view = try await self.engine.order(data.order)
        let client: KISClient
        do {
            client = try await self.brokers.client(account: view.account, broker: view.broker)
        } catch JobFailure.permanent(let reason, let message) {
            if view.status == "PENDING" || view.status == "SUBMITTED" {
                try await self.engine.record(.failed(order: view.id, reason: reason.rawValue, message: message))
            }
            return .done
        }
        if view.status != "PENDING" && view.status != "SUBMITTED" { self.marks.forget(view.id) }
        switch view.status {
        case "FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED":
            return .done
        case "PENDING", "SUBMITTED":
            // Sending and adopting take turns per account: an order sent meanwhile is recorded with its
            // number before an identical twin looks for itself in the broker's list, so no broker order is
            // ever taken by two of ours.
            let id = view.id
            return try await self.turns.turn(view.account) { () async throws -> JobResult in
                let fresh = try await self.engine.order(id)
                switch fresh.status {
                case "PENDING":
                    // Only the attempt whose SUBMITTED is in the log sends: if the order moved on meanwhile (the
                    // user cancelled it, or another worker process took it), recording adds nothing; look again.
                    // Not appended: another worker's mark, or this one's whose first answer was lost and which a
                    // retry on another node found already so — the next look tells them apart by the mark.
                    let mark = self.marks.make(for: id)
                    guard try await self.engine.record(.submitted(order: id), correlation: mark).appended else {
                        return .later(seconds: 0)
                    }
                    return try await self.submit(fresh, client)
                case "SUBMITTED" where self.marks.isUnsent(fresh.sendMark, of: id):
                    // Marked by this process, which never sent it (no other can have sent under this mark). The
                    // fence re-marks the send first if the mark is older than a send may follow it.
                    return try await self.submit(fresh, client)
                case "SUBMITTED":
                    let (match, newer) = try await self.findAtBroker(fresh, client)
                    if let match {
                        try await self.engine.record(
                            .accepted(order: id, brokerOrderNumber: match.orderNumber, organization: nil)
                        )
                        return .later(seconds: self.pollSeconds)
                    }
                    if self.dayIsOver(fresh) {
                        // The day's list is final and does not hold it: the send never reached KIS.
                        try await self.engine.record(
                            .failed(
                                order: id,
                                reason: RejectionReason.brokerUnreachable.rawValue,
                                message:
                                    "not in KIS's final order list of \(Self.day(fresh)): the order never reached the broker"
                            )
                        )
                        return .done
                    }
                    // Not in the broker's list, and nothing there was sent after our last send: the order may
                    // be taken and not yet reported. Unknown, not absent: look again, never send again.
                    guard newer else { return .later(seconds: self.pollSeconds) }
                    // The list holds orders sent after ours, and not ours: it was not taken. Mark the new
                    // send first (its time is what the next look must be newer than), then send.
                    let mark = self.marks.make(for: id)
                    guard
                        try await self.engine.record(
                            .resending(order: id, lastSend: fresh.updatedAt),
                            correlation: mark
                        ).appended
                    else { return .later(seconds: 0) }
                    return try await self.submit(fresh, client)
                default:
                    return .later(seconds: 0)  // moved on meanwhile
                }
            }
        default:
            view = try await self.poll(view, client)
            if ["FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED"].contains(view.status) { return .done }
            guard self.dayIsOver(view) else { return .later(seconds: self.pollSeconds) }
            // Day orders end with the session: what still rests unfilled after the last poll has expired.
            try await self.engine.record(
                view.status == "CANCEL_REQUESTED" ? .cancelled(order: view.id) : .expired(order: view.id)
            )
            return .done
        }
    }

    private func submit(_ view: WorkerOrderView, _ client: KISClient) async throws -> JobResult {
        let ack: KISOrderAck
        // The send as the engine has it (SUBMITTED or resending just recorded): the absence proof of another
        // worker counts from it, so the request must leave soon after. A wait before it (the key's rate budget,
        // a back-off after EGW00201, a stalled process) longer than `sendFenceMicros` re-marks the send first —
        // refused if another worker took the order over meanwhile, and then this one does not send.
        let fence = SendFence(
            order: view.id,
            sent: try await self.engine.order(view.id).updatedAt,
            engine: self.engine,
            marks: self.marks,
            clock: self.clock
        )
        do {
            var waited = 0.0
            while true {
                do {
                    ack = try await client.placeOrder(
                        side: view.side == "SELL" ? .sell : .buy,
                        stock: view.stock,
                        type: view.type == "MARKET" ? .market : .limit,
                        quantity: view.quantity,
                        price: view.price,
                        beforeSend: { try await fence.check() }
                    )
                    break
                } catch let error as KISError
                    where (error.kind == .rateLimited || error.kind == .tokenIssueTooSoon)
                    && waited < Self.refusedSendPatience
                {
                    // Refused at KIS's gateway before the order was looked at, so certainly not taken: send again
                    // shortly, in this turn. (Once the attempt ends, an order not in the broker's list is unknown.)
                    let pause = error.kind == .rateLimited ? 0.5 : 5
                    try await Task.sleep(for: .seconds(pause))
                    waited += pause
                }
            }
        } catch is SendFence.TakenOver {
            return .later(seconds: 0)  // another worker sends it now: look again, never send twice
        } catch let error as KISError {
            switch error.kind {
            case .rejected(let reason):
                try await self.engine.record(
                    .brokerRejected(order: view.id, reason: reason.rawValue, message: error.message)
                )
                return .done
            case .failed:
                try await self.engine.record(
                    .brokerRejected(
                        order: view.id,
                        reason: RejectionReason.brokerRejected.rawValue,
                        message: "\(error.code) \(error.message)"
                    )
                )
                return .done
            case .tokenExpired, .invalidToken, .badCredentials:
                try await self.engine.record(.tokenExpired(account: view.account))
                try await self.engine.record(
                    .failed(order: view.id, reason: RejectionReason.tokenExpired.rawValue, message: error.description)
                )
                return .done
            case .tokenIssueTooSoon:
                return .later(seconds: 15)  // KIS allows one token request a minute: wait, not an attempt
            case .rateLimited, .transport:
                throw error  // retried; the next attempt looks at the broker before sending again
            }
        }
        // Refused (409) if a twin in another worker process adopted this broker order from the list before this
        // answer was recorded: the order stays SUBMITTED, and the next look finds the twin's own send or proves
        // it lost and sends again.
        try await self.engine.record(
            .accepted(
                order: view.id,
                brokerOrderNumber: ack.orderNumber,
                organization: ack.organization.isEmpty ? nil : ack.organization
            )
        )
        return .later(seconds: self.pollSeconds)
    }

    static func day(_ view: WorkerOrderView) -> String { KST.yyyymmdd(day: KST.day(view.createdAt)) }

    /// Seconds by which a broker order must follow our last send to prove that send was not taken: the
    /// broker's clock and ours need not agree to the second (2 s), and a send still on its way — from a
    /// worker in another process, whose turns this one does not see — can be overtaken by an order placed
    /// sooner, for as long as the client waits for an answer (`KISClient.timeout`, 10 s).
    static let absenceProofSeconds: Int64 = 12

    /// `absenceProofSeconds` in session µs. The client's wait is wall time: on a session clock running
    /// `clockSpeed` times faster it spans that many times more session seconds (at 30×, 300 s), or a send
    /// held up for half a wall second — a process stopped between its fence and its request — would already
    /// be "proven" not taken, and sent twice.
    static func absenceProofMicros(clockSpeed: Double) -> Int64 {
        let waitSeconds = Double(Self.absenceProofSeconds - 2) * max(1, min(clockSpeed, 100_000))
        return Int64((2 + waitSeconds) * 1_000_000)
    }
    /// How long after the recorded send a request may still leave without re-marking it (well inside the
    /// absence proof's slack: 12 s less the client's 10 s wait for an answer).
    static let sendFenceMicros: Int64 = 1_500_000
    /// Seconds an order refused at KIS's gateway (rate limit, token requested too recently) is sent again
    /// within one attempt before the attempt gives up.
    static let refusedSendPatience = 65.0

    /// The broker's order for a SUBMITTED one (same stock, side, quantity and price, placed at or after it),
    /// and whether the list holds an order placed well after the order's last send (`updatedAt` plus
    /// `absenceProof`), which makes an absence proof that the send was not taken.
    private func findAtBroker(_ view: WorkerOrderView, _ client: KISClient) async throws -> (
        KISDailyOrder?, newer: Bool
    ) {
        let side = view.side == "SELL" ? "01" : "02"
        // A minute of slack: the broker's clock and ours need not agree to the second.
        let since = KST.hhmmss(view.createdAt - 60_000_000)  // orders are placed in session hours: no midnight to cross
        let proofEnd = view.updatedAt.saturatingAdd(self.absenceProof)
        let lastSend = KST.hhmmss(proofEnd)
        let taken = Set(view.otherBrokerOrderNumbers)
        let orders = try await client.dailyOrders(day: Self.day(view))
        let match = orders.first {
            !taken.contains($0.orderNumber) && $0.originalOrderNumber.isEmpty && !$0.cancelled && $0.stock == view.stock
                && $0.sideCode == side && $0.quantity == view.quantity
                && (view.type == "MARKET" || $0.price == view.price) && $0.time >= since
        }
        // (A proof that would end on a later day cannot be had from this day's list.)
        return (match, KST.day(proofEnd) == KST.day(view.updatedAt) && orders.contains { $0.time > lastSend })
    }

    /// Records what the broker did since the last look (sending a requested cancel first); returns the order
    /// as the engine then knows it.
    private func poll(_ view: WorkerOrderView, _ client: KISClient) async throws -> WorkerOrderView {
        func look() async throws -> (KISDailyOrder, cancelled: Bool)? {
            let orders = try await client.dailyOrders(day: Self.day(view))
            guard let row = orders.first(where: { $0.orderNumber == view.brokerOrderNumber }) else { return nil }
            return (row, row.cancelled || orders.contains { $0.originalOrderNumber == row.orderNumber && $0.cancelled })
        }
        guard var (row, cancelled) = try await look() else { return view }
        if view.status == "CANCEL_REQUESTED", !cancelled, row.remainingQuantity > 0 {
            do {
                // The organization the order's own answer gave (KRX_FWDG_ORD_ORGNO); the day's list only has the
                // ordering branch (ord_gno_brno), used for an order adopted from the list.
                let organization = view.brokerOrganization.isEmpty ? row.organization : view.brokerOrganization
                _ = try await client.cancelOrder(organization: organization, orderNumber: row.orderNumber)
            } catch let error as KISError where error.kind != .transport && error.kind != .rateLimited {
                // "Nothing left to cancel": the fills read next say why.
            }
            guard let after = try await look() else { return view }
            (row, cancelled) = after
        }
        return try await self.record(row, cancelled: cancelled, view)
    }

    private func record(_ row: KISDailyOrder, cancelled: Bool, _ view: WorkerOrderView) async throws -> WorkerOrderView
    {
        if row.filledQuantity > view.filledQuantity {
            let quantity = row.filledQuantity - view.filledQuantity
            // The broker reports the average over all fills; this slice's price is what the new total adds. Its
            // figures are input: a total beyond Int64 (or no average for a fill) is refused — the attempt fails and
            // is retried — rather than trapping the worker or booking a fill at a made-up price.
            let (total, overflow) = row.averagePrice.multipliedReportingOverflow(by: row.filledQuantity)
            let (added, underflow) = total.subtractingReportingOverflow(view.filledNotional)
            guard row.averagePrice > 0, !overflow, !underflow else {
                throw KISClient.malformed(
                    "the broker reports order \(row.orderNumber) filled \(row.filledQuantity) at an average of \(row.averagePrice) KRW: out of range, not recorded"
                )
            }
            let price = max(1, added / quantity)
            try await self.engine.record(
                .fill(
                    order: view.id,
                    quantity: quantity,
                    price: price,
                    fillID: "\(row.orderNumber):\(row.filledQuantity)"
                )
            )
        }
        if cancelled, row.filledQuantity < view.quantity {
            try await self.engine.record(.cancelled(order: view.id))
        }
        return try await self.engine.order(view.id)
    }
}

/// Runs closures one at a time per account (in this process).
actor AccountTurns {
    private var busy: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func turn<T: Sendable>(_ account: String, _ body: @Sendable () async throws -> T) async throws -> T {
        while self.busy.contains(account) {
            await withCheckedContinuation { self.waiting[account, default: []].append($0) }
        }
        self.busy.insert(account)
        defer {
            self.busy.remove(account)
            if var queue = self.waiting[account], !queue.isEmpty {
                queue.removeFirst().resume()
                self.waiting[account] = queue
            }
        }
        return try await body()
    }
}

/// The send of one order as the engine records it: re-marked (`resending` with the time last recorded) when the
/// request is about to leave later than `TradeExecutionHandler.sendFenceMicros` after it.
final class SendFence: Sendable {
    struct TakenOver: Error {}
    let order: String
    let engine: EngineClient
    let marks: SendMarks
    let clock: @Sendable () -> Int64
    private let sent: Mutex<Int64>

    init(order: String, sent: Int64, engine: EngineClient, marks: SendMarks, clock: @escaping @Sendable () -> Int64) {
        self.order = order
        self.sent = Mutex(sent)
        self.engine = engine
        self.marks = marks
        self.clock = clock
    }

    /// Called right before the request leaves: from here on the order's marks are no longer unsent.
    func check() async throws {
        let sent = self.sent.withLock { $0 }
        if self.clock() - sent > TradeExecutionHandler.sendFenceMicros {
            let mark = self.marks.make(for: self.order)
            guard
                try await self.engine.record(.resending(order: self.order, lastSend: sent), correlation: mark).appended
            else { throw TakenOver() }
            let now = try await self.engine.order(self.order).updatedAt
            self.sent.withLock { $0 = now }
        }
        self.marks.sending(self.order)
    }
}

/// Send marks — the correlation ids a worker records an order's SUBMITTED (or send again) under — that this
/// process recorded, or tried to, and has not sent. A mark is this process's own: finding an order SUBMITTED
/// under one of them proves the send it marks was never made, by anyone.
final class SendMarks: Sendable {
    private let unsent = Mutex<[String: Set<String>]>([:])

    /// A new mark for a send of `order` ("send-" and 16 random hex digits: a valid correlation id).
    func make(for order: String) -> String {
        let mark = "send-" + String(UInt64.random(in: .min ... .max) | 1 << 63, radix: 16)
        self.unsent.withLock { _ = $0[order, default: []].insert(mark) }
        return mark
    }

    func isUnsent(_ mark: String?, of order: String) -> Bool {
        guard let mark else { return false }
        return self.unsent.withLock { $0[order]?.contains(mark) ?? false }
    }

    /// The request for `order` is about to leave: none of its marks is unsent any longer.
    func sending(_ order: String) { self.unsent.withLock { _ = $0.removeValue(forKey: order) } }

    /// `order` is past its sends (accepted, or final).
    func forget(_ order: String) { self.sending(order) }

    /// Orders with marks held.
    var count: Int { self.unsent.withLock { $0.count } }
}
