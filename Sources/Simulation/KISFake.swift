import Engine
public import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
public import Synchronization

/// The strict KIS fake: a local KIS Open API for the tests, following kis-and-krx.md: token issue (same token within 6 h, one
/// request a minute, 403 `EGW00133`), per-key rate limit (HTTP 500 `EGW00201`), expired/invalid tokens
/// (`EGW00123`/`EGW00121`), quotes, minute bars (30 a page, newest first), cash orders with tick, limit
/// band, session and cash checks, cancel, the day's orders (pages of 15 in paper, `tr_cont`, ctx keys)
/// and balance. Every value is a string, as on the wire. Its clock is settable.
public final class KISFake: Sendable {
    public struct Order: Sendable {
        public var number: String
        public var original: String
        public var stock: String
        public var side: String  // 01 sell, 02 buy
        public var quantity: Int64
        public var price: Int64
        public var filled: Int64 = 0
        public var fillValue: Int64 = 0
        public var cancelled = false
        public var time: String
    }

    public struct State: Sendable {
        /// The fake's clock (µs): fixed unless `runClock()` made it follow the wall clock from then on.
        public var now: Int64 {
            get {
                self.clockBase
                    + (self.clockRunningSince.map { Int64((Date().timeIntervalSince1970 - $0) * 1e6 * self.clockSpeed) }
                        ?? 0)
            }
            set { self.clockBase += newValue - self.now }
        }
        var clockBase: Int64
        var clockRunningSince: Double?
        var clockSpeed = 1.0
        public var appKey = "PSmockappkey00000000000000000000000"
        public var appSecret = String(repeating: "s", count: 180)
        public var paper = true
        public var tokenLifetimeSeconds: Int64 = 86_400
        public var token: (value: String, issuedAt: Int64, expiresAt: Int64)?
        public var lastTokenRequest: Int64?
        public var tokensIssued = 0
        public var rateLimit: Double = 2
        /// Per-key limit in real seconds (the wall clock, not `now`).
        public var bucket: (tokens: Double, at: Double) = (2, Date().timeIntervalSince1970)
        public var prices: [String: Int64] = ["005930": 55_000, "000660": 180_000]
        public var basePrices: [String: Int64] = ["005930": 55_000, "000660": 180_000]
        public var cash: Int64 = 100_000_000
        public var holdings: [String: Int64] = [:]
        public var orders: [Order] = []
        public var nextOrder = 1_569_100
        /// Orders fill at once when their limit crosses the price (buy ≥ price, sell ≤ price); else they rest.
        public var fillImmediately = true
        /// Set to make the next order request fail with this (HTTP status, msg_cd, msg1).
        public var failNextOrder: (Int, String, String)?
        public var requests: [(method: String, path: String, trID: String)] = []
        /// Seconds an order answer is held back after the order was taken (a slow broker: the caller may die first).
        public var orderDelay: Double = 0
        public var rateLimited = 0
        /// Require a `hashkey` header on order POSTs, matching `POST /uapi/hashkey` for the body.
        public var requireHashkey = false
        public var hashkeysIssued = 0
        /// Answer the next this many calls with EGW00201 whatever the bucket says (someone else used the key's allowance).
        public var refuseNext = 0
        /// The next N /uapi answers are HTTP 200 with a body that is not JSON (a proxy's error page, a cut body).
        public var garbleNext = 0
        /// The next N /uapi answers are HTTP 500 with a body that is not JSON.
        public var crashNext = 0
        /// The next N orders are taken (and may fill) but their answers are held back `lostAnswerSeconds`,
        /// longer than the client waits: the caller never learns the order number.
        public var loseAnswers = 0
        /// The next N order POSTs are answered 502 (not JSON) before the order is looked at: not taken.
        public var dropOrders = 0
        public var lostAnswerSeconds = 15.0
        /// The day's order list answers without rows (a report that lags behind the orders).
        public var hideReports = false
        /// Fields of the day's order list replaced for an order number: a broker reporting nonsense (figures that
        /// overflow, a fill without a price).
        public var reportOverrides: [String: [String: String]] = [:]
        /// Minute bars are served only up to `now` minus this many minutes (a feed running late).
        public var feedLagMinutes: Int64 = 0
        /// The first this many rows of each daily-bar page are broken (a high under its low, a negative or
        /// unreadable price): what a client must skip, never record.
        public var brokenDailyRows = 0
        /// How many past days' minute bars `inquire-time-dailychartprice` keeps (KIS: about a year), and the days
        /// (YYYYMMDD) whose 10:00 row it serves broken (a high under its low).
        public var minuteHistoryDays: Int64 = 370
        public var brokenMinuteDays: Set<String> = []
        /// Stocks whose quote says KRX halted trading (`temp_stop_yn: Y`).
        public var haltedStocks: Set<String> = []
        /// Stocks in a volatility interruption, with the `vi_cls_code` their quote shows (others show `N`).
        public var interruptedStocks: [String: String] = [:]
        /// Requests refused for being off the documented protocol (`KISProtocol`), path and reason.
        public var violations: [String] = []
    }

    public let state: Mutex<State>
    /// `.strict` (the default, what the tests use): every request is checked against `KISProtocol`.
    public let strictness: KISProtocol.Strictness

    public init(now: Int64, strictness: KISProtocol.Strictness = .strict) {
        self.state = Mutex(State(clockBase: now))
        self.strictness = strictness
    }

    public var now: Int64 { self.state.withLock { $0.now } }
    public func advance(seconds: Int64) { self.state.withLock { $0.now += seconds * 1_000_000 } }
    /// From now on the fake's clock runs with the wall clock, as a session clock (`--clock-start`) of the
    /// processes under test does: an order placed a minute into the test is placed a minute after the start
    /// at the broker too. `speed`: as `--clock-speed`.
    public func runClock(speed: Double = 1) {
        self.state.withLock {
            guard $0.clockRunningSince == nil else { return }
            $0.clockRunningSince = Date().timeIntervalSince1970
            $0.clockSpeed = speed
        }
    }

    public static func answer(
        _ status: HTTPResponse.Status,
        _ json: [String: Any],
        headers extra: [String: String] = [:]
    )
        -> Response
    {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        let data = (try? JSONSerialization.data(withJSONObject: json)) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public static func ok(_ code: String, _ message: String, _ fields: [String: Any]) -> Response {
        var json = fields
        json["rt_cd"] = "0"
        json["msg_cd"] = code
        json["msg1"] = message.padding(toLength: 40, withPad: " ", startingAt: 0)
        return Self.answer(.ok, json)
    }

    public static func refusal(_ code: String, _ message: String) -> Response {
        Self.answer(.ok, ["rt_cd": "1", "msg_cd": code, "msg1": message])
    }

    public static func gatewayError(_ code: String, _ message: String) -> Response {
        Self.answer(.internalServerError, ["rt_cd": "1", "msg_cd": code, "msg1": message])
    }

    /// The minute bar served for a stock at `price`, `minute` minutes after midnight (KST): a deterministic
    /// path around the price, so every minute has a row, as on the live API.
    public static func bar(price: Int64, minute: Int64) -> (
        open: Int64, high: Int64, low: Int64, close: Int64, volume: Int64
    ) {
        let close = price + (minute % 7 - 3) * Self.tick(price)
        return (close - Self.tick(price), close + Self.tick(price), close - 2 * Self.tick(price), close, 1_000 + minute)
    }

    public static func tick(_ price: Int64) -> Int64 {
        switch price {
        case ..<2_000: 1
        case ..<5_000: 5
        case ..<20_000: 10
        case ..<50_000: 50
        case ..<200_000: 100
        case ..<500_000: 500
        default: 1_000
        }
    }

    /// Header, rate-limit and token checks shared by every /uapi call; nil when the call may proceed.
    public func gate(_ request: Request, trID expected: [String], body: [String: String]? = nil) -> Response? {
        let headers = request.headers
        var fields = body ?? [:]
        if body == nil { for (key, value) in request.uri.queryParameters { fields[String(key)] = String(value) } }
        let trID = headers[HTTPField.Name("tr_id")!] ?? ""
        return self.state.withLock { state -> Response? in
            state.requests.append((request.method.rawValue, request.uri.path, trID))
            let now = Date().timeIntervalSince1970
            state.bucket.tokens = min(state.rateLimit, state.bucket.tokens + (now - state.bucket.at) * state.rateLimit)
            state.bucket.at = now
            guard state.bucket.tokens >= 1, state.refuseNext == 0 else {
                state.refuseNext = max(0, state.refuseNext - 1)
                state.rateLimited += 1
                return Self.gatewayError("EGW00201", "초당 거래건수를 초과하였습니다.")
            }
            state.bucket.tokens -= 1
            if state.garbleNext > 0 {
                state.garbleNext -= 1
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: "{\"rt_cd\":\"0\",\"output\":{\"stck_prpr\":"))
                )
            }
            if state.crashNext > 0 {
                state.crashNext -= 1
                return Response(
                    status: .internalServerError,
                    headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: "<html><body>502 Bad Gateway</body></html>"))
                )
            }
            guard headers[HTTPField.Name("appkey")!] == state.appKey,
                headers[HTTPField.Name("appsecret")!] == state.appSecret
            else {
                return Self.answer(.forbidden, ["error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."])
            }
            guard let authorization = headers[.authorization], authorization.hasPrefix("Bearer "),
                let token = state.token,
                String(authorization.dropFirst(7)) == token.value
            else { return Self.gatewayError("EGW00121", "유효하지 않은 token 입니다.") }
            guard state.now < token.expiresAt else { return Self.gatewayError("EGW00123", "기간이 만료된 token 입니다.") }
            guard expected.contains(trID) else { return Self.gatewayError("EGW02006", "모의투자 TR 이 아닙니다. (\(trID))") }
            if state.paper, KISProtocol.realOnly.contains(request.uri.path) {
                // What the paper host answers a real-only TR (kis-and-krx.md §7.2); a client must not ask.
                state.violations.append("\(request.uri.path): real only, asked of the paper host")
                return Self.gatewayError("EGW02006", "모의투자 TR 이 아닙니다. (\(trID))")
            }
            if self.strictness == .strict,
                let violation = KISProtocol.violation(
                    path: request.uri.path,
                    headers: headers,
                    fields: fields,
                    paper: state.paper
                )
            {
                state.violations.append("\(request.uri.path): \(violation)")
                return Self.gatewayError("OPSQ2002", "필수항목 오류: \(violation)")
            }
            return nil
        }
    }

    /// The mock's hash of a body (KIS's algorithm is not public; any stable digest serves the protocol).
    public static func hash(_ body: Data) -> String {
        var value: UInt64 = 1_469_598_103_934_665_603
        for byte in body { value = (value ^ UInt64(byte)) &* 1_099_511_628_211 }
        return String(value, radix: 16)
    }

    public static func query(_ request: Request, _ name: String) -> String {
        // Query keys are matched case-insensitively, as KIS does.
        for (key, value) in request.uri.queryParameters where key.lowercased() == name.lowercased() {
            return String(value)
        }
        return ""
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/oauth2/tokenP") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
            return self.state.withLock { state -> Response in
                guard json["appkey"] as? String == state.appKey else {
                    return Self.answer(
                        .forbidden,
                        ["error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."]
                    )
                }
                guard json["appsecret"] as? String == state.appSecret else {
                    return Self.answer(
                        .forbidden,
                        ["error_code": "EGW00105", "error_description": "유효하지 않은 AppSecret입니다."]
                    )
                }
                if let last = state.lastTokenRequest, state.now - last < 60_000_000 {
                    return Self.answer(
                        .forbidden,
                        ["error_code": "EGW00133", "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"]
                    )
                }
                state.lastTokenRequest = state.now
                if let token = state.token, state.now - token.issuedAt < 6 * 3_600_000_000, state.now < token.expiresAt
                {
                    return Self.answer(
                        .ok,
                        [
                            "access_token": token.value, "token_type": "Bearer",
                            "expires_in": Int((token.expiresAt - state.now) / 1_000_000),
                            "access_token_token_expired": ISOTime.kst(token.expiresAt),
                        ]
                    )
                }
                state.tokensIssued += 1
                let value = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.mock\(state.tokensIssued).\(UUID().uuidString)"
                state.token = (value, state.now, state.now + state.tokenLifetimeSeconds * 1_000_000)
                return Self.answer(
                    .ok,
                    [
                        "access_token": value, "token_type": "Bearer", "expires_in": Int(state.tokenLifetimeSeconds),
                        "access_token_token_expired": ISOTime.kst(state.now + state.tokenLifetimeSeconds * 1_000_000),
                    ]
                )
            }
        }
        router.get("/uapi/domestic-stock/v1/quotations/inquire-price") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["FHKST01010100"]) { return refused }
            let code = Self.query(request, "FID_INPUT_ISCD")
            return self.state.withLock { state -> Response in
                guard let price = state.prices[code], let base = state.basePrices[code] else {
                    return Self.ok("MCA00000", "정상처리 되었습니다.", ["output": ["stck_prpr": "0", "stck_shrn_iscd": code]])
                }
                let upper = (base * 13 / 10) / Self.tick(base * 13 / 10) * Self.tick(base * 13 / 10)
                let lowerRaw = base * 7 / 10
                let lower = (lowerRaw + Self.tick(lowerRaw) - 1) / Self.tick(lowerRaw) * Self.tick(lowerRaw)
                return Self.ok(
                    "MCA00000",
                    "정상처리 되었습니다.",
                    [
                        "output": [
                            "stck_prpr": String(price), "stck_sdpr": String(base), "stck_mxpr": String(upper),
                            "stck_llam": String(lower),
                            "stck_oprc": String(base), "stck_hgpr": String(max(base, price)),
                            "stck_lwpr": String(min(base, price)), "acml_vol": "123456",
                            "temp_stop_yn": state.haltedStocks.contains(code) ? "Y" : "N", "stck_shrn_iscd": code,
                            "aspr_unit": String(Self.tick(price)),
                            "vi_cls_code": state.interruptedStocks[code] ?? "N",
                        ]
                    ]
                )
            }
        }
        router.get("/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["FHKST03010200"]) { return refused }
            let code = Self.query(request, "FID_INPUT_ISCD")
            let hour = Self.query(request, "FID_INPUT_HOUR_1")
            return self.state.withLock { state -> Response in
                let day = KST.day(state.now)
                let nowMinute = KST.timeOfDay(state.now) / 60_000_000
                let asked = (Int64(hour.prefix(2)) ?? 0) * 60 + (Int64(hour.dropFirst(2).prefix(2)) ?? 0)
                let last = min(asked, nowMinute - state.feedLagMinutes, 15 * 60 + 30)
                let price = state.prices[code] ?? 0
                var rows: [[String: String]] = []
                var minute = last
                while minute >= 9 * 60, rows.count < 30 {
                    let bar = Self.bar(price: price, minute: minute)
                    rows.append([
                        "stck_bsop_date": KST.yyyymmdd(day: day),
                        "stck_cntg_hour": String(format: "%02lld%02lld00", minute / 60, minute % 60),
                        "stck_prpr": String(bar.close), "stck_oprc": String(bar.open), "stck_hgpr": String(bar.high),
                        "stck_lwpr": String(bar.low), "cntg_vol": String(bar.volume), "acml_tr_pbmn": "0",
                    ])
                    minute -= 1
                }
                return Self.ok("MCA00000", "정상처리 되었습니다.", ["output1": ["stck_prpr": String(price)], "output2": rows])
            }
        }
        // Past days' minute bars (FHKST03010230, real host only): up to 120 rows of `FID_INPUT_DATE_1` ending at
        // `FID_INPUT_HOUR_1`, newest first (kis-and-krx.md §3.2); days older than `minuteHistoryDays` (KIS keeps
        // about a year) and weekends have none. The same deterministic path as today's bars, around the day's close.
        router.get("/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["FHKST03010230"]) { return refused }
            let code = Self.query(request, "FID_INPUT_ISCD")
            let hour = Self.query(request, "FID_INPUT_HOUR_1")
            let (hours, minutes) = (Int64(hour.prefix(2)), Int64(hour.dropFirst(2).prefix(2)))
            guard let day = KST.day(yyyymmdd: Self.query(request, "FID_INPUT_DATE_1")), hour.count == 6,
                let hours, let minutes
            else { return Self.refusal("OPSQ0002", "입력 값이 올바르지 않습니다.") }
            let asked = hours * 60 + minutes
            return self.state.withLock { state -> Response in
                let today = KST.day(state.now)
                guard let base = state.basePrices[code], day <= today, day > today - state.minuteHistoryDays,
                    KST.weekday(day: day) < 5
                else {
                    return Self.ok(
                        "MCA00000",
                        "정상처리 되었습니다.",
                        ["output1": [String: String](), "output2": [[String: String]]()]
                    )
                }
                let price = base + (day * 37 % 21 - 10) * Self.tick(base)
                let nowMinute = day == today ? KST.timeOfDay(state.now) / 60_000_000 : 24 * 60
                var rows: [[String: String]] = []
                var minute = min(asked, nowMinute, 15 * 60 + 30)
                while minute >= 9 * 60, rows.count < 120 {
                    let bar = Self.bar(price: price, minute: minute)
                    let broken = minute == 10 * 60 && state.brokenMinuteDays.contains(KST.yyyymmdd(day: day))
                    rows.append([
                        "stck_bsop_date": KST.yyyymmdd(day: day),
                        "stck_cntg_hour": String(format: "%02lld%02lld00", minute / 60, minute % 60),
                        "stck_prpr": String(bar.close), "stck_oprc": String(bar.open),
                        "stck_hgpr": broken ? "1" : String(bar.high), "stck_lwpr": String(bar.low),
                        "cntg_vol": String(bar.volume), "acml_tr_pbmn": "0",
                    ])
                    minute -= 1
                }
                return Self.ok("MCA00000", "정상처리 되었습니다.", ["output1": ["stck_prpr": String(price)], "output2": rows])
            }
        }
        // Daily bars (FHKST03010100): weekdays from FID_INPUT_DATE_1 to FID_INPUT_DATE_2 (not after today), at most
        // 100 rows, newest first (kis-and-krx.md §3.3); a deterministic path per stock and day.
        router.get("/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["FHKST03010100"]) { return refused }
            let code = Self.query(request, "FID_INPUT_ISCD")
            guard let from = KST.day(yyyymmdd: Self.query(request, "FID_INPUT_DATE_1")),
                let to = KST.day(yyyymmdd: Self.query(request, "FID_INPUT_DATE_2")), from <= to,
                ["D", "W", "M", "Y"].contains(Self.query(request, "FID_PERIOD_DIV_CODE")),
                ["0", "1"].contains(Self.query(request, "FID_ORG_ADJ_PRC"))
            else { return Self.refusal("OPSQ0002", "입력 값이 올바르지 않습니다.") }
            return self.state.withLock { state -> Response in
                guard let base = state.basePrices[code] else {
                    return Self.ok(
                        "MCA00000",
                        "정상처리 되었습니다.",
                        ["output1": ["stck_prpr": "0"], "output2": [[String: String]]()]
                    )
                }
                var rows: [[String: String]] = []
                var day = min(to, KST.day(state.now))
                while day >= from, rows.count < 100 {
                    defer { day -= 1 }
                    guard KST.weekday(day: day) < 5 else { continue }
                    let tick = Self.tick(base)
                    let close = base + (day * 37 % 21 - 10) * tick
                    var row = [
                        "stck_bsop_date": KST.yyyymmdd(day: day), "stck_clpr": String(close),
                        "stck_oprc": String(close - tick), "stck_hgpr": String(close + tick),
                        "stck_lwpr": String(close - 2 * tick), "acml_vol": String(100_000 + day % 1_000),
                        "acml_tr_pbmn": "0", "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N",
                    ]
                    if rows.count < state.brokenDailyRows {
                        switch rows.count % 3 {
                        case 0: row["stck_hgpr"] = String(close - 5 * tick)
                        case 1: row["stck_clpr"] = "-" + String(close)
                        default: row["stck_oprc"] = "１２３"
                        }
                    }
                    rows.append(row)
                }
                return Self.ok(
                    "MCA00000",
                    "정상처리 되었습니다.",
                    [
                        "output1": ["stck_prpr": String(state.prices[code] ?? base), "stck_shrn_iscd": code],
                        "output2": rows,
                    ]
                )
            }
        }
        router.post("/uapi/hashkey") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let data = Data(body.readableBytesView)
            self.state.withLock { $0.hashkeysIssued += 1 }
            return Self.answer(.ok, ["HASH": Self.hash(data), "JsonBody": String(decoding: data, as: UTF8.self)])
        }
        router.post("/uapi/domestic-stock/v1/trading/order-cash") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let fields =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: String] ?? [:]
            if let refused = self.gate(
                request,
                trID: ["VTTC0012U", "VTTC0011U", "VTTC0802U", "VTTC0801U"],
                body: fields
            ) {
                return refused
            }
            let trID = request.headers[HTTPField.Name("tr_id")!] ?? ""
            if self.state.withLock({ $0.requireHashkey }),
                request.headers[HTTPField.Name("hashkey")!] != Self.hash(Data(body.readableBytesView))
            {
                return Self.gatewayError("EGW00300", "hashkey가 올바르지 않습니다.")
            }
            let json =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: String] ?? [:]
            let dropped = self.state.withLock { state -> Bool in
                guard state.dropOrders > 0 else { return false }
                state.dropOrders -= 1
                return true
            }
            if dropped {
                return Response(
                    status: .badGateway,
                    headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: "<html><body>502 Bad Gateway</body></html>"))
                )
            }
            let (response, delay) = self.state.withLock { state in
                let response = self.order(&state, trID: trID, json: json)
                guard state.loseAnswers > 0 else { return (response, state.orderDelay) }
                state.loseAnswers -= 1
                return (response, state.lostAnswerSeconds)
            }
            if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
            return response
        }
        router.post("/uapi/domestic-stock/v1/trading/order-rvsecncl") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let json =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: String] ?? [:]
            if let refused = self.gate(request, trID: ["VTTC0013U", "VTTC0803U"], body: json) { return refused }
            return self.cancel(json)
        }
        router.get("/uapi/domestic-stock/v1/trading/inquire-daily-ccld") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["VTTC0081R", "VTTC8001R"]) { return refused }
            return self.dailyOrders(request)
        }
        router.get("/uapi/domestic-stock/v1/trading/inquire-balance") { request, _ -> Response in
            if let refused = self.gate(request, trID: ["VTTC8434R"]) { return refused }
            return self.balance()
        }
        return router
    }

    public func order(_ state: inout State, trID: String, json: [String: String]) -> Response {
        if let (status, code, message) = state.failNextOrder {
            state.failNextOrder = nil
            return Self.answer(HTTPResponse.Status(code: status), ["rt_cd": "1", "msg_cd": code, "msg1": message])
        }
        let buy = trID.hasSuffix("12U") || trID.hasSuffix("02U")
        let code = json["PDNO"] ?? ""
        guard let price = state.prices[code], let base = state.basePrices[code] else {
            return Self.refusal("APBK0656", "종목코드 오류입니다.")
        }
        guard let quantity = Int64(json["ORD_QTY"] ?? ""), quantity > 0 else {
            return Self.refusal("40300000", "주문 수량을 확인해주세요.")
        }
        let market = json["ORD_DVSN"] == "01"
        let limit = market ? price : (Int64(json["ORD_UNPR"] ?? "") ?? 0)
        let minute = KST.timeOfDay(state.now) / 60_000_000
        guard minute >= 9 * 60 else { return Self.refusal("40570000", "모의투자 장시작전 입니다.") }
        guard minute < 15 * 60 + 30 else { return Self.refusal("40580000", "모의투자 장종료 입니다.") }
        guard limit % Self.tick(limit) == 0 else { return Self.refusal("40310000", "모의투자 주문처리가 안되었습니다(호가단위 오류)") }
        guard limit <= base * 13 / 10, limit >= base * 7 / 10 else { return Self.refusal("40270000", "모의투자 상/하한가 오류") }
        if buy, limit * quantity > state.cash { return Self.refusal("40250000", "모의투자 주문가능금액이 부족합니다.") }
        if !buy, (state.holdings[code] ?? 0) < quantity { return Self.refusal("40240000", "모의투자 주문가능수량을 초과하였습니다.") }
        state.nextOrder += 1
        let time = String(
            format: "%02lld%02lld%02lld",
            minute / 60,
            minute % 60,
            KST.timeOfDay(state.now) / 1_000_000 % 60
        )
        var order = Order(
            number: String(format: "%010d", state.nextOrder),
            original: "",
            stock: code,
            side: buy ? "02" : "01",
            quantity: quantity,
            price: limit,
            time: time
        )
        if state.fillImmediately, buy ? limit >= price : limit <= price {
            order.filled = quantity
            order.fillValue = quantity * price
            state.cash += Self.cashChange(buy: buy, notional: quantity * price)
            state.holdings[code, default: 0] += buy ? quantity : -quantity
        }
        state.orders.append(order)
        return Self.ok(
            buy ? "40600000" : "40610000",
            buy ? "모의투자 매수주문이 완료 되었습니다." : "모의투자 매도주문이 완료 되었습니다.",
            [
                "output": ["KRX_FWDG_ORD_ORGNO": Self.forwardingOrganization, "ODNO": order.number, "ORD_TMD": time]
            ]
        )
    }

    /// The organization an order's answer names (`KRX_FWDG_ORD_ORGNO`), which a revise or cancel must name; the
    /// day's list shows the ordering branch instead (`ord_gno_brno`), a different number, as at KIS.
    public static let forwardingOrganization = "91252"
    public static let orderingBranch = "06010"

    public func cancel(_ json: [String: String]) -> Response {
        if let refused = self.wrongOrganization(json) { return refused }
        if json["RVSE_CNCL_DVSN_CD"] == "01" { return self.revise(json) }
        return self.state.withLock { state -> Response in
            guard let index = state.orders.firstIndex(where: { $0.number == json["ORGN_ODNO"] }),
                !state.orders[index].cancelled,
                state.orders[index].filled < state.orders[index].quantity
            else { return Self.refusal("40330000", "모의투자 정정/취소할 수량이 없습니다.") }
            state.orders[index].cancelled = true
            let remaining = state.orders[index].quantity - state.orders[index].filled
            state.nextOrder += 1
            let cancel = Order(
                number: String(format: "%010d", state.nextOrder),
                original: state.orders[index].number,
                stock: state.orders[index].stock,
                side: state.orders[index].side,
                quantity: remaining,
                price: 0,
                cancelled: true,
                time: state.orders[index].time
            )
            state.orders.append(cancel)
            return Self.ok(
                "40630000",
                "모의투자 취소주문이 완료 되었습니다.",
                [
                    "output": [
                        "KRX_FWDG_ORD_ORGNO": Self.forwardingOrganization, "ODNO": cancel.number,
                        "ORD_TMD": cancel.time,
                    ]
                ]
            )
        }
    }

    /// A revise or cancel that does not name the order's `KRX_FWDG_ORD_ORGNO`: refused, and recorded as a
    /// protocol violation (the client sent the list's branch, or nothing).
    func wrongOrganization(_ json: [String: String]) -> Response? {
        let named = json["KRX_FWDG_ORD_ORGNO"] ?? ""
        guard named != Self.forwardingOrganization else { return nil }
        self.state.withLock {
            $0.violations.append(
                "order-rvsecncl: KRX_FWDG_ORD_ORGNO '\(named)' is not the order's (\(Self.forwardingOrganization))"
            )
        }
        return Self.refusal("40320000", "모의투자 주문조직번호가 올바르지 않습니다.")
    }

    /// A revision: the original is closed (its remainder moves), a child order carries the new price.
    public func revise(_ json: [String: String]) -> Response {
        self.state.withLock { state -> Response in
            guard let index = state.orders.firstIndex(where: { $0.number == json["ORGN_ODNO"] }),
                !state.orders[index].cancelled,
                state.orders[index].filled < state.orders[index].quantity
            else { return Self.refusal("40330000", "모의투자 정정/취소할 수량이 없습니다.") }
            guard let price = Int64(json["ORD_UNPR"] ?? ""), price > 0, price % Self.tick(price) == 0 else {
                return Self.refusal("40310000", "모의투자 주문처리가 안되었습니다(호가단위 오류)")
            }
            let remaining = state.orders[index].quantity - state.orders[index].filled
            state.orders[index].cancelled = true
            state.nextOrder += 1
            let child = Order(
                number: String(format: "%010d", state.nextOrder),
                original: state.orders[index].number,
                stock: state.orders[index].stock,
                side: state.orders[index].side,
                quantity: remaining,
                price: price,
                time: state.orders[index].time
            )
            state.orders.append(child)
            return Self.ok(
                "40620000",
                "모의투자 정정주문이 완료 되었습니다.",
                [
                    "output": [
                        "KRX_FWDG_ORD_ORGNO": Self.forwardingOrganization, "ODNO": child.number, "ORD_TMD": child.time,
                    ]
                ]
            )
        }
    }

    public func dailyOrders(_ request: Request) -> Response {
        let start = Int(Self.query(request, "CTX_AREA_NK100").trimmingCharacters(in: .whitespaces)) ?? 0
        return self.state.withLock { state -> Response in
            let page = state.hideReports ? [] : Array(state.orders.dropFirst(start).prefix(15))
            let more = !state.hideReports && start + page.count < state.orders.count
            let rows = page.map { order -> [String: String] in
                [
                    "odno": order.number, "orgn_odno": order.original, "ord_gno_brno": Self.orderingBranch,
                    "pdno": order.stock,
                    "sll_buy_dvsn_cd": order.side,
                    "ord_qty": String(order.quantity), "ord_unpr": String(order.price),
                    "tot_ccld_qty": String(order.filled),
                    "avg_prvs": order.filled > 0 ? String(order.fillValue / order.filled) : "0",
                    "rmn_qty": String(order.cancelled ? 0 : order.quantity - order.filled),
                    "cncl_yn": order.cancelled ? "Y" : "N", "rjct_qty": "0", "ord_tmd": order.time,
                ].merging(state.reportOverrides[order.number] ?? [:]) { $1 }
            }
            let next =
                more
                ? String(start + page.count).padding(toLength: 100, withPad: " ", startingAt: 0)
                : String(repeating: " ", count: 100)
            var response = Self.ok(
                more ? "70070001" : "20310000",
                "모의투자 조회가 완료되었습니다.",
                ["output1": rows, "output2": ["tot_ord_qty": "0"], "ctx_area_fk100": "fk", "ctx_area_nk100": next]
            )
            response.headers[HTTPField.Name("tr_cont")!] = more ? "M" : "D"
            return response
        }
    }

    public func balance() -> Response {
        return self.state.withLock { state -> Response in
            let rows = state.holdings.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map {
                code,
                quantity -> [String: String] in
                [
                    "pdno": code, "hldg_qty": String(quantity), "ord_psbl_qty": String(quantity),
                    "pchs_avg_pric": String(state.prices[code] ?? 0),
                ]
            }
            return Self.ok(
                "20310000",
                "모의투자 조회가 완료되었습니다.",
                [
                    "output1": rows,
                    "output2": [["dnca_tot_amt": String(state.cash), "prvs_rcdl_excc_amt": String(state.cash)]],
                    "ctx_area_fk100": "", "ctx_area_nk100": "",
                ]
            )
        }
    }

    /// What a fill does to the deposit: KIS deducts its commission (0.0140527 % non-face-to-face) on both sides and
    /// the transaction tax on sales, each truncated to the won, per execution (the project's notes §6.6).
    static func cashChange(buy: Bool, notional: Int64) -> Int64 {
        let fees = FeeSchedule()
        return buy
            ? -(notional + fees.commission(notional)) : notional - fees.commission(notional) - fees.sellTax(notional)
    }

    /// Fills a resting order (the market moved to it).
    public func fill(_ number: String, quantity: Int64, price: Int64) {
        self.state.withLock { state in
            guard let index = state.orders.firstIndex(where: { $0.number == number }) else { return }
            state.orders[index].filled += quantity
            state.orders[index].fillValue += quantity * price
            let buy = state.orders[index].side == "02"
            state.cash += Self.cashChange(buy: buy, notional: quantity * price)
            state.holdings[state.orders[index].stock, default: 0] += buy ? quantity : -quantity
        }
    }
}
