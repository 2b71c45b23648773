import Hummingbird
import Ledger

/// While the engine refuses commands (a follower, or a primary that lost its lease or its stream's quorum), every
/// write is answered 503 naming the reason before its handler runs: a handler's own checks read this node's
/// state, which on a follower may not yet hold what the primary just wrote (an account opened a moment ago would
/// be "not found" here instead of "send it to the primary").
///
/// Refusing is the default, so that a write route added later cannot slip through a follower; the routes listed in
/// `local` write nothing to the log (sessions and credentials live in PostgreSQL, shared by every node; a backtest
/// writes a log of its own) and are served everywhere. The worker's `/internal` routes are refused whatever the
/// method: the worker decides on what it reads there (is this order still PENDING?), so it reads the primary,
/// never a follower a few commits behind.
struct ReadOnlyNodeMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let refusal: @Sendable () -> LedgerError?

    static let local: Set<String> = [
        "/api/auth/login", "/api/auth/logout", "/api/auth/password", "/api/backtests", "/login", "/logout",
    ]

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        let safe = request.method == .get || request.method == .head || request.method == .options
        let path = request.uri.path
        let internalRead = path.hasPrefix("/internal/") && context.isInternalClient  // others get its 404
        if (!safe && !Self.local.contains(path)) || internalRead, let refusal = self.refusal() {
            throw refusal
        }
        return try await next(request, context)
    }
}
