public import Engine
import Foundation
public import HTTPTypes
public import Hummingbird
public import NIOCore
public import Synchronization

/// The broker of a simulated session (`stockboom-sim bench day`): the KIS Open API over a generated market, so that
/// the worker collects minute bars and sends orders exactly as it does against KIS — tokens, quotes, minute
/// bars (30 a page, newest first), cash orders and cancels, the day's orders and the balance, one book per
/// account number. Market orders and marketable limits fill at the last closed bar's close; a resting limit
/// fills at its price once a later bar reaches it. Lenient where KIS is strict (any app key gets a token, no
/// rate limit), so that the bench measures StockBoom rather than the broker's limits.
public final class SimulatedKIS: Sendable {
    public struct Order: Sendable {
        public var number: String
        public var stock: String
        public var buy: Bool
        public var quantity: Int64
        /// 0: a market order.
        public var limit: Int64
        public var minute: Int
        public var time: String
        public var filled: Int64 = 0
        public var fillValue: Int64 = 0
        public var cancelled = false
    }

    public struct Book: Sendable {
        public var cash: Int64
        public var holdings: [String: Int64] = [:]
        public var orders: [Order] = []
    }

    public struct State: Sendable {
        public var books: [String: Book] = [:]
        public var nextOrder = 1_000_000
        public var requests = 0
        public var chartRequests = 0
        public var quoteRequests = 0
        public var ordersTaken = 0
    }

    public let state = Mutex(State())
    public let clock: @Sendable () -> Int64
    public let open: Int64
    public let codes: [String: Int]
    public let previousClose: [Int64]
    /// Minute-major: bar `m` of stock `i` is `bars[m * stocks + i]`.
    public let bars: [Candle]
    public let stocks: Int
    public let openingCash: Int64
    /// `.lenient` for the benchmarks (no protocol checks on the hot path); `.strict` checks `KISProtocol`.
    public let strictness: KISProtocol.Strictness

    public init(
        listings: [(code: StockCode, name: String, previousClose: Int64)],
        bars: [Candle],
        day: Int64,
        openingCash: Int64,
        strictness: KISProtocol.Strictness = .lenient,
        clock: @escaping @Sendable () -> Int64
    ) {
        self.strictness = strictness
        self.clock = clock
        self.open = KST.instant(day: day, hour: 9)
        self.codes = Dictionary(uniqueKeysWithValues: listings.enumerated().map { ($1.code.description, $0) })
        self.previousClose = listings.map(\.previousClose)
        self.bars = bars
        self.stocks = listings.count
        self.openingCash = openingCash
    }

    public var minutesInDay: Int { self.bars.count / max(self.stocks, 1) }

    /// Minutes since 09:00 of `now` (negative before the open).
    public func minute(_ now: Int64) -> Int {
        let elapsed = now - self.open
        return Int(elapsed >= 0 ? elapsed / KST.minuteMicros : (elapsed - KST.minuteMicros + 1) / KST.minuteMicros)
    }

    /// The last closed bar of a stock at `now`, nil before 09:01.
    public func lastBar(_ stock: Int, now: Int64) -> Candle? {
        let closed = min(self.minute(now) - 1, self.minutesInDay - 1)
        return closed >= 0 ? self.bars[closed * self.stocks + stock] : nil
    }

    public func price(_ stock: Int, now: Int64) -> Int64 {
        self.lastBar(stock, now: now)?.close ?? self.previousClose[stock]
    }

    public static func answer(_ status: HTTPResponse.Status, _ json: [String: Any], more: Bool? = nil) -> Response {
        Self.answer(
            status,
            body: ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: json)) ?? Data()),
            more: more
        )
    }

    /// A JSON answer with KIS's headers (`tr_cont` when paging is in question).
    public static func answer(_ status: HTTPResponse.Status, body: ByteBuffer, more: Bool? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let more { headers[HTTPField.Name("tr_cont")!] = more ? "M" : "D" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    public static func ok(_ fields: [String: Any], more: Bool? = nil) -> Response {
        var json = fields
        json["rt_cd"] = "0"
        json["msg_cd"] = "MCA00000"
        json["msg1"] = "정상처리 되었습니다."
        return Self.answer(.ok, json, more: more)
    }

    /// A success answer written field by field, without `JSONSerialization` (the quotation routes answer every
    /// stock every collection; Foundation's dictionaries cost the simulated broker more than StockBoom's work).
    public static func ok(writing write: (inout JSONObjectWriter) -> Void) -> Response {
        var json = JSONObjectWriter()
        write(&json)
        json.field("rt_cd", "0")
        json.field("msg_cd", "MCA00000")
        json.field("msg1", "정상처리 되었습니다.")
        return Self.answer(.ok, body: ByteBuffer(string: json.finish()))
    }

    public static func refusal(_ code: String, _ message: String) -> Response {
        Self.answer(.ok, ["rt_cd": "1", "msg_cd": code, "msg1": message])
    }

    public static func query(_ request: Request, _ name: String) -> String {
        for (key, value) in request.uri.queryParameters where key.lowercased() == name.lowercased() {
            return String(value)
        }
        return ""
    }

    public static func token(_ appKey: String) -> String { "SIM." + appKey }

    /// The caller's token matches its app key (and, when strict, the request follows `KISProtocol`); nil when
    /// the call may proceed. `body`: a POST's JSON fields (a GET's query is read from the request).
    public func gate(_ request: Request, body: [String: String]? = nil) -> Response? {
        self.state.withLock { $0.requests += 1 }
        let appKey = request.headers[HTTPField.Name("appkey")!] ?? ""
        guard !appKey.isEmpty, request.headers[.authorization] == "Bearer " + Self.token(appKey) else {
            return Self.answer(
                .internalServerError,
                ["rt_cd": "1", "msg_cd": "EGW00121", "msg1": "유효하지 않은 token 입니다."]
            )
        }
        if self.strictness == .strict {
            var fields = body ?? [:]
            if body == nil { for (key, value) in request.uri.queryParameters { fields[String(key)] = String(value) } }
            if let violation = KISProtocol.violation(path: request.uri.path, headers: request.headers, fields: fields) {
                return Self.answer(
                    .internalServerError,
                    ["rt_cd": "1", "msg_cd": "OPSQ2002", "msg1": "필수항목 오류: \(violation)"]
                )
            }
        }
        return nil
    }

    /// Fills the account's resting limits that a bar closed since they were placed has reached.
    public func settle(_ book: inout Book, now: Int64) {
        let closed = min(self.minute(now) - 1, self.minutesInDay - 1)
        for index in book.orders.indices
        where !book.orders[index].cancelled && book.orders[index].filled < book.orders[index].quantity
            && book.orders[index].limit > 0
        {
            let order = book.orders[index]
            guard let stock = self.codes[order.stock], order.minute + 1 <= closed else { continue }
            for minute in (max(order.minute + 1, 0))...closed {
                let bar = self.bars[minute * self.stocks + stock]
                guard order.buy ? bar.low <= order.limit : bar.high >= order.limit else { continue }
                let quantity = order.quantity - order.filled
                if order.buy ? book.cash < quantity * order.limit : (book.holdings[order.stock] ?? 0) < quantity {
                    break
                }
                book.orders[index].filled += quantity
                book.orders[index].fillValue += quantity * order.limit
                book.cash += order.buy ? -quantity * order.limit : quantity * order.limit
                book.holdings[order.stock, default: 0] += order.buy ? quantity : -quantity
                break
            }
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/oauth2/tokenP") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
            guard let appKey = json["appkey"] as? String, !appKey.isEmpty else {
                return Self.answer(.forbidden, ["error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."])
            }
            let expires = self.clock() + 86_400_000_000
            return Self.answer(
                .ok,
                [
                    "access_token": Self.token(appKey), "token_type": "Bearer", "expires_in": 86_400,
                    "access_token_token_expired": ISOTime.kst(expires),
                ]
            )
        }
        router.get("/uapi/domestic-stock/v1/quotations/inquire-price") { request, _ -> Response in
            if let refused = self.gate(request) { return refused }
            self.state.withLock { $0.quoteRequests += 1 }
            let code = Self.query(request, "FID_INPUT_ISCD")
            guard let stock = self.codes[code] else {
                return Self.ok(["output": ["stck_prpr": "0", "stck_shrn_iscd": code]])
            }
            let now = self.clock()
            let base = self.previousClose[stock]
            let limits = KRXPriceRules.priceLimits(basePrice: base)
            let price = self.price(stock, now: now)
            return Self.ok { json in
                var output = JSONObjectWriter()
                output.field("stck_prpr", String(price))
                output.field("stck_sdpr", String(base))
                output.field("stck_mxpr", String(limits.upperBound))
                output.field("stck_llam", String(limits.lowerBound))
                output.field("stck_oprc", String(self.bars[stock].open))
                output.field("stck_hgpr", String(max(base, price)))
                output.field("stck_lwpr", String(min(base, price)))
                output.field("acml_vol", String(self.lastBar(stock, now: now)?.volume ?? 0))
                output.field("temp_stop_yn", "N")
                output.field("vi_cls_code", "N")
                output.field("stck_shrn_iscd", code)
                output.field("aspr_unit", String(KRXPriceRules.tickSize(at: price)))
                json.raw("output", output.finish())
            }
        }
        router.get("/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice") { request, _ -> Response in
            if let refused = self.gate(request) { return refused }
            self.state.withLock { $0.chartRequests += 1 }
            let code = Self.query(request, "FID_INPUT_ISCD")
            let hour = Self.query(request, "FID_INPUT_HOUR_1")
            guard let stock = self.codes[code] else { return Self.ok(["output1": [:], "output2": []]) }
            let now = self.clock()
            let asked = ((Int(hour.prefix(2)) ?? 0) * 60 + (Int(hour.dropFirst(2).prefix(2)) ?? 0)) - 9 * 60
            var minute = min(asked, self.minute(now) - 1, self.minutesInDay - 1)
            // Written straight into the answer's bytes: every stock is asked every collection (~100,000 pages in a
            // 2,700-stock day), and building the rows as strings cost the simulated broker more than the client's parse.
            let day = KST.yyyymmdd(day: KST.day(self.open))
            var body = ByteBuffer()
            body.reserveCapacity(30 * 200 + 200)
            body.writeStaticString("{\"output1\":{\"stck_prpr\":\"")
            body.writeString(String(self.price(stock, now: now)))
            body.writeStaticString("\"},\"output2\":[")
            func price(_ name: StaticString, _ value: Int64) {
                body.writeStaticString(name)
                body.writeString(String(value))
            }
            var rows = 0
            while minute >= 0, rows < 30 {
                let bar = self.bars[minute * self.stocks + stock]
                if rows > 0 { body.writeStaticString(",") }
                body.writeStaticString("{\"stck_bsop_date\":\"")
                body.writeString(day)
                body.writeStaticString("\",\"stck_cntg_hour\":\"")
                body.writeString(KST.hhmmss(self.open + Int64(minute) * KST.minuteMicros))
                price("\",\"stck_prpr\":\"", bar.close)
                price("\",\"stck_oprc\":\"", bar.open)
                price("\",\"stck_hgpr\":\"", bar.high)
                price("\",\"stck_lwpr\":\"", bar.low)
                price("\",\"cntg_vol\":\"", bar.volume)
                body.writeStaticString("\",\"acml_tr_pbmn\":\"0\"}")
                rows += 1
                minute -= 1
            }
            body.writeStaticString("],\"rt_cd\":\"0\",\"msg_cd\":\"MCA00000\",\"msg1\":\"")
            body.writeString("정상처리 되었습니다.")
            body.writeStaticString("\"}")
            return Self.answer(.ok, body: body)
        }
        router.post("/uapi/domestic-stock/v1/trading/order-cash") { request, _ -> Response in
            let trID = request.headers[HTTPField.Name("tr_id")!] ?? ""
            let body = try await request.body.collect(upTo: 1 << 16)
            let json =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: String] ?? [:]
            if let refused = self.gate(request, body: json) { return refused }
            return self.order(
                account: json["CANO"] ?? "",
                buy: trID.hasSuffix("12U") || trID.hasSuffix("02U"),
                json: json
            )
        }
        router.post("/uapi/domestic-stock/v1/trading/order-rvsecncl") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let json =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: String] ?? [:]
            if let refused = self.gate(request, body: json) { return refused }
            let now = self.clock()
            return self.state.withLock { state -> Response in
                guard var book = state.books[json["CANO"] ?? ""] else {
                    return Self.refusal("40330000", "모의투자 정정/취소할 수량이 없습니다.")
                }
                self.settle(&book, now: now)
                defer { state.books[json["CANO"] ?? ""] = book }
                guard let index = book.orders.firstIndex(where: { $0.number == json["ORGN_ODNO"] }),
                    !book.orders[index].cancelled,
                    book.orders[index].filled < book.orders[index].quantity
                else { return Self.refusal("40330000", "모의투자 정정/취소할 수량이 없습니다.") }
                book.orders[index].cancelled = true
                return Self.ok([
                    "output": [
                        "KRX_FWDG_ORD_ORGNO": "00950", "ODNO": book.orders[index].number,
                        "ORD_TMD": book.orders[index].time,
                    ]
                ])
            }
        }
        router.get("/uapi/domestic-stock/v1/trading/inquire-daily-ccld") { request, _ -> Response in
            if let refused = self.gate(request) { return refused }
            let account = Self.query(request, "CANO")
            let start = Int(Self.query(request, "CTX_AREA_NK100").trimmingCharacters(in: .whitespaces)) ?? 0
            let now = self.clock()
            return self.state.withLock { state -> Response in
                var book = state.books[account] ?? Book(cash: self.openingCash)
                self.settle(&book, now: now)
                state.books[account] = book
                let page = Array(book.orders.dropFirst(start).prefix(100))
                let more = start + page.count < book.orders.count
                let rows = page.map { order -> [String: String] in
                    [
                        "odno": order.number, "orgn_odno": "", "ord_gno_brno": "00950", "pdno": order.stock,
                        "sll_buy_dvsn_cd": order.buy ? "02" : "01",
                        "ord_qty": String(order.quantity), "ord_unpr": String(order.limit),
                        "tot_ccld_qty": String(order.filled),
                        "avg_prvs": order.filled > 0 ? String(order.fillValue / order.filled) : "0",
                        "rmn_qty": String(order.cancelled ? 0 : order.quantity - order.filled),
                        "cncl_yn": order.cancelled ? "Y" : "N", "rjct_qty": "0", "ord_tmd": order.time,
                    ]
                }
                let next =
                    more
                    ? String(start + page.count).padding(toLength: 100, withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: 100)
                return Self.ok(
                    ["output1": rows, "output2": ["tot_ord_qty": "0"], "ctx_area_fk100": "fk", "ctx_area_nk100": next],
                    more: more
                )
            }
        }
        router.get("/uapi/domestic-stock/v1/trading/inquire-balance") { request, _ -> Response in
            if let refused = self.gate(request) { return refused }
            let account = Self.query(request, "CANO")
            let now = self.clock()
            return self.state.withLock { state -> Response in
                var book = state.books[account] ?? Book(cash: self.openingCash)
                self.settle(&book, now: now)
                state.books[account] = book
                let rows = book.holdings.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map {
                    code,
                    quantity -> [String: String] in
                    [
                        "pdno": code, "hldg_qty": String(quantity), "ord_psbl_qty": String(quantity),
                        "pchs_avg_pric": "0",
                    ]
                }
                return Self.ok(
                    [
                        "output1": rows,
                        "output2": [["dnca_tot_amt": String(book.cash), "prvs_rcdl_excc_amt": String(book.cash)]],
                        "ctx_area_fk100": "", "ctx_area_nk100": "",
                    ],
                    more: false
                )
            }
        }
        return router
    }

    /// A cash order: checked against the session, the stock, the band and the book; filled at once when
    /// marketable, else resting.
    public func order(account: String, buy: Bool, json: [String: String]) -> Response {
        let now = self.clock()
        let code = json["PDNO"] ?? ""
        guard let stock = self.codes[code] else { return Self.refusal("APBK0656", "종목코드 오류입니다.") }
        guard let quantity = Int64(json["ORD_QTY"] ?? ""), quantity > 0 else {
            return Self.refusal("40300000", "주문 수량을 확인해주세요.")
        }
        let minute = self.minute(now)
        guard minute >= 0 else { return Self.refusal("40570000", "모의투자 장시작전 입니다.") }
        guard minute < self.minutesInDay else { return Self.refusal("40580000", "모의투자 장종료 입니다.") }
        let market = json["ORD_DVSN"] == "01"
        let price = self.price(stock, now: now)
        let limit = market ? 0 : (Int64(json["ORD_UNPR"] ?? "") ?? 0)
        if !market {
            guard limit % KRXPriceRules.tickSize(at: limit) == 0 else {
                return Self.refusal("40310000", "모의투자 주문처리가 안되었습니다(호가단위 오류)")
            }
            guard KRXPriceRules.priceLimits(basePrice: self.previousClose[stock]).contains(limit) else {
                return Self.refusal("40270000", "모의투자 상/하한가 오류")
            }
        }
        let time = KST.hhmmss(now)
        return self.state.withLock { state -> Response in
            var book = state.books[account] ?? Book(cash: self.openingCash)
            let cost = quantity * (market ? price : limit)
            if buy, cost > book.cash { return Self.refusal("40250000", "모의투자 주문가능금액이 부족합니다.") }
            if !buy, (book.holdings[code] ?? 0) < quantity { return Self.refusal("40240000", "모의투자 주문가능수량을 초과하였습니다.") }
            state.nextOrder += 1
            state.ordersTaken += 1
            var order = Order(
                number: String(format: "%010d", state.nextOrder),
                stock: code,
                buy: buy,
                quantity: quantity,
                limit: limit,
                minute: minute,
                time: time
            )
            if market || (buy ? limit >= price : limit <= price) {
                order.filled = quantity
                order.fillValue = quantity * price
                book.cash += buy ? -quantity * price : quantity * price
                book.holdings[code, default: 0] += buy ? quantity : -quantity
            }
            book.orders.append(order)
            state.books[account] = book
            return Self.ok(["output": ["KRX_FWDG_ORD_ORGNO": "00950", "ODNO": order.number, "ORD_TMD": time]])
        }
    }
}
