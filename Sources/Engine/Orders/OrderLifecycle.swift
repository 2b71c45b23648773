/// The order state machine of DESIGN.md, as a table: which event may move an order from which state.
///
/// Every legal transition has a test; an event arriving in a state not listed here is refused by `decide`
/// with a clear error, or (for broker reports that cannot be refused because they already happened, like a
/// fill for a cancelled order) recorded as an `AnomalyRecorded` event and not applied.
public enum OrderTransition: Sendable, Hashable, CaseIterable {
    case submit, accept, brokerReject, partialFill, fill, requestCancel, cancel, fail, expire

    /// The states from which the transition is legal.
    public var from: Set<OrderStatus> { Set(self.allowed) }

    /// `from` as a constant list: `isLegal` runs for every order event, and a set literal is built (allocated and
    /// hashed) on each use.
    private var allowed: [OrderStatus] {
        switch self {
        case .submit: [.pending]
        case .accept: [.submitted]
        case .brokerReject: [.submitted]
        case .partialFill: [.accepted, .partiallyFilled, .cancelRequested]
        case .fill: [.accepted, .partiallyFilled, .cancelRequested]
        case .requestCancel: [.accepted, .partiallyFilled]
        case .cancel: [.pending, .cancelRequested]
        case .fail: [.pending, .submitted]
        case .expire: [.accepted, .partiallyFilled]
        }
    }

    /// The state after the transition.
    public var to: OrderStatus {
        switch self {
        case .submit: .submitted
        case .accept: .accepted
        case .brokerReject: .rejected
        case .partialFill: .partiallyFilled
        case .fill: .filled
        case .requestCancel: .cancelRequested
        case .cancel: .cancelled
        case .fail: .failed
        case .expire: .expired
        }
    }

    public func isLegal(from status: OrderStatus) -> Bool { self.allowed.contains(status) }

    /// Legality for a particular order: a cancellation confirmed after a partial fill is legal when a cancel
    /// had been requested (CANCEL_REQUESTED → PARTIALLY_FILLED → CANCELLED).
    public func isLegal(for order: Order) -> Bool {
        if self == .cancel && order.status == .partiallyFilled { return order.cancelRequested }
        return self.isLegal(from: order.status)
    }

    /// The transition an order event makes, if it is an order transition at all.
    static func of(_ event: DomainEvent) -> OrderTransition? {
        switch event {
        case .orderSubmitted: .submit
        case .orderAccepted: .accept
        case .orderRejected: .brokerReject
        case .orderPartiallyFilled: .partialFill
        case .orderFilled: .fill
        case .orderCancelRequested: .requestCancel
        case .orderCancelled: .cancel
        case .orderFailed: .fail
        case .orderExpired: .expire
        default: nil
        }
    }
}
