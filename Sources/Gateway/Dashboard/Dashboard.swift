import Engine
import Foundation
import Hummingbird
import Jobs
import Ledger
import Projections
import Runtime
import Storage

/// The dashboard at `/`: one server-rendered page (no JavaScript needed) with the portfolio, open and
/// past orders with their lifecycle timeline, a candle chart with a moving average (SVG drawn here),
/// notifications and a system panel. Sign-in posts a form and keeps the JWT in an HttpOnly cookie.
enum Dashboard {
    static func register(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.get, "/") { request, context -> Response in
            // The CSRF token the page's forms repeat (a new browser gets one with its first page).
            let existing = AuthMiddleware.cookie(request, CSRFMiddleware.cookie).flatMap {
                $0.utf8.count >= 32 && $0.allSatisfy(\.isHexDigit) ? $0 : nil
            }
            let csrf = existing ?? CSRFMiddleware.newToken()
            var response: Response
            if let user = context.user, let email = try await GatewayAPI.email(of: user, services: services) {
                response = Self.html(
                    try await Self.page(
                        user: user,
                        email: email,
                        stock: request.uri.queryParameters.get("stock"),
                        csrf: csrf,
                        services: services
                    )
                )
            } else {
                response = Self.html(
                    Self.signInPage(error: request.uri.queryParameters.get("error") != nil, csrf: csrf)
                )
            }
            if existing == nil { response.headers[.setCookie] = CSRFMiddleware.setCookie(csrf) }
            return response
        }
        routes.add(.post, "/login") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            let form = Self.parseForm(String(buffer: buffer))
            // A cross-site form must not sign the browser into another account (login CSRF).
            try CSRFMiddleware.checkOrigin(request)
            try CSRFMiddleware.checkToken(request, given: form["csrf"])
            guard let email = form["email"], let password = form["password"], !email.isEmpty, !password.isEmpty else {
                throw problem(400, "the sign-in form needs email and password")
            }
            do {
                let (user, _, epoch) = try await GatewayAPI.authenticate(
                    email: email,
                    password: password,
                    client: context.clientAddress,
                    services: services
                )
                services.sessions.remember(user, epoch: epoch)
                let session = try await services.auth.issue(for: user, epoch: epoch)
                var response = Response(status: .seeOther)
                response.headers[.location] = "/"
                response.headers[.setCookie] =
                    "sb_session=\(session.token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(services.auth.configuration.tokenLifetimeSeconds)"
                return response
            } catch let problem as ProblemDetails where problem.status == 401 {
                var response = Response(status: .seeOther)
                response.headers[.location] = "/?error=1"
                return response
            }
        }
        // The dashboard's kill switch (the API's is POST /api/broker-accounts/{id}/kill-switch).
        routes.add(.post, "/kill-switch") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            try CSRFMiddleware.checkOrigin(request)
            let form = Self.parseForm(String(buffer: buffer))
            try CSRFMiddleware.checkToken(request, given: form["csrf"])
            let user = try context.requireUser()
            guard form["confirm"] == "yes" else { throw problem(422, "tick the confirmation box first") }
            let account = try GatewayAPI.ownAccount(form["account"] ?? "", user: user, state: services.runtime.state)
            _ = try await services.runtime.execute(
                .killSwitch(account.id, user: user),
                context: services.context("kill-switch")
            )
            var response = Response(status: .seeOther)
            response.headers[.location] = "/#portfolio"
            return response
        }
        routes.add(.post, "/logout") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            try CSRFMiddleware.checkOrigin(request)
            try CSRFMiddleware.checkToken(request, given: Self.parseForm(String(buffer: buffer))["csrf"])
            // The token ends here, not only the cookie: a copy of it (another tab, a stolen cookie) stops working.
            if let user = context.user { try await services.sessions.revoke(user) }
            var response = Response(status: .seeOther)
            response.headers[.location] = "/"
            response.headers[.setCookie] = "sb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
    }

    /// `HH:MM:SS` in KST.
    static func kstTime(_ micros: Int64) -> String {
        let text = KST.hhmmss(micros)
        return "\(text.prefix(2)):\(text.dropFirst(2).prefix(2)):\(text.suffix(2))"
    }

    /// `MM-DD HH:MM` in KST.
    static func kstDayTime(_ micros: Int64) -> String {
        let date = KST.date(day: KST.day(micros))
        let time = KST.hhmmss(micros)
        return String(format: "%02d-%02d ", date.month, date.day) + "\(time.prefix(2)):\(time.dropFirst(2).prefix(2))"
    }

    static func html(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    static func won(_ value: Int64) -> String {
        let digits = String(abs(value))
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(character)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}header{background:#14213d;color:#fff;padding:12px 24px;display:flex;justify-content:space-between;align-items:center}
        main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;padding:16px}section{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0002}
        table{border-collapse:collapse;width:100%;font-size:14px}td,th{padding:4px 6px;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}
        .up{color:#c62828}.down{color:#1565c0}.tl{font-size:12px;color:#555}form.inline{display:inline}button{cursor:pointer}
        """

    static func signInPage(error: Bool, csrf: String) -> String {
        """
        <!doctype html><html lang="ko"><head><meta charset="utf-8"><title>StockBoom — sign in</title><style>\(Self.style)</style></head>
        <body><header><strong>StockBoom</strong></header><main><section id="signin"><h1>Sign in</h1>
        \(error ? "<p role=\"alert\" class=\"up\">The e-mail address or the password is wrong.</p>" : "")
        <form method="post" action="/login"><input type="hidden" name="csrf" value="\(csrf)"><p><label>E-mail <input name="email" type="email" required autocomplete="username"></label></p>
        <p><label>Password <input name="password" type="password" required autocomplete="current-password"></label></p><p><button type="submit" id="signin-button">Sign in</button></p></form>
        <p class="tl">No account yet? <code>POST /api/auth/register</code> (see <a href="/openapi.json">/openapi.json</a>).</p></section></main></body></html>
        """
    }

    static func page(user: UserID, email: String, stock requested: String?, csrf: String, services: GatewayServices)
        async throws -> String
    {
        let state = services.runtime.state
        let accounts = state.accounts.values.filter { $0.user == user && $0.closedAt == nil }.sorted { $0.id < $1.id }
        let accountIDs = Set(accounts.map(\.id))
        let orders = state.orders.values.filter { accountIDs.contains($0.account) }.sorted { $0.id > $1.id }
        let recent = Array(orders.prefix(20))
        let stock =
            requested.flatMap { StockCode($0) }.flatMap { state.stocks[$0] != nil ? $0 : nil }
            ?? recent.first?.stock ?? state.stocks.keys.sorted().first
        let ids = recent.map(\.id.description)
        let userID = user.description
        // Queue sizes straight from Redis (hiredis blocks: on a thread of its own); nil when Redis is away.
        var queues: [(QueueName, QueueCounts)]?
        if let endpoint = services.dependencies.redis {
            queues = try? await blocking {
                let store = JobQueueStore(redis: RedisClient(endpoint: endpoint, timeoutSeconds: 1))
                return try QueueName.allCases.map { ($0, try store.counts($0)) }
            }
        }
        let (timeline, notifications, checkpoints) = try await services.readModels.run {
            db -> ([String: [(String, String)]], [ReadQueries.NotificationRow], [(name: String, offset: UInt64)]) in
            var timeline: [String: [(String, String)]] = [:]
            for event in try ReadQueries.orderEvents(orders: ids, db) {
                timeline[event.order, default: []].append((event.type, Self.kstTime(event.at)))
            }
            let notifications = try ReadQueries.notifications(user: userID, limit: 10, db)
            let checkpoints = try ReadQueries.checkpoints(db)
            return (timeline, notifications, checkpoints)
        }
        var candles: [Candle] = []
        if let stock {
            candles = try await GatewayAPI.candles(
                services,
                stock: stock,
                timeframe: .minute1,
                from: nil,
                to: nil,
                limit: 120
            )
        }
        let head = services.log.nextOffset

        var html = """
            <!doctype html><html lang="ko"><head><meta charset="utf-8"><title>StockBoom — \(Self.escape(email))</title><style>\(Self.style)</style></head><body>
            <header><strong>StockBoom</strong><span>\(Self.escape(email)) <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="\(csrf)"><button>Sign out</button></form></span></header><main>
            <section id="portfolio"><h2>Portfolio</h2>
            """
        if accounts.isEmpty { html += "<p>No broker accounts yet (<code>POST /api/broker-accounts</code>).</p>" }
        for account in accounts {
            guard let view = state.portfolio(account.id) else { continue }
            let profit = view.realizedProfit + view.unrealizedProfit
            html +=
                "<h3>\(account.id) · \(account.broker) \(Self.escape(account.maskedAccountNumber))</h3><table><tr><th>Cash</th><th>Reserved</th><th>Market value</th><th>Equity</th><th>P&amp;L</th></tr>"
            html +=
                "<tr><td>\(Self.won(view.cash))</td><td>\(Self.won(view.reservedCash))</td><td>\(Self.won(view.marketValue))</td><td>\(Self.won(view.equity))</td><td class=\"\(profit >= 0 ? "up" : "down")\">\(Self.won(profit))</td></tr></table>"
            // The kill switch: a checked box, then one click (no script: the page's policy allows none).
            if let reason = account.haltReason {
                html += "<p class=\"halted\" id=\"halted-\(account.id)\">거래 중지 (halted): \(Self.escape(reason))</p>"
            } else {
                html +=
                    "<form class=\"inline\" method=\"post\" action=\"/kill-switch\"><input type=\"hidden\" name=\"csrf\" value=\"\(csrf)\"><input type=\"hidden\" name=\"account\" value=\"\(account.id)\"><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> 확인</label> <button id=\"kill-\(account.id)\">긴급 정지 · kill switch (전략 끄기, 미체결 취소, 계좌 중지)</button></form>"
            }
            if !view.holdings.isEmpty {
                html += "<table><tr><th>Stock</th><th>Qty</th><th>Avg</th><th>Last</th><th>Unrealized</th></tr>"
                for holding in view.holdings {
                    html +=
                        "<tr><td>\(holding.stock) \(Self.escape(state.stocks[holding.stock]?.name ?? ""))</td><td>\(holding.quantity)</td><td>\(Self.won(holding.averagePrice))</td><td>\(Self.won(holding.lastPrice))</td><td class=\"\(holding.unrealizedProfit >= 0 ? "up" : "down")\">\(Self.won(holding.unrealizedProfit))</td></tr>"
                }
                html += "</table>"
            }
        }
        html += "</section><section id=\"orders\"><h2>Orders</h2>"
        let open = recent.filter { !$0.status.isTerminal }
        let past = recent.filter { $0.status.isTerminal }
        for (title, list) in [("Open", open), ("Past", past)] {
            html += "<h3>\(title)</h3>"
            if list.isEmpty {
                html += "<p class=\"tl\">none</p>"
                continue
            }
            html += "<table><tr><th>Order</th><th>Stock</th><th>Side</th><th>Qty</th><th>Price</th><th>Status</th></tr>"
            for order in list {
                html +=
                    "<tr><td>\(order.id)</td><td>\(order.stock)</td><td>\(order.side)</td><td>\(order.filledQuantity)/\(order.quantity)</td><td>\(Self.won(order.price))</td><td>\(order.status)\(order.failureReason.map { " (\($0.rawValue))" } ?? "")</td></tr>"
                let steps = timeline[order.id.description] ?? []
                if !steps.isEmpty {
                    html +=
                        "<tr><td colspan=\"6\" class=\"tl\">"
                        + steps.map { "\($0.1) \(Self.escape($0.0))" }.joined(separator: " → ") + "</td></tr>"
                }
            }
            html += "</table>"
        }
        html +=
            "</section><section id=\"chart\"><h2>\(stock.map { "\($0) \(Self.escape(state.stocks[$0]?.name ?? ""))" } ?? "Chart") · 1m</h2>\(Self.chart(candles))</section>"
        html += "<section id=\"notifications\"><h2>Notifications</h2>"
        if notifications.isEmpty { html += "<p class=\"tl\">none</p>" }
        html +=
            "<ul>"
            + notifications.map { row in
                "<li\(row.isRead ? "" : " style=\"font-weight:600\"")>\(Self.escape(Self.kstDayTime(row.createdAt))) \(Self.escape(row.title)): \(Self.escape(row.message))</li>"
            }.joined() + "</ul></section>"
        html += "<section id=\"system\"><h2>System</h2><table><tr><th>Log head</th><td>\(head)</td></tr>"
        for (name, offset) in checkpoints {
            html +=
                "<tr><th>Projection \(Self.escape(name))</th><td>lag \(head > offset ? head - offset : 0) events</td></tr>"
        }
        if let queues {
            for (queue, counts) in queues {
                html +=
                    "<tr><th>Queue \(queue.rawValue)</th><td>wait \(counts.wait) · active \(counts.active) · delayed \(counts.delayed) · failed \(counts.failed)</td></tr>"
            }
        } else {
            html += "<tr><th>Queues</th><td>Redis not configured or unreachable</td></tr>"
        }
        html += "</table></section></main></body></html>"
        return html
    }

    /// Candlesticks with a 20-period simple moving average, as inline SVG.
    static func chart(_ candles: [Candle]) -> String {
        guard candles.count >= 2, let low = candles.map(\.low).min(), let high = candles.map(\.high).max(), high > low
        else {
            return "<p class=\"tl\">No candles yet.</p>"
        }
        let width = 600.0
        let height = 240.0
        let pad = 8.0
        let step = (width - 2 * pad) / Double(candles.count)
        func y(_ price: Int64) -> Double { pad + (Double(high - price) / Double(high - low)) * (height - 2 * pad) }
        var svg =
            "<svg role=\"img\" aria-label=\"candle chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        var sma = SimpleMovingAverage(period: 20)
        var points: [String] = []
        for (index, candle) in candles.enumerated() {
            let x = pad + step * (Double(index) + 0.5)
            let color = candle.close >= candle.open ? "#c62828" : "#1565c0"
            svg +=
                "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(y(candle.high))\" y2=\"\(y(candle.low))\" stroke=\"\(color)\"/>"
            let top = y(max(candle.open, candle.close))
            let bottom = y(min(candle.open, candle.close))
            svg +=
                "<rect x=\"\(x - step * 0.35)\" y=\"\(top)\" width=\"\(step * 0.7)\" height=\"\(max(1, bottom - top))\" fill=\"\(color)\"/>"
            sma.update(Double(candle.close))
            if let value = sma.value {
                points.append("\(x),\(pad + (Double(high) - value) / Double(high - low) * (height - 2 * pad))")
            }
        }
        if points.count > 1 {
            svg +=
                "<polyline fill=\"none\" stroke=\"#f9a825\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"><title>SMA 20</title></polyline>"
        }
        return svg + "</svg><p class=\"tl\">low \(Self.won(low)) · high \(Self.won(high)) · SMA 20 in yellow</p>"
    }
}
