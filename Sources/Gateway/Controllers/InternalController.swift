import Crypto
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Ledger
import Projections
import Runtime

/// The worker's door into the engine (the engine process is the log's only writer):
/// `POST /internal/commands` records job outcomes, `POST /internal/candles` records collected bars (CSV
/// lines: the bulk of a trading day's commands, without a JSON object each), `GET /internal/orders/{id}`
/// shows an order as the engine knows it. Authorized by `Authorization: Bearer <worker token>` (`STOCKBOOM_WORKER_TOKEN`, or the
/// token `serve` writes to `<log dir>/worker.token`); anything else is 401, user tokens included.
struct InternalController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.post, "/internal/commands", self.commands)
        routes.add(.post, "/internal/candles", self.ingestCandles)
        routes.add(.get, "/internal/accounts", self.accounts)
        routes.add(.get, "/internal/stocks", self.stocks)
        routes.add(.get, "/internal/strategies", self.strategies)
        routes.add(.get, "/internal/candles", self.candles)
        routes.add(.get, "/internal/orders/{id}", self.order)
        routes.add(.get, "/internal/notifications/{id}", self.notification)
        routes.add(.post, "/internal/users/{id}/erase", self.eraseUser)
    }

    /// `POST /internal/commands`
    @Sendable func commands(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        struct Body: Decodable {
            var commands: [WireCommand]
            /// Stored as the events' correlation id: `reconcile` marks what reconciliation adopted.
            var correlation: String?
        }
        let body = try await APIJSON.decode(Body.self, from: request, context: context)
        guard body.commands.count <= 1_000 else { throw problem(413, "at most 1,000 commands per request") }
        let correlation = try GatewayAPI.correlation(body.correlation ?? "worker")
        // The valid commands go to the engine as one submission (decided in order, sharing group commits).
        var results: [WireCommandResult?] = []
        var valid: [(index: Int, command: Command)] = []
        for command in body.commands {
            do {
                valid.append((results.count, try command.command()))
                results.append(nil)
            } catch let error as WireCommand.Invalid {
                results.append(WireCommandResult(status: 422, error: error.description))
            }
        }
        let outcomes = await services.runtime.execute(
            all: valid.map(\.command),
            context: services.context(correlation)
        )
        for ((index, _), outcome) in zip(valid, outcomes) {
            switch outcome {
            case .success(let execution):
                results[index] = WireCommandResult(status: 200, offsets: execution.offsets)
            case .failure(let error as EngineError):
                results[index] = WireCommandResult(
                    status: error.problemDetails.status,
                    error: error.problemDetails.detail
                )
            case .failure(let error): throw error  // the log did not take them: the request fails as a whole
            }
        }
        // Written by hand: Foundation's encoder cost a tenth of serve's time when collected bars came this way.
        let items = results.compactMap { result -> String? in
            guard let result else { return nil }  // every command has its result by now
            var item = JSONObjectWriter()
            item.field("status", result.status)
            item.raw("offsets", "[" + result.offsets.map { String($0) }.joined(separator: ",") + "]")
            if let error = result.error { item.field("error", error) }
            return item.finish()
        }
        return APIJSON.response(bytes: ByteBuffer(string: "{\"results\":[" + items.joined(separator: ",") + "]}"))
    }

    /// `POST /internal/candles`
    @Sendable func ingestCandles(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let correlation = try GatewayAPI.correlation(request.uri.queryParameters.get("correlation") ?? "collect")
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: context.maxUploadSize) } catch {
            throw problem(413, "the request body is larger than \(context.maxUploadSize) bytes")
        }
        let commands = try GatewayAPI.candleCommands(body)
        let outcomes = await services.runtime.execute(all: commands, context: services.context(correlation))
        var recorded = 0
        var refused: [String] = []
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success: recorded += 1
            case .failure(let error as EngineError):
                var item = JSONObjectWriter()
                item.field("line", index + 1)
                item.field("status", error.problemDetails.status)
                item.field("error", error.problemDetails.detail ?? error.problemDetails.title)
                refused.append(item.finish())
            case .failure(let error): throw error  // the log did not take them: the request fails as a whole
            }
        }
        return APIJSON.response(
            bytes: ByteBuffer(
                string: "{\"recorded\":\(recorded),\"refused\":[" + refused.joined(separator: ",") + "]}"
            )
        )
    }

    /// `GET /internal/accounts`
    @Sendable func accounts(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let accounts = services.runtime.read { state -> [WorkerAccountView] in
            var working: [AccountID: Int] = [:]
            for order in state.working { working[order.account, default: 0] += 1 }
            return state.accounts.values
                .filter { ($0.broker == .kisPaper || $0.broker == .kisReal) && $0.closedAt == nil }
                .sorted { $0.id < $1.id }
                .map { WorkerAccountView($0, workingOrders: working[$0.id] ?? 0) }
        }
        return try APIJSON.response(["accounts": accounts])
    }

    /// `GET /internal/stocks`
    @Sendable func stocks(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        // One code, or several separated by commas (a data-collection group).
        let only = try request.uri.queryParameters.get("stockId").map { text -> Set<StockCode> in
            let codes = text.split(separator: ",", omittingEmptySubsequences: false)
            guard codes.count <= 100 else { throw problem(400, "stockId takes at most 100 codes") }
            return Set(try codes.map { try Parse.stock(String($0)) })
        }
        let stocks = services.runtime.read { state -> [WorkerStockView] in
            func collects(_ account: Account) -> Bool {
                (account.broker == .kisPaper || account.broker == .kisReal) && account.closedAt == nil
            }
            var watchers: [StockCode: Set<String>] = [:]
            for account in state.accounts.values where collects(account) {
                for strategy in account.strategies.values {
                    watchers[strategy.stock, default: []].insert(account.id.description)
                }
            }
            // A stock with a trigger armed on a KIS account is collected like a strategy's: an exit fires on the
            // bars (and quotes) the worker brings, so they must come every minute, not when a watch falls due.
            for (stock, ids) in state.armedTriggers {
                for id in ids {
                    guard let account = state.triggers[id].flatMap({ state.accounts[$0.request.account] }),
                        collects(account)
                    else { continue }
                    watchers[stock, default: []].insert(account.id.description)
                }
            }
            return state.stocks.values.filter { only?.contains($0.code) ?? true }.sorted { $0.code < $1.code }.map {
                let armed = state.armedTriggers[$0.code]?.count ?? 0
                return WorkerStockView(
                    stock: $0.code.description,
                    lastMinuteStart: $0.marketData.lastMinuteStart,
                    strategyAccounts: (watchers[$0.code] ?? []).sorted(),
                    armedTriggers: armed > 0 ? armed : nil
                )
            }
        }
        return APIJSON.response(
            bytes: ByteBuffer(string: JSONObjectWriter.document("stocks", objects: stocks.map(\.json)))
        )
    }

    /// `GET /internal/strategies`
    @Sendable func strategies(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let only = try request.uri.queryParameters.get("stockId").map(Parse.stock)
        let strategies = services.runtime.read { state -> [WorkerStrategyView] in
            let accounts = state.accounts.values.filter { $0.closedAt == nil && !$0.strategies.isEmpty }
            // The working orders of accounts running strategies, through the engine's index of working orders
            // (not a pass over every order the log ever held).
            var working: [AccountID: [StockCode: [WorkingOrder]]] = [:]
            if !accounts.isEmpty {
                let running = Set(accounts.map(\.id))
                for order in state.working where running.contains(order.account) {
                    working[order.account, default: [:]][order.stock, default: []].append(WorkingOrder(order))
                }
            }
            let lastClose = { (code: StockCode) in state.stocks[code]?.marketData.lastClose ?? 0 }
            return accounts.sorted { $0.id < $1.id }.flatMap { account in
                account.strategies.values.filter { only == nil || $0.stock == only }.sorted {
                    ($0.stock, $0.strategy) < ($1.stock, $1.strategy)
                }.map {
                    var holding = Holding(account, stock: $0.stock, lastClose: lastClose)
                    holding.workingOrders = (working[account.id]?[$0.stock] ?? []).sorted { $0.id < $1.id }
                    var view = WorkerStrategyView(
                        account: account.id.description,
                        stock: $0.stock.description,
                        strategy: $0.strategy,
                        parameters: $0.parameters,
                        position: holding.sellable,
                        holding: holding
                    )
                    if let name = StrategyFactory.ruleName($0.strategy) {
                        view.rules = try? StrategyFactory.ruleSet(
                            name,
                            of: account.user,
                            parameters: $0.parameters,
                            in: state
                        ).source
                    }
                    return view
                }
            }
        }
        return APIJSON.response(
            bytes: ByteBuffer(string: JSONObjectWriter.document("strategies", objects: strategies.map(\.json)))
        )
    }

    /// `GET /internal/candles`
    @Sendable func candles(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let stock = try Parse.stock(request.uri.queryParameters.get("stockId") ?? "")
        let to = try Parse.optionalTime(request, "to")
        let limit = try Parse.limit(request, default: 300, max: 5_000)
        let candles = try await GatewayAPI.candles(
            services,
            stock: stock,
            timeframe: .minute1,
            from: nil,
            to: to,
            limit: limit
        )
        return APIJSON.response(bytes: CandlesBody.bytes(stock: stock, timeframe: .minute1, candles: candles))
    }

    /// `GET /internal/orders/{id}`
    @Sendable func order(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let text = context.parameter("id")
        guard let id = OrderID(text),
            let view = services.runtime.read({ state -> WorkerOrderView? in
                guard let order = state.orders[id] else { return nil }
                let others = order.status == .submitted ? state.brokerOrderNumbers(besides: order) : []
                return WorkerOrderView(
                    order,
                    account: state.accounts[order.account],
                    otherBrokerOrderNumbers: others
                )
            })
        else {
            throw problem(404, "no order \(text)")
        }
        return try APIJSON.response(view)
    }

    /// `GET /internal/notifications/{id}`
    /// A notification as the log recorded it, for the worker that delivers it: the recipient is the owner's
    /// address now (engine state), the text the event's. The job in Redis names only the notification and
    /// its offset, so a forged or altered job cannot choose a recipient or a text.
    @Sendable func notification(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let text = context.parameter("id")
        guard let id = NotificationID(text),
            let offset = request.uri.queryParameters.get("offset").flatMap({ UInt64($0) })
        else {
            throw problem(400, "needs a notification id like ntf-0000000001 and ?offset= its log offset")
        }
        let record =
            offset < services.runtime.nextOffset ? try services.log.read(from: offset, maxRecords: 1).first : nil
        guard let record, record.offset == offset, record.payload.withUnsafeBytes({ EventCodec.isEngineEvent($0) }),
            case .notificationCreated(let created) = try EventCodec.decode(
                record.payload,
                offset: offset,
                timestamp: record.timestamp
            ).event,
            created.notification == id
        else {
            throw problem(404, "no notification \(text) at offset \(offset)")
        }
        let delivered = services.runtime.read { state in state.notifications[id]?.delivered ?? false }
        let email = try await GatewayAPI.email(of: created.user, services: services)  // nil once the person is erased
        return try APIJSON.response(
            WorkerNotificationView(
                notification: id.description,
                user: created.user.description,
                email: email,
                kind: created.kind,
                title: created.title,
                message: created.message,
                delivered: delivered
            )
        )
    }

    /// An operator erases a person on request (PIPA art. 36 / GDPR art. 17) from the host:
    /// `curl -X POST -H "Authorization: Bearer $STOCKBOOM_WORKER_TOKEN" localhost:3001/internal/users/usr-…/erase`.
    /// `POST /internal/users/{id}/erase`
    @Sendable func eraseUser(_ request: Request, context: APIContext) async throws -> Response {
        try GatewayAPI.requireWorker(request, context, services)
        let text = context.parameter("id")
        guard let user = UserID(text) else {
            throw problem(400, "needs a user id like usr-0000000001; got '\(text)'")
        }
        try await GatewayAPI.erase(user, services: services)
        return Response(status: .noContent)
    }
}

extension GatewayAPI {

    /// A correlation id for the events a worker request records: 1 to 64 ASCII letters, digits or dashes.
    static func correlation(_ text: String) throws -> String {
        guard (1...64).contains(text.utf8.count),
            text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        else {
            throw problem(422, "correlation must be 1 to 64 letters, digits or dashes")
        }
        return text
    }

    /// The lines of a `POST /internal/candles` body — `stock,timeframe,start,open,high,low,close,volume`, start
    /// in µs since the epoch — as engine commands. A line that does not parse refuses the whole body (400 or
    /// 422 naming the line): nothing of it is recorded.
    /// The CSV body's candles as engine commands, read byte by byte (Character-wise splitting was a tenth of
    /// serve's time in the 2,700-stock day). Lines end in LF or CRLF; a bad line refuses the whole body.
    static func candleCommands(_ body: ByteBuffer) throws -> [Command] {
        var commands: [Command] = []
        try body.withUnsafeReadableBytes { bytes in
            var lineNumber = 0
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                let next = lineEnd + 1
                if lineEnd > lineStart, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                defer { lineStart = next }
                guard lineEnd > lineStart else { continue }  // blank lines (and a final newline) are skipped
                lineNumber += 1
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
                var fields: [UnsafeRawBufferPointer] = []
                fields.reserveCapacity(8)
                var fieldStart = 0
                for index in 0...line.count where index == line.count || line[index] == UInt8(ascii: ",") {
                    fields.append(UnsafeRawBufferPointer(rebasing: line[fieldStart..<index]))
                    fieldStart = index + 1
                }
                guard fields.count == 8, let start = Self.integer(fields[2]), let open = Self.integer(fields[3]),
                    let high = Self.integer(fields[4]),
                    let low = Self.integer(fields[5]), let close = Self.integer(fields[6]),
                    let volume = Self.integer(fields[7])
                else {
                    throw problem(
                        400,
                        "line \(lineNumber): expected stock,timeframe,start,open,high,low,close,volume (integers after the timeframe); got '\(String(decoding: line.prefix(80), as: UTF8.self))'"
                    )
                }
                do {
                    let candle = WireCommand.candle(
                        stock: String(decoding: fields[0], as: UTF8.self),
                        timeframe: String(decoding: fields[1], as: UTF8.self),
                        start: start,
                        open: open,
                        high: high,
                        low: low,
                        close: close,
                        volume: volume
                    )
                    commands.append(try candle.command())
                } catch let error as WireCommand.Invalid {
                    throw problem(422, "line \(lineNumber): \(error.description)")
                }
                guard commands.count <= 5_000 else { throw problem(413, "at most 5,000 candles per request") }
            }
        }
        return commands
    }

    /// An optionally negative decimal integer that fits Int64 (nil: anything else, empty included).
    static func integer(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) =
                negative
                ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
            guard !overflowTimes, !overflowSum else { return nil }
            value = sum
            index += 1
        }
        return value
    }

    static func requireWorker(_ request: Request, _ context: APIContext, _ services: GatewayServices) throws {
        // Not on the public side at all: a client outside the internal networks does not learn the routes exist.
        guard context.isInternalClient else {
            throw problem(404, "no route \(request.method.rawValue) \(request.uri.path)")
        }
        guard let expected = services.workerToken, let header = request.headers[.authorization],
            header.hasPrefix("Bearer ")
        else {
            throw problem(
                401,
                "internal endpoints take the worker token (STOCKBOOM_WORKER_TOKEN or <log dir>/worker.token)"
            )
        }
        // Compare digests: constant time whatever the lengths (both compared, whichever matches).
        let given = SHA256.hash(data: Data(header.dropFirst(7).utf8))
        let current = given == SHA256.hash(data: Data(expected.utf8))
        let previous = services.previousWorkerToken.map { given == SHA256.hash(data: Data($0.utf8)) } ?? false
        guard current || previous else {
            throw problem(401, "the worker token is not this server's")
        }
    }
}
