import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Ledger
import Projections
import Runtime
import Storage

/// The dashboard at `/`: server-rendered pages (Mustache templates, Korean first) that a small script of ours
/// keeps live from `/api/stream`, with the chart drawn by TradingView's Lightweight Charts (installed from PyPI
/// by `scripts/assets.sh`, served from `/assets/vendor/`). Sign-in posts a form and keeps the JWT in an
/// HttpOnly cookie; every state change the script makes repeats the CSRF token in `X-CSRF-Token`.
/// `/orders/{id}` is an order's lifecycle from the log with the chain attestation; `/docs` is Swagger UI.
enum Dashboard {
    static func register(_ routes: RouteTable, _ services: GatewayServices) {
        Self.registerSession(routes, services)
        routes.add(.get, "/") { request, context -> Response in
            let (csrf, fresh) = Self.csrfToken(request)
            let words = Words(language: Language.of(request))
            var response: Response
            if let user = context.user, let email = try await GatewayAPI.email(of: user, services: services) {
                let page = Int(request.uri.queryParameters.get("page") ?? "") ?? 1
                response = Self.html(
                    try await Self.page(
                        user: user,
                        email: email,
                        stock: request.uri.queryParameters.get("stock"),
                        page: page,
                        csrf: csrf,
                        words: words,
                        services: services
                    )
                )
            } else {
                response = Self.html(
                    Templates.render(
                        SignInView(
                            words: words,
                            csrf: csrf,
                            error: request.uri.queryParameters.get("error") != nil
                        ),
                        "signIn"
                    )
                )
            }
            Self.setCookies(&response, request: request, csrf: fresh ? csrf : nil)
            return response
        }
        routes.add(.get, "/orders/{id}") { request, context -> Response in
            guard let user = context.user, let email = try await GatewayAPI.email(of: user, services: services) else {
                var response = Response(status: .seeOther)
                response.headers[.location] = "/"
                return response
            }
            let (csrf, fresh) = Self.csrfToken(request)
            // The owner's, or any order for an operator (who views every account read-only).
            let state = services.runtime.state
            let order =
                state.operators.contains(user)
                ? try GatewayAPI.anyOrder(context.parameter("id"), state: state)
                : try GatewayAPI.ownOrder(context.parameter("id"), user: user, state: state)
            let audit = try await GatewayAPI.audit(order, services: services)
            let words = Words(language: Language.of(request))
            var response = Self.html(
                Templates.render(
                    OrderPageView(
                        order: order,
                        audit: audit,
                        email: email,
                        csrf: csrf,
                        words: words,
                        services: services
                    ),
                    "orderPage"
                )
            )
            Self.setCookies(&response, request: request, csrf: fresh ? csrf : nil)
            return response
        }
        routes.add(.get, "/operator/accounts/{id}") { request, context -> Response in
            let state = services.runtime.state
            guard let user = context.user, state.operators.contains(user),
                let email = try await GatewayAPI.email(of: user, services: services)
            else { throw problem(404, "not found") }
            guard let id = AccountID(context.parameter("id")), let account = state.accounts[id] else {
                throw problem(404, "no account \(context.parameter("id"))")
            }
            let (csrf, fresh) = Self.csrfToken(request)
            var response = Self.html(
                try await Self.page(
                    user: user,
                    email: email,
                    stock: nil,
                    page: Int(request.uri.queryParameters.get("page") ?? "") ?? 1,
                    csrf: csrf,
                    words: Words(language: Language.of(request)),
                    services: services,
                    only: account
                )
            )
            Self.setCookies(&response, request: request, csrf: fresh ? csrf : nil)
            return response
        }
        // A backtest's report page (its owner's, by the session cookie).
        routes.add(.get, "/backtests/{id}") { request, context -> Response in
            guard let user = context.user else {
                var response = Response(status: .seeOther)
                response.headers[.location] = "/"
                return response
            }
            let id = context.parameter("id")
            guard let entry = services.backtests.get(id, user: user), let document = entry.document else {
                throw problem(404, "no backtest \(id)")
            }
            var response = Self.html(
                BacktestReportPage.html(document, assets: .gateway, words: Words(language: Language.of(request)))
            )
            if let cookie = Language.cookie(request) {
                response.headers.append(HTTPField(name: .setCookie, value: cookie))
            }
            return response
        }
        routes.add(.get, "/docs") { request, context -> Response in
            let (csrf, fresh) = Self.csrfToken(request)
            var response = Self.html(
                Templates.render(
                    SignInView(words: Words(language: Language.of(request)), csrf: csrf, error: false),
                    "docs"
                )
            )
            Self.setCookies(&response, request: request, csrf: fresh ? csrf : nil)
            return response
        }
        for (path, type, body) in [
            ("/assets/dashboard.js", "text/javascript; charset=utf-8", Scripts.dashboard),
            ("/assets/docs.js", "text/javascript; charset=utf-8", Scripts.docs),
            ("/assets/report.js", "text/javascript; charset=utf-8", Scripts.report),
            ("/assets/dashboard.css", "text/css; charset=utf-8", Scripts.style),
        ] {
            routes.add(.get, path) { _, _ -> Response in
                var headers = HTTPFields()
                headers[.contentType] = type
                headers[.cacheControl] = "no-cache"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
            }
        }
        // The dashboard's kill switch (the API's is POST /api/broker-accounts/{id}/kill-switch).
        routes.add(.post, "/kill-switch") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            try CSRFMiddleware.checkOrigin(request)
            let form = try Self.parseForm(String(buffer: buffer))
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
    }

    /// Sign-in and sign-out by form (the dashboard's and the queue board's).
    static func registerSession(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.post, "/login") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            let form = try Self.parseForm(String(buffer: buffer))
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
        routes.add(.post, "/logout") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 10)
            try CSRFMiddleware.checkOrigin(request)
            try CSRFMiddleware.checkToken(request, given: try Self.parseForm(String(buffer: buffer))["csrf"])
            // The token ends here, not only the cookie: a copy of it (another tab, a stolen cookie) stops working.
            if let user = context.user { try await services.sessions.revoke(user) }
            var response = Response(status: .seeOther)
            response.headers[.location] = "/"
            response.headers[.setCookie] = "sb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
    }

    /// The CSRF token the page's forms and script repeat, and whether it is new (a new browser gets one with
    /// its first page).
    static func csrfToken(_ request: Request) -> (String, Bool) {
        let existing = AuthMiddleware.cookie(request, CSRFMiddleware.cookie).flatMap {
            $0.utf8.count >= 32 && $0.allSatisfy(\.isHexDigit) ? $0 : nil
        }
        return (existing ?? CSRFMiddleware.newToken(), existing == nil)
    }

    static func setCookies(_ response: inout Response, request: Request, csrf: String?) {
        let cookies = [csrf.map(CSRFMiddleware.setCookie), Language.cookie(request)].compactMap { $0 }
        for cookie in cookies { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
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

    /// A page: scripts and styles from this origin only (the chart and Swagger UI are served from here too).
    static func html(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A form body (`application/x-www-form-urlencoded`) as its fields. Split here rather than by Hummingbird's
    /// `URLEncodedFormDecoder`, which refuses a whole body for one key it cannot map (nested `a[b]`, bytes that
    /// are not UTF-8): such fields are none of ours and are ignored, the known ones still read (schemathesis
    /// sends such bodies to `/login`). The `throws` is kept for callers; nothing here throws.
    static func parseForm(_ text: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }
}

/// The sign-in page and `/docs`: the header without a user.
struct SignInView {
    var lang, otherLanguage, title, csrf: String
    var t: [String: String]
    var error: Bool
    var email: String? = nil

    init(words: Words, csrf: String, error: Bool) {
        self.lang = words.language.rawValue
        self.otherLanguage = words.language.other.rawValue
        self.title = words["signIn"]
        self.csrf = csrf
        self.t = words.table
        self.error = error
    }
}
