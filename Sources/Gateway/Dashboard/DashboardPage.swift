import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Storage

/// What the dashboard's templates render (read through `Mirror` by Mustache: property names are the
/// templates' keys). Everything is formatted here — amounts in 원 with separators, times in KST — so the
/// templates only place text.
struct DashboardView {
    struct AccountView {
        var id, broker, number, cash, reserved, marketValue, equity, profit, profitClass: String
        var haltReason: String?
        var holdings: [HoldingView]
    }
    struct HoldingView { var code, name, quantity, average, last, unrealized, profitClass: String }
    struct OrderView {
        var id, time, stock, stockName, side, sideClass, filled, price, status, statusName: String
        var clientOrderID, failure, timeline: String?
        var cancellable: Bool
        /// An operator's view: a REJECTED or FAILED order can be placed again for its owner (재주문).
        var resubmittable = false
    }
    struct IndicatorChoice {
        var name: String
        var on: Bool
    }
    struct StrategyView { var account, stock, strategy, parameters: String }
    /// A rule set of the person's: its newest version (the editor loads its source from the API).
    struct RuleSetView { var name, strategy, version: String }
    struct TriggerView {
        var id, stock, stockName, kind, side, quantity, level, status, statusName: String
        var order, reason: String?
        var cancellable: Bool
    }
    struct NotificationView {
        var time, title, message: String
        var read: Bool
    }
    struct ProjectionLag {
        var name: String
        var lag: UInt64
    }
    struct QueueView {
        var name: String
        var wait, active, delayed, failed: Int
    }
    struct OperatorAccount {
        var id, broker, user: String
        var working: Int
        var haltReason: String?
    }
    struct SystemView {
        var head: UInt64
        var projections: [ProjectionLag]
        var queues: [QueueView]?
        var tradingHalt: String?
        var allAccounts: [OperatorAccount]
    }

    var lang, otherLanguage, title, csrf: String
    var t: [String: String]
    var email: String?
    var stock, stockName, eventTypes: String
    var accounts: [AccountView]
    var open: [OrderView]
    var past: [OrderView]
    var pastRange: String
    var newerPage, olderPage: Int?
    var timeframes = Timeframe.allCases.map(\.description)
    var indicators: [IndicatorChoice]
    var strategies: [StrategyView]
    var triggers: [TriggerView]
    var triggerKinds = TriggerKind.allCases.map(\.description)
    var strategyNames = StrategyFactory.names
    var ruleSets: [RuleSetView] = []
    var notifications: [NotificationView]
    var system: SystemView?
    /// An operator's read-only view of another's account: its heading; nil on one's own dashboard.
    var readOnly: String?
}

extension Dashboard {
    static let pageSize = 20

    /// The dashboard of `user`: the whole page, or (for the live refresh) the same page that the script
    /// takes the `data-live` sections from.
    /// `only`: an operator's read-only view of that account (`/operator/accounts/{id}`): its portfolio, orders and
    /// strategies without a control, and without the viewer's own sections.
    static func page(
        user: UserID,
        email: String,
        stock requested: String?,
        page requestedPage: Int,
        csrf: String,
        words: Words,
        services: GatewayServices,
        only: Account? = nil
    ) async throws -> String {
        let state = services.runtime.state
        let accounts =
            only.map { [$0] }
            ?? state.accounts.values.filter { $0.user == user && $0.closedAt == nil }.sorted { $0.id < $1.id }
        let accountIDs = Set(accounts.map(\.id))
        let orders = state.orders.values.filter { accountIDs.contains($0.account) }.sorted { $0.id > $1.id }
        let working = orders.filter { !$0.status.isTerminal }
        let finished = orders.filter { $0.status.isTerminal }
        let pages = max(1, (finished.count + Self.pageSize - 1) / Self.pageSize)
        let pageNumber = min(max(1, requestedPage), pages)
        let past = Array(finished.dropFirst((pageNumber - 1) * Self.pageSize).prefix(Self.pageSize))
        let open = Array(working.prefix(50))
        let stock =
            requested.flatMap { StockCode($0) }.flatMap { state.stocks[$0] != nil ? $0 : nil }
            ?? open.first?.stock ?? past.first?.stock ?? state.stocks.keys.sorted().first
        let ids = (open + past).map(\.id.description)
        let isOperator = state.operators.contains(user) && only == nil
        var queues: [(QueueName, QueueCounts)]?
        if isOperator, let endpoint = services.dependencies.redis {
            // hiredis blocks: on a thread of its own; nil when Redis is away.
            queues = try? await blocking {
                let store = JobQueueStore(redis: RedisClient(endpoint: endpoint, timeoutSeconds: 1))
                return try QueueName.allCases.map { ($0, try store.counts($0)) }
            }
        }
        let userID = user.description
        let (timeline, notifications, checkpoints) = try await services.readModels.run {
            db -> ([String: [String]], [ReadQueries.NotificationRow], [(name: String, offset: UInt64)]) in
            var timeline: [String: [String]] = [:]
            for event in try ReadQueries.orderEvents(orders: ids, db) {
                timeline[event.order, default: []].append("\(Self.kstTime(event.at)) \(event.type)")
            }
            return (
                timeline,
                only == nil ? try ReadQueries.notifications(user: userID, limit: 10, db) : [],
                isOperator ? try ReadQueries.checkpoints(db) : []
            )
        }
        let head = services.log.nextOffset
        func orderView(_ order: Order) -> OrderView {
            let steps = timeline[order.id.description] ?? []
            var view = Self.orderView(order, state: state, words: words, timeline: steps.joined(separator: " → "))
            view.resubmittable = only != nil && (order.status == .rejected || order.status == .failed)
            return view
        }
        var system: DashboardView.SystemView?
        if isOperator {
            system = DashboardView.SystemView(
                head: head,
                projections: checkpoints.map { .init(name: $0.name, lag: head > $0.offset ? head - $0.offset : 0) },
                queues: queues?.map {
                    .init(
                        name: $0.0.rawValue,
                        wait: $0.1.wait,
                        active: $0.1.active,
                        delayed: $0.1.delayed,
                        failed: $0.1.failed
                    )
                },
                tradingHalt: state.tradingHalt,
                allAccounts: state.accounts.values.filter { $0.closedAt == nil }.sorted { $0.id < $1.id }.map {
                    account in
                    .init(
                        id: account.id.description,
                        broker: account.broker.description,
                        user: account.user.description,
                        working: state.orders.values.filter { $0.account == account.id && !$0.status.isTerminal }
                            .count,
                        haltReason: account.haltReason
                    )
                }
            )
        }
        let first = (pageNumber - 1) * Self.pageSize
        // The viewer's own rule sets (none in an operator's read-only view of another's account).
        let ruleSets = only == nil ? (state.ruleSets[user] ?? [:]).sorted { $0.key < $1.key } : []
        var view = DashboardView(
            lang: words.language.rawValue,
            otherLanguage: words.language.other.rawValue,
            title: email,
            csrf: csrf,
            t: words.table,
            email: email,
            stock: stock?.description ?? "",
            stockName: stock.flatMap { state.stocks[$0]?.name } ?? "",
            eventTypes: EventType.all.map(\.name).joined(separator: " "),
            accounts: accounts.map { Self.accountView($0, state: state, words: words) },
            open: open.map(orderView),
            past: past.map(orderView),
            pastRange: finished.isEmpty ? "" : "\(first + 1)–\(first + past.count) / \(finished.count)",
            newerPage: pageNumber > 1 ? pageNumber - 1 : nil,
            olderPage: pageNumber < pages ? pageNumber + 1 : nil,
            indicators: ["sma_5", "sma_20", "sma_60", "ema_12", "ema_26", "bb_20_2"].map {
                .init(name: $0, on: $0 == "sma_20")
            },
            strategies: StrategiesController.bodies(accounts).map {
                StrategyView(
                    account: $0.brokerAccountId,
                    stock: $0.stockId,
                    strategy: $0.strategy,
                    parameters: $0.parameters
                )
            },
            triggers: state.triggers.values.filter { accountIDs.contains($0.request.account) }.sorted { $0.id > $1.id }
                .prefix(20).map { Self.triggerView($0, state: state, words: words) },
            notifications: notifications.map {
                .init(time: Self.kstDayTime($0.createdAt), title: $0.title, message: $0.message, read: $0.isRead)
            },
            system: system,
            readOnly: only.map { "\($0.id) · \(words["owner"]) \($0.user)" }
        )
        view.ruleSets = ruleSets.map { .init(name: $0.key, strategy: "rule:" + $0.key, version: "v\($0.value.count)") }
        view.strategyNames += ruleSets.map { "rule:" + $0.key }
        return Templates.render(view, only == nil ? "dashboard" : "accountView")
    }

    typealias OrderView = DashboardView.OrderView

    static func triggerView(_ trigger: Trigger, state: EngineState, words: Words) -> DashboardView.TriggerView {
        let r = trigger.request
        let kind: String
        switch r.kind {
        case .stopLoss: kind = words["stopLoss"]
        case .takeProfit: kind = words["takeProfit"]
        case .trailingStop: kind = "\(words["trailingStop"]) \(Double(r.trailBasisPoints) / 100)%"
        }
        let status: String
        switch trigger.status {
        case .armed: status = words["armed"]
        case .fired: status = words["fired"]
        case .cancelled: status = words["cancelledTrigger"]
        }
        return .init(
            id: trigger.id.description,
            stock: r.stock.description,
            stockName: state.stocks[r.stock]?.name ?? "",
            kind: kind + (r.group.isEmpty ? "" : " · \(r.group)"),
            side: words.side(r.side),
            quantity: Words.grouped(r.quantity),
            level: (r.offsetBasisPoints != 0 && r.triggerPrice == 0
                ? "\((r.kind == .stopLoss) == (r.side == .sell) ? "−" : "+")\(Double(r.offsetBasisPoints) / 100)% \(words["fromFill"])"
                : words.won(trigger.level))
                + (r.limitPrice > 0 ? " → \(words["limit"]) \(words.won(r.limitPrice))" : ""),
            status: status,
            statusName: trigger.status.description,
            order: trigger.order?.description,
            reason: trigger.reason.isEmpty ? Self.waiting(trigger, state: state, words: words) : trigger.reason,
            cancellable: trigger.status == .armed
        )
    }
    /// Why an armed trigger is not watching now: KRX halted its stock, or a VI holds it in an auction.
    static func waiting(_ trigger: Trigger, state: EngineState, words: Words) -> String? {
        guard trigger.status == .armed, let stock = state.stocks[trigger.request.stock] else { return nil }
        switch stock.tradingStatus {
        case .trading: return nil
        case .halted: return words["waitsHalt"]
        case .volatilityInterruption: return words["waitsVI"]
        }
    }
    typealias StrategyView = DashboardView.StrategyView

    static func accountView(_ account: Account, state: EngineState, words: Words) -> DashboardView.AccountView {
        let view = state.portfolio(account.id)
        let profit = (view?.realizedProfit ?? 0) &+ (view?.unrealizedProfit ?? 0)
        return .init(
            id: account.id.description,
            broker: account.broker.description,
            number: account.maskedAccountNumber,
            cash: words.won(view?.cash ?? 0),
            reserved: words.won(view?.reservedCash ?? 0),
            marketValue: words.won(view?.marketValue ?? 0),
            equity: words.won(view?.equity ?? 0),
            profit: words.won(profit),
            profitClass: profit >= 0 ? "up" : "down",
            haltReason: account.haltReason,
            holdings: (view?.holdings ?? []).map { holding in
                .init(
                    code: holding.stock.description,
                    name: state.stocks[holding.stock]?.name ?? "",
                    quantity: Words.grouped(holding.quantity),
                    average: words.won(holding.averagePrice),
                    last: words.won(holding.lastPrice),
                    unrealized: words.won(holding.unrealizedProfit),
                    profitClass: holding.unrealizedProfit >= 0 ? "up" : "down"
                )
            }
        )
    }

    /// One order as the pages show it: a market order's price is its average fill price once it has one.
    static func orderView(_ order: Order, state: EngineState, words: Words, timeline: String) -> OrderView {
        let price: String
        if order.type == .market {
            price =
                order.filledQuantity > 0 ? "\(words["market"]) · \(words.won(order.averageFillPrice))" : words["market"]
        } else {
            price = words.won(order.price)
        }
        return OrderView(
            id: order.id.description,
            time: Self.kstDayTime(order.createdAt),
            stock: order.stock.description,
            stockName: state.stocks[order.stock]?.name ?? "",
            side: words.side(order.side),
            sideClass: order.side == .buy ? "up" : "down",
            filled: "\(Words.grouped(order.filledQuantity))/\(Words.grouped(order.quantity))",
            price: price,
            status: words.status(order.status),
            statusName: order.status.description,
            clientOrderID: order.clientOrderID.isEmpty ? nil : order.clientOrderID,
            failure: order.failureReason.map { reason in
                order.failureMessage.isEmpty ? reason.rawValue : "\(reason.rawValue): \(order.failureMessage)"
            },
            timeline: timeline.isEmpty ? nil : timeline,
            cancellable: !order.status.isTerminal && order.status != .cancelRequested
        )
    }
}
