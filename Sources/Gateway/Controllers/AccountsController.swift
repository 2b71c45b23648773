import Engine
import Foundation
import Hummingbird
import Jobs
import Projections
import Runtime
import Storage

/// Broker accounts: list, create (KIS credentials sealed into PostgreSQL), close.
struct AccountsController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/broker-accounts", self.list)
        routes.add(.post, "/api/broker-accounts", self.open)
        routes.add(.get, "/api/broker-accounts/{id}", self.show)
        routes.add(.delete, "/api/broker-accounts/{id}", self.close)
        routes.add(.put, "/api/broker-accounts/{id}/credentials", self.replaceCredentials)
        routes.add(.post, "/api/broker-accounts/{id}/kill-switch", self.killSwitch)
        routes.add(.post, "/api/broker-accounts/{id}/resume", self.resume)
    }

    /// `POST /api/broker-accounts/{id}/resume` with `{"confirm": true}`: a halted account takes orders again once
    /// its books agree with the broker's — for a KIS account a reconciliation asked now (no working order, the
    /// broker's cash not below the engine's, the same shares), for a simulated one the engine's own books. Recorded
    /// as `AccountResumed` with who resumed it and what agreed; a disagreement answers 409 naming the differences.
    @Sendable func resume(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let state = services.runtime.state
        let account = try GatewayAPI.ownAccount(context.parameter("id"), user: user, state: state)
        try await GatewayAPI.requireConfirmation(request, context, "a resume lifts the halt")
        let resumed = try await GatewayAPI.resume(account, by: user, services: services)
        let sealed = try await GatewayAPI.hasCredentials(account.id, services)
        return try APIJSON.response(AccountBody(resumed, hasCredentials: sealed))
    }

    /// `POST /api/broker-accounts/{id}/kill-switch` with `{"confirm": true}`: every strategy of the account off,
    /// every working order cancelled, the account halted — one engine decision, recorded in the log. Answers
    /// what it did, and the orders still in flight to the broker (press again once the broker has answered).
    @Sendable func killSwitch(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let account = try GatewayAPI.ownAccount(context.parameter("id"), user: user, state: services.runtime.state)
        try await GatewayAPI.requireConfirmation(request, context, "the kill switch halts the account")
        let execution = try await services.runtime.execute(
            .killSwitch(account.id, user: user),
            context: services.context("kill-switch")
        )
        var result = KillSwitchBody(account: account.id.description)
        for event in execution.decision.events {
            switch event {
            case .strategyDisabled(let e): result.strategiesDisabled.append(e.strategy + "@" + e.stock.description)
            case .orderCancelled(let e): result.ordersCancelled.append(e.order.description)
            case .orderCancelRequested(let e): result.cancelsRequested.append(e.order.description)
            default: break
            }
        }
        let state = services.runtime.state
        result.haltedReason = state.accounts[account.id]?.haltReason
        result.inFlight = state.working.filter { $0.account == account.id && $0.status == .submitted }
            .map(\.id.description).sorted()
        return try APIJSON.response(result)
    }

    /// `PUT /api/broker-accounts/{id}/credentials`: a new KIS app key and secret for an open KIS account (the
    /// portal reissued them, or the old ones leaked). Sealed like the first ones; the token of the old key is
    /// dropped with them (one transaction), and the worker opens the new ones at the account's next call
    /// (`BrokerDirectory` notices the change). Orders, positions and history stay with the account.
    @Sendable func replaceCredentials(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let account = try GatewayAPI.ownAccount(context.parameter("id"), user: user, state: services.runtime.state)
        let body = try await APIJSON.decode(
            ReplaceCredentialsRequest.self,
            from: request,
            context: context,
            allowedKeys: ["appKey", "appSecret"]
        )
        // The account's state, not the body, is what refuses: 409.
        guard account.broker.needsToken else { throw problem(409, "a SIMULATED account has no KIS credentials") }
        guard account.closedAt == nil else { throw problem(409, "the account is closed") }
        for (name, value) in [("appKey", body.appKey), ("appSecret", body.appSecret)] {
            guard !value.isEmpty, value.utf8.count <= 512,
                value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                throw problem(422, "\(name) must be 1 to 512 printable ASCII characters without spaces")
            }
        }
        let id = account.id.description
        let (key, secret) = (try services.secrets.seal(body.appKey), try services.secrets.seal(body.appSecret))
        let replaced = try await services.database.run { db -> Bool in
            try db.execute("BEGIN")
            do {
                let rows = try db.query(
                    "UPDATE broker_credentials SET sealed_app_key = $2, sealed_app_secret = $3 WHERE broker_account_id = $1 AND user_id = $4 RETURNING 1",
                    [id, key, secret, user.description]
                ).rows
                _ = try db.query("DELETE FROM broker_tokens WHERE broker_account_id = $1", [id])
                try db.execute(rows.isEmpty ? "ROLLBACK" : "COMMIT")
                return !rows.isEmpty
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
        // An account opened without credentials (before they were required) has no row to replace.
        guard replaced else { throw problem(409, "the account has no stored KIS credentials to replace") }
        return try APIJSON.response(AccountBody(account, hasCredentials: true))
    }

    /// `GET /api/broker-accounts`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let accounts = services.runtime.state.accounts.values.filter { $0.user == user && $0.closedAt == nil }
            .sorted { $0.id < $1.id }
        let sealed = try await services.database.run { db in
            Set(
                try db.query(
                    "SELECT broker_account_id FROM broker_credentials WHERE user_id = $1",
                    [user.description]
                ).rows.compactMap { $0[0] }
            )
        }
        return try APIJSON.response(
            ListBody(accounts.map { AccountBody($0, hasCredentials: sealed.contains($0.id.description)) })
        )
    }

    /// `POST /api/broker-accounts`
    @Sendable func open(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            CreateAccountRequest.self,
            from: request,
            context: context,
            allowedKeys: ["broker", "accountNumber", "appKey", "appSecret", "dailyOrderLimit", "initialCash"]
        )
        guard let broker = BrokerKind(text: body.broker) else {
            throw problem(422, "broker must be SIMULATED, KIS_PAPER or KIS_REAL; got '\(body.broker)'")
        }
        let number = body.accountNumber.trimmingCharacters(in: .whitespaces)
        guard (4...32).contains(number.count), number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") })
        else {
            throw problem(422, "accountNumber must be 4 to 32 digits (dashes allowed)")
        }
        let limit = body.dailyOrderLimit ?? 1_000
        guard (1...100_000).contains(limit) else { throw problem(422, "dailyOrderLimit must be 1...100000") }
        var credentials: (key: String, secret: String)?
        if broker.needsToken {
            guard let key = body.appKey, let secret = body.appSecret, !key.isEmpty, !secret.isEmpty,
                key.count <= 512, secret.count <= 512
            else {
                throw problem(422, "a KIS account needs appKey and appSecret (from the KIS developers portal)")
            }
            credentials = (key, secret)
        } else if body.appKey != nil || body.appSecret != nil {
            throw problem(422, "a SIMULATED account takes no appKey or appSecret")
        }
        let cash = body.initialCash ?? 0
        guard cash >= 0, cash <= 10_000_000_000_000 else {
            throw problem(422, "initialCash must be 0...10000000000000 KRW")
        }
        if body.initialCash != nil, broker != .simulated {
            throw problem(422, "initialCash is for SIMULATED accounts; a KIS account's cash comes from the broker")
        }
        // Seal first: if sealing fails nothing has been recorded.
        let sealed = try credentials.map {
            (
                try services.secrets.seal($0.key), try services.secrets.seal($0.secret),
                try services.secrets.seal(number)
            )
        }
        // One command, one append: the account and its opening cash are recorded together or not at all.
        let execution = try await services.runtime.execute(
            .registerAccount(
                user: user,
                broker: broker,
                accountNumber: number,
                dailyOrderLimit: limit,
                initialCash: cash
            ),
            context: services.context("account")
        )
        guard let created = execution.decision.created else { throw problem(500, "the account was not created") }
        let id = AccountID(value: created)
        if let sealed {
            _ = try await services.database.run { db in
                try db.query(
                    "INSERT INTO broker_credentials (broker_account_id, user_id, sealed_app_key, sealed_app_secret, sealed_account_number) VALUES ($1, $2, $3, $4, $5)",
                    [id.description, user.description, sealed.0, sealed.1, sealed.2]
                )
            }
        }
        guard let account = services.runtime.state.accounts[id] else {
            throw problem(500, "the account was not created")
        }
        var headers = HTTPFields()
        headers[.location] = "/api/broker-accounts/\(id)"
        return try APIJSON.response(
            AccountBody(account, hasCredentials: sealed != nil),
            status: .created,
            headers: headers
        )
    }

    /// `GET /api/broker-accounts/{id}`
    @Sendable func show(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let account = try GatewayAPI.ownAccount(context.parameter("id"), user: user, state: services.runtime.state)
        let sealed = try await GatewayAPI.hasCredentials(account.id, services)
        return try APIJSON.response(AccountBody(account, hasCredentials: sealed))
    }

    /// `DELETE /api/broker-accounts/{id}`
    @Sendable func close(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let account = try GatewayAPI.ownAccount(context.parameter("id"), user: user, state: services.runtime.state)
        _ = try await services.runtime.execute(
            .closeAccount(account.id, user: user),
            context: services.context("account")
        )
        _ = try await services.database.run { db in
            try db.query("DELETE FROM broker_credentials WHERE broker_account_id = $1", [account.id.description])
        }
        return Response(status: .noContent)
    }
}

extension GatewayAPI {
    /// An account of the signed-in user, or 404 (also for another user's account: ids are not secrets,
    /// but whether someone else's exists is).
    static func ownAccount(_ text: String, user: UserID, state: EngineState) throws -> Account {
        guard let id = AccountID(text), let account = state.accounts[id], account.user == user, account.closedAt == nil
        else {
            throw problem(404, "no broker account \(text)")
        }
        return account
    }

    /// Resumes a halted account for its owner or an operator (`by`): refused while an order still works; a KIS
    /// account is reconciled with the broker now and resumes only if the books agree.
    static func resume(_ account: Account, by: UserID, services: GatewayServices) async throws -> Account {
        let state = services.runtime.state
        guard account.haltReason != nil else { throw problem(409, "the account is not halted") }
        let working = state.working.filter { $0.account == account.id }
            .map(\.id.description).sorted()
        guard working.isEmpty else {
            throw problem(
                409,
                "orders still working (\(working.prefix(10).joined(separator: ", "))): resume once they have ended"
            )
        }
        let agreement: String
        if account.broker.needsToken {
            guard let ask = services.brokerAgreement else {
                throw problem(503, "this server cannot reach the broker to reconcile the account")
            }
            switch await ask(WorkerAccountView(account, workingOrders: 0)) {
            case .agrees(let text): agreement = text
            case .differs(let differences):
                throw problem(409, "the books differ from the broker's: " + differences.joined(separator: "; "))
            case .unknown(let reason): throw problem(503, "the broker could not be asked: \(reason)")
            }
        } else {
            agreement = "simulated account: the engine's books are the broker's"
        }
        _ = try await services.runtime.execute(
            .resumeAccount(account.id, user: by, agreement: agreement),
            context: services.context("resume")
        )
        return services.runtime.state.accounts[account.id] ?? account
    }

    /// A body of exactly `{"confirm": true}` (the kill switch, a resume): anything else is 4xx, `false` a 422 that
    /// says what the action does.
    static func requireConfirmation(_ request: Request, _ context: APIContext, _ what: String) async throws {
        let body = try await APIJSON.decode(
            KillSwitchRequest.self,
            from: request,
            context: context,
            allowedKeys: ["confirm"]
        )
        guard body.confirm else { throw problem(422, "confirm must be true: \(what)") }
    }

    /// Whether sealed KIS credentials are stored for the account.
    static func hasCredentials(_ account: AccountID, _ services: GatewayServices) async throws -> Bool {
        try await services.database.run { db in
            try !db.query("SELECT 1 FROM broker_credentials WHERE broker_account_id = $1", [account.description])
                .rows.isEmpty
        }
    }
}

// MARK: - Bodies

struct KillSwitchRequest: Decodable {
    var confirm: Bool
}

struct KillSwitchBody: Codable {
    var account: String
    var haltedReason: String?
    /// "strategy@stock" of every strategy switched off.
    var strategiesDisabled: [String] = []
    /// Orders cancelled at once (never sent).
    var ordersCancelled: [String] = []
    /// Orders at the broker whose cancel is now requested (the worker sends it).
    var cancelsRequested: [String] = []
    /// Orders in flight to the broker: they cannot be cancelled before it answers; press the switch again.
    var inFlight: [String] = []

    init(account: String) { self.account = account }
}

struct ReplaceCredentialsRequest: Decodable {
    var appKey: String
    var appSecret: String
}

struct CreateAccountRequest: Decodable {
    /// `SIMULATED`, `KIS_PAPER` or `KIS_REAL`.
    var broker: String
    var accountNumber: String
    var appKey: String?
    var appSecret: String?
    var dailyOrderLimit: Int64?
    /// Opening cash of a simulated account.
    var initialCash: Int64?
}

struct AccountBody: Codable {
    var id: String
    var broker: String
    /// The account number with all but the last four characters masked.
    var accountNumber: String
    var dailyOrderLimit: Int64
    var cash: Int64
    var reservedCash: Int64
    var availableCash: Int64
    var tokenExpiresAt: String?
    var haltedReason: String?
    var hasCredentials: Bool

    init(_ account: Account, hasCredentials: Bool) {
        self.id = account.id.description
        self.broker = account.broker.description
        self.accountNumber = account.maskedAccountNumber
        self.dailyOrderLimit = account.dailyOrderLimit
        self.cash = account.cash
        self.reservedCash = account.reservedCash
        self.availableCash = account.availableCash
        self.tokenExpiresAt = account.tokenExpiresAt.map(ISOTime.utc)
        self.haltedReason = account.haltReason
        self.hasCredentials = hasCredentials
    }
}
