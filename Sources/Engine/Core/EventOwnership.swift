/// Whose an event is: the user the live stream shows it to (nil: nobody's, e.g. market data).
public enum EventOwnership {
    public static func owner(of event: DomainEvent, state: EngineState) -> UserID? {
        func account(_ id: AccountID) -> UserID? { state.accounts[id]?.user }
        switch event {
        case .triggerArmed(let e): return account(e.request.account)
        case .triggerFired(let e): return state.triggers[e.trigger].flatMap { account($0.request.account) }
        case .triggerCancelled(let e): return state.triggers[e.trigger].flatMap { account($0.request.account) }
        default: break
        }
        if let order = event.orderID { return state.orders[order].flatMap { account($0.account) } }
        switch event {
        case .userRegistered(let e): return e.user
        case .brokerAccountRegistered(let e): return e.user
        case .cashDeposited(let e): return account(e.account)
        case .cashAdjusted(let e): return account(e.account)
        case .brokerTokenIssued(let e): return account(e.account)
        case .brokerTokenExpired(let e): return account(e.account)
        case .strategyEnabled(let e): return account(e.account)
        case .strategyDisabled(let e): return account(e.account)
        case .strategyDefined(let e): return e.user
        case .signalGenerated(let e), .signalSkipped(let e): return account(e.account)
        case .accountHalted(let e): return account(e.account)
        case .accountResumed(let e): return account(e.account)
        case .operatorGranted(let e), .operatorRevoked(let e): return e.user
        case .tradingHalted, .tradingResumed, .stockStatusChanged, .quoteRecorded: return nil
        case .brokerAccountClosed(let e): return account(e.account)
        case .userErased(let e): return e.user
        case .notificationCreated(let e): return e.user
        case .notificationSent(let e), .notificationFailed(let e): return state.notifications[e.notification]?.user
        case .notificationRead(let e): return state.notifications[e.notification]?.user
        default: return nil
        }
    }
}
