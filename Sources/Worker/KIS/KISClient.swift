public import AsyncHTTPClient
public import Engine
import Foundation
public import NIOCore
import NIOHTTP1

/// The KIS Open Trading REST client (kis-and-krx.md): token issue and caching, quotes, minute and daily bars,
/// cash orders, cancel, the day's orders and fills, balance — for the real and the paper environment.
///
/// * **Token**: issued by `POST /oauth2/tokenP`, kept until 10 minutes before it expires (~24 h), never
///   re-requested within a minute of the last request (KIS allows one a minute and answers `EGW00133`).
///   `tokenStore` persists it so a restarted worker does not ask again; `onTokenIssued` reports each new one.
/// * **Rate limit**: every call draws on the app key's `KISRateBudget` at the environment's rate (19/s real,
///   2/s paper) — shared through Redis by every process using the key (`RedisRateBudget`). An `EGW00201`
///   answer pauses the whole budget (1 s, then 2 s, then 4 s, with jitter) before the call is retried; an
///   expired token is re-issued once.
/// * **Errors** are `KISError` with a `Kind`: business refusals map to the operator guide's reasons.
public actor KISClient {
    public let environment: KISEnvironment
    public let baseURL: String
    private let credentials: KISCredentials
    private let http: HTTPClient
    private let clock: @Sendable () -> Int64
    private var token: KISToken?
    private var lastIssueRequest: Int64?
    private let budget: any KISRateBudget
    private let tokenStore: (any KISTokenStore)?
    private let onTokenIssued: (@Sendable (KISToken) async -> Void)?
    /// Told of every HTTP exchange and every KIS error answer (the worker's metrics).
    private let observer: (any KISObserver)?
    /// How long a request may take.
    public var timeout: TimeAmount = .seconds(10)
    /// Send a `hashkey` header (from `POST /uapi/hashkey`) with each order POST. KIS documents it as optional
    /// today; a deployment that requires it turns this on.
    public var useHashkey = false
    /// Requests a second this client allows itself (KIS's per-key limit: 19 real, 2 paper by default).
    public let requestsPerSecond: Double
    /// The first pause after an `EGW00201` (doubling for each further one in a row; three retries).
    public var rateLimitBackoff = 1.0
    public func setRateLimitBackoff(_ seconds: Double) { self.rateLimitBackoff = seconds }

    public func setUseHashkey(_ value: Bool) { self.useHashkey = value }

    public init(
        environment: KISEnvironment,
        credentials: KISCredentials,
        baseURL: String? = nil,
        http: HTTPClient = .shared,
        clock: @escaping @Sendable () -> Int64,
        tokenStore: (any KISTokenStore)? = nil,
        onTokenIssued: (@Sendable (KISToken) async -> Void)? = nil,
        requestsPerSecond: Double? = nil,
        rateBudget: (any KISRateBudget)? = nil,
        observer: (any KISObserver)? = nil
    ) {
        self.requestsPerSecond = requestsPerSecond ?? environment.requestsPerSecond
        self.budget = rateBudget ?? LocalRateBudget(rate: requestsPerSecond ?? environment.requestsPerSecond)
        self.environment = environment
        self.baseURL = baseURL ?? environment.defaultBaseURL
        self.credentials = credentials
        self.http = http
        self.clock = clock
        self.tokenStore = tokenStore
        self.onTokenIssued = onTokenIssued
        self.observer = observer
    }

    /// The token in use now (nil before the first call).
    public var currentToken: KISToken? { self.token }

    // MARK: Token

    /// A token valid for at least 10 more minutes: the cached or stored one, else a new one.
    public func validToken() async throws -> KISToken {
        let now = self.clock()
        if self.token == nil, let stored = try await self.tokenStore?.load() { self.token = stored }
        if let token = self.token, token.expiresAt - now > 600_000_000 { return token }
        if let last = self.lastIssueRequest, now - last < 60_000_000 {
            throw KISError(
                kind: .tokenIssueTooSoon,
                code: "EGW00133",
                message: "a token was requested \((now - last) / 1_000_000) s ago; KIS allows one a minute"
            )
        }
        self.lastIssueRequest = now
        let body = try JSONSerialization.data(withJSONObject: [
            "grant_type": "client_credentials", "appkey": self.credentials.appKey,
            "appsecret": self.credentials.appSecret,
        ])
        var request = HTTPClientRequest(url: self.baseURL + "/oauth2/tokenP")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: body))
        let (status, json, _) = try await self.send(request)
        guard status == 200, let access = json["access_token"] as? String, !access.isEmpty else {
            let code = json["error_code"] as? String ?? json["msg_cd"] as? String ?? ""
            let message =
                json["error_description"] as? String ?? json["msg1"] as? String
                ?? "token request answered HTTP \(status)"
            self.observer?.kisError(code: code)
            throw KISError(
                kind: KISError.classify(code: code, message: message),
                code: code,
                message: message,
                httpStatus: status
            )
        }
        let token = KISToken(accessToken: access, issuedAt: now, expiresAt: Self.tokenExpiry(json, now: now))
        self.token = token
        try await self.tokenStore?.save(token)
        await self.onTokenIssued?(token)
        return token
    }

    /// When a token from `/oauth2/tokenP` expires (µs). KIS re-serves the same token for six hours with its first
    /// expiry, so `access_token_token_expired` ("YYYY-MM-DD HH:MM:SS", KST) is read first; `expires_in` (seconds)
    /// when that is absent or not believable. Values a broker answer cannot mean — in the past, more than 90 days
    /// ahead, overflowing — are not used; without either, KIS's documented 24 hours.
    static func tokenExpiry(_ json: [String: Any], now: Int64) -> Int64 {
        let longest: Int64 = 90 * 86_400
        if let text = json["access_token_token_expired"] as? String, let expiry = Self.kstTime(text),
            expiry > now, (expiry - now) / 1_000_000 <= longest
        {
            return expiry
        }
        let seconds =
            Int64(json["expires_in"] as? String ?? "") ?? (json["expires_in"] as? NSNumber)?.int64Value ?? 86_400
        return now + ((1...longest).contains(seconds) ? seconds : 86_400) * 1_000_000
    }

    /// "YYYY-MM-DD HH:MM:SS" in KST as µs since the epoch, or nil.
    static func kstTime(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard text.utf8.count == 19, parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-")
        let time = parts[1].split(separator: ":").compactMap { Int64($0) }
        guard date.count == 3, time.count == 3, let day = KST.day(yyyymmdd: date.joined()),
            (0..<24).contains(time[0]), (0..<60).contains(time[1]), (0..<60).contains(time[2])
        else { return nil }
        return KST.instant(day: day, hour: time[0], minute: time[1]) + time[2] * 1_000_000
    }

    // MARK: Market data

    /// `inquire-price` (FHKST01010100).
    public func quote(_ code: String) async throws -> KISQuote {
        let json = try await self.get(
            "/uapi/domestic-stock/v1/quotations/inquire-price",
            trID: "FHKST01010100",
            query: [
                ("FID_COND_MRKT_DIV_CODE", "J"), ("FID_INPUT_ISCD", code),
            ]
        ).json
        guard let output = json["output"] as? [String: Any] else { throw Self.malformed("inquire-price has no output") }
        let price = Self.int(output["stck_prpr"])
        guard price > 0 else {
            throw KISError(kind: .rejected(.unknownStock), code: "", message: "KIS knows no stock \(code)")
        }
        return KISQuote(
            code: code,
            price: price,
            basePrice: Self.int(output["stck_sdpr"]),
            upperLimit: Self.int(output["stck_mxpr"]),
            lowerLimit: Self.int(output["stck_llam"]),
            open: Self.int(output["stck_oprc"]),
            high: Self.int(output["stck_hgpr"]),
            low: Self.int(output["stck_lwpr"]),
            volume: Self.int(output["acml_vol"]),
            halted: (output["temp_stop_yn"] as? String) == "Y",
            volatilityInterruption: (output["vi_cls_code"] as? String).flatMap { code in
                let code = code.trimmingCharacters(in: .whitespaces)
                return ["", "N", "0"].contains(code) ? nil : String(code.prefix(8))
            }
        )
    }

    /// Today's minute bars up to `until` (HHMMSS), oldest first: pages of 30 (newest first on the wire), walking
    /// back one minute before the oldest row until 09:00 or `since` (HHMMSS, inclusive).
    public func minuteBars(_ code: String, until: String, since: String = "090000") async throws -> [KISMinuteBar] {
        try await self.walkMinutes(
            path: "/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice",
            trID: "FHKST03010200",
            page: 30,
            until: until,
            since: since
        ) { cursor in
            [
                ("FID_ETC_CLS_CODE", ""), ("FID_COND_MRKT_DIV_CODE", "J"), ("FID_INPUT_ISCD", code),
                ("FID_INPUT_HOUR_1", cursor), ("FID_PW_DATA_INCU_YN", "N"),
            ]
        }
    }

    /// A past day's (YYYYMMDD) minute bars up to `until` (HHMMSS), oldest first: `inquire-time-dailychartprice`
    /// (FHKST03010230), pages of 120 walking back as `minuteBars` does. KIS offers it on the real host only and
    /// keeps about a year: an older day has no rows. Refused here on a paper client (`.failed`).
    public func pastMinuteBars(_ code: String, day: String, until: String = "153000") async throws -> [KISMinuteBar] {
        guard self.environment == .real else {
            throw KISError(
                kind: .failed,
                code: "",
                message: "past days' minute bars (FHKST03010230) are offered on KIS's real host only"
            )
        }
        return try await self.walkMinutes(
            path: "/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice",
            trID: "FHKST03010230",
            page: 120,
            until: until,
            since: "090000"
        ) { cursor in
            [
                ("FID_COND_MRKT_DIV_CODE", "J"), ("FID_INPUT_ISCD", code), ("FID_INPUT_DATE_1", day),
                ("FID_INPUT_HOUR_1", cursor), ("FID_PW_DATA_INCU_YN", "N"), ("FID_FAKE_TICK_INCU_YN", ""),
            ]
        }.filter { $0.date == day }  // only the day asked (a holiday may answer with the last trading day)
    }

    /// Minute pages newest first, walked back one minute before each page's oldest row until `since` or a short
    /// page; rows keyed by time (a repeated row counts once), oldest first.
    private func walkMinutes(
        path: String,
        trID: String,
        page: Int,
        until: String,
        since: String,
        query: (String) -> [(String, String)]
    ) async throws -> [KISMinuteBar] {
        var bars: [String: KISMinuteBar] = [:]
        var cursor = until
        while cursor >= since {
            let json = try await self.get(path, trID: trID, query: query(cursor)).json
            let rows = json["output2"] as? [[String: Any]] ?? []
            var oldest: String?
            for row in rows {
                let time = row["stck_cntg_hour"] as? String ?? ""
                guard time.count == 6, time >= since, time <= until else { continue }
                bars[time] = KISMinuteBar(
                    date: row["stck_bsop_date"] as? String ?? "",
                    time: time,
                    open: Self.int(row["stck_oprc"]),
                    high: Self.int(row["stck_hgpr"]),
                    low: Self.int(row["stck_lwpr"]),
                    close: Self.int(row["stck_prpr"]),
                    volume: Self.int(row["cntg_vol"])
                )
                oldest = min(oldest ?? time, time)
            }
            guard let oldest, rows.count >= page else { break }
            guard let previous = Self.minuteBefore(oldest) else { break }
            cursor = previous
        }
        return bars.values.sorted { $0.time < $1.time }
    }

    /// Daily bars between two days (YYYYMMDD), oldest first: pages of 100 (newest first), moving the end date back.
    public func dailyBars(_ code: String, from: String, to: String, adjusted: Bool = true) async throws -> [KISDailyBar]
    {
        var bars: [String: KISDailyBar] = [:]
        var end = to
        while end >= from {
            let json = try await self.get(
                "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice",
                trID: "FHKST03010100",
                query: [
                    ("FID_COND_MRKT_DIV_CODE", "J"), ("FID_INPUT_ISCD", code), ("FID_INPUT_DATE_1", from),
                    ("FID_INPUT_DATE_2", end),
                    ("FID_PERIOD_DIV_CODE", "D"), ("FID_ORG_ADJ_PRC", adjusted ? "0" : "1"),
                ]
            ).json
            let rows = (json["output2"] as? [[String: Any]] ?? []).filter {
                !(($0["stck_bsop_date"] as? String) ?? "").isEmpty
            }
            for row in rows {
                let date = row["stck_bsop_date"] as? String ?? ""
                bars[date] = KISDailyBar(
                    date: date,
                    open: Self.int(row["stck_oprc"]),
                    high: Self.int(row["stck_hgpr"]),
                    low: Self.int(row["stck_lwpr"]),
                    close: Self.int(row["stck_clpr"]),
                    volume: Self.int(row["acml_vol"])
                )
            }
            guard rows.count >= 100, let oldest = rows.compactMap({ $0["stck_bsop_date"] as? String }).min(),
                let day = KST.day(yyyymmdd: oldest)
            else { break }
            end = KST.yyyymmdd(day: day - 1)
        }
        return bars.values.filter { $0.date >= from && $0.date <= to }.sorted { $0.date < $1.date }
    }

    // MARK: Trading

    /// `order-cash`: a limit (`00`) or market (`01`) order. Market orders send price 0. `beforeSend` runs right
    /// before each attempt's request leaves (see `TradeExecutionHandler`'s send fence); throwing stops it unsent.
    public func placeOrder(
        side: OrderSide,
        stock: String,
        type: OrderType,
        quantity: Int64,
        price: Int64,
        beforeSend: (@Sendable () async throws -> Void)? = nil
    ) async throws -> KISOrderAck {
        let body = [
            "CANO": self.credentials.accountNumber, "ACNT_PRDT_CD": self.credentials.productCode, "PDNO": stock,
            "ORD_DVSN": type == .market ? "01" : "00", "ORD_QTY": String(quantity),
            "ORD_UNPR": type == .market ? "0" : String(price),
            "EXCG_ID_DVSN_CD": "KRX",
        ]
        let trID = self.environment.trID(side == .buy ? "TTTC0012U" : "TTTC0011U")
        return try Self.ack(
            try await self.post(
                "/uapi/domestic-stock/v1/trading/order-cash",
                trID: trID,
                body: body,
                beforeSend: beforeSend
            )
        )
    }

    /// `order-rvsecncl` with `RVSE_CNCL_DVSN_CD 01`: a new limit price for all that remains (KIS answers with a
    /// new ODNO whose `orgn_odno` is this one).
    public func reviseOrder(organization: String, orderNumber: String, price: Int64) async throws -> KISOrderAck {
        let body = [
            "CANO": self.credentials.accountNumber, "ACNT_PRDT_CD": self.credentials.productCode,
            "KRX_FWDG_ORD_ORGNO": organization,
            "ORGN_ODNO": orderNumber, "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "01", "ORD_QTY": "0",
            "ORD_UNPR": String(price), "QTY_ALL_ORD_YN": "Y",
            "EXCG_ID_DVSN_CD": "KRX",
        ]
        return try Self.ack(
            try await self.post(
                "/uapi/domestic-stock/v1/trading/order-rvsecncl",
                trID: self.environment.trID("TTTC0013U"),
                body: body
            )
        )
    }

    /// `order-rvsecncl` with `RVSE_CNCL_DVSN_CD 02`: cancels all that remains of an order.
    public func cancelOrder(organization: String, orderNumber: String) async throws -> KISOrderAck {
        let body = [
            "CANO": self.credentials.accountNumber, "ACNT_PRDT_CD": self.credentials.productCode,
            "KRX_FWDG_ORD_ORGNO": organization,
            "ORGN_ODNO": orderNumber, "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0",
            "QTY_ALL_ORD_YN": "Y",
            "EXCG_ID_DVSN_CD": "KRX",
        ]
        return try Self.ack(
            try await self.post(
                "/uapi/domestic-stock/v1/trading/order-rvsecncl",
                trID: self.environment.trID("TTTC0013U"),
                body: body
            )
        )
    }

    /// `inquire-daily-ccld` for one day (YYYYMMDD): every order of the day with its fills, all pages.
    public func dailyOrders(day: String) async throws -> [KISDailyOrder] {
        var orders: [KISDailyOrder] = []
        var context = (fk: "", nk: "")
        var continuation: String?
        for _ in 0..<200 {
            let (json, headers) = try await self.get(
                "/uapi/domestic-stock/v1/trading/inquire-daily-ccld",
                trID: self.environment.trID("TTTC0081R"),
                query: [
                    ("CANO", self.credentials.accountNumber), ("ACNT_PRDT_CD", self.credentials.productCode),
                    ("INQR_STRT_DT", day), ("INQR_END_DT", day),
                    ("SLL_BUY_DVSN_CD", "00"), ("INQR_DVSN", "01"), ("PDNO", ""), ("CCLD_DVSN", "00"),
                    ("ORD_GNO_BRNO", ""), ("ODNO", ""),
                    ("INQR_DVSN_3", "00"), ("INQR_DVSN_1", ""), ("EXCG_ID_DVSN_CD", "KRX"),
                    ("CTX_AREA_FK100", context.fk), ("CTX_AREA_NK100", context.nk),
                ],
                continuation: continuation
            )
            for row in json["output1"] as? [[String: Any]] ?? [] {
                guard let number = row["odno"] as? String, !number.isEmpty else { continue }
                orders.append(
                    KISDailyOrder(
                        orderNumber: number,
                        originalOrderNumber: row["orgn_odno"] as? String ?? "",
                        organization: row["ord_gno_brno"] as? String ?? "",
                        stock: row["pdno"] as? String ?? "",
                        sideCode: row["sll_buy_dvsn_cd"] as? String ?? "",
                        quantity: Self.int(row["ord_qty"]),
                        price: Self.int(row["ord_unpr"]),
                        filledQuantity: Self.int(row["tot_ccld_qty"]),
                        averagePrice: Self.int(row["avg_prvs"]),
                        remainingQuantity: Self.int(row["rmn_qty"]),
                        cancelled: (row["cncl_yn"] as? String) == "Y",
                        rejectedQuantity: Self.int(row["rjct_qty"]),
                        time: row["ord_tmd"] as? String ?? ""
                    )
                )
            }
            let more = headers.first(name: "tr_cont").map { $0 == "F" || $0 == "M" } ?? false
            let nk = (json["ctx_area_nk100"] as? String) ?? ""
            guard more, !nk.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            context = ((json["ctx_area_fk100"] as? String) ?? "", nk)
            continuation = "N"
        }
        return orders
    }

    /// `inquire-balance`: holdings and cash, all pages.
    public func balance() async throws -> KISBalance {
        var holdings: [KISBalance.Holding] = []
        var cash: Int64 = 0
        var context = (fk: "", nk: "")
        var continuation: String?
        for _ in 0..<100 {
            let (json, headers) = try await self.get(
                "/uapi/domestic-stock/v1/trading/inquire-balance",
                trID: self.environment.trID("TTTC8434R"),
                query: [
                    ("CANO", self.credentials.accountNumber), ("ACNT_PRDT_CD", self.credentials.productCode),
                    ("AFHR_FLPR_YN", "N"), ("OFL_YN", ""),
                    ("INQR_DVSN", "02"), ("UNPR_DVSN", "01"), ("FUND_STTL_ICLD_YN", "N"),
                    ("FNCG_AMT_AUTO_RDPT_YN", "N"), ("PRCS_DVSN", "00"),
                    ("CTX_AREA_FK100", context.fk), ("CTX_AREA_NK100", context.nk),
                ],
                continuation: continuation
            )
            for row in json["output1"] as? [[String: Any]] ?? [] {
                holdings.append(
                    KISBalance.Holding(
                        stock: row["pdno"] as? String ?? "",
                        quantity: Self.int(row["hldg_qty"]),
                        sellable: Self.int(row["ord_psbl_qty"]),
                        averagePrice: Double(row["pchs_avg_pric"] as? String ?? "") ?? 0
                    )
                )
            }
            // Settled cash (D+2) is what the engine's cash becomes once today's trades settle; the deposit otherwise.
            if let summary = (json["output2"] as? [[String: Any]])?.first {
                cash =
                    (summary["prvs_rcdl_excc_amt"] as? String).map { _ in Self.int(summary["prvs_rcdl_excc_amt"]) }
                    ?? Self.int(summary["dnca_tot_amt"])
            }
            let more = headers.first(name: "tr_cont").map { $0 == "F" || $0 == "M" } ?? false
            let nk = (json["ctx_area_nk100"] as? String) ?? ""
            guard more, !nk.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            context = ((json["ctx_area_fk100"] as? String) ?? "", nk)
            continuation = "N"
        }
        return KISBalance(holdings: holdings, cash: cash)
    }

    // MARK: Transport

    private func get(_ path: String, trID: String, query: [(String, String)], continuation: String? = nil) async throws
        -> (json: [String: Any], headers: HTTPHeaders)
    {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        let encoded = components.percentEncodedQuery ?? ""
        return try await self.authorized(
            path + (encoded.isEmpty ? "" : "?" + encoded),
            method: .GET,
            trID: trID,
            body: nil,
            continuation: continuation
        )
    }

    private func post(
        _ path: String,
        trID: String,
        body: [String: String],
        beforeSend: (@Sendable () async throws -> Void)? = nil
    ) async throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let hash = self.useHashkey ? try await self.hashkey(data) : nil
        return try await self.authorized(
            path,
            method: .POST,
            trID: trID,
            body: data,
            continuation: nil,
            hashkey: hash,
            beforeSend: beforeSend
        ).json
    }

    /// `POST /uapi/hashkey`: the `HASH` of exactly the body about to be sent.
    func hashkey(_ body: Data) async throws -> String {
        await self.takeRateToken()
        var request = HTTPClientRequest(url: self.baseURL + "/uapi/hashkey")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json; charset=utf-8")
        request.headers.add(name: "appkey", value: self.credentials.appKey)
        request.headers.add(name: "appsecret", value: self.credentials.appSecret)
        request.body = .bytes(ByteBuffer(bytes: body))
        let (status, json, _) = try await self.send(request)
        guard status == 200, let hash = json["HASH"] as? String, !hash.isEmpty else {
            throw KISError(
                kind: .transport,
                code: json["msg_cd"] as? String ?? "",
                message: "hashkey answered HTTP \(status) without a HASH",
                httpStatus: status
            )
        }
        return hash
    }

    /// One authorized call: waits for the rate limit, retries `EGW00201` (up to 3 times, 0.2 s apart) and an
    /// expired token (once, after re-issue). Any `rt_cd` other than "0" is a `KISError`.
    private func authorized(
        _ pathAndQuery: String,
        method: HTTPMethod,
        trID: String,
        body: Data?,
        continuation: String?,
        hashkey: String? = nil,
        beforeSend: (@Sendable () async throws -> Void)? = nil
    ) async throws -> (json: [String: Any], headers: HTTPHeaders) {
        var rateRetries = 0
        var tokenRetried = false
        while true {
            await self.takeRateToken()
            let token = try await self.validToken()
            var request = HTTPClientRequest(url: self.baseURL + pathAndQuery)
            request.method = method
            request.headers.add(name: "content-type", value: "application/json; charset=utf-8")
            request.headers.add(name: "authorization", value: "Bearer \(token.accessToken)")
            request.headers.add(name: "appkey", value: self.credentials.appKey)
            request.headers.add(name: "appsecret", value: self.credentials.appSecret)
            request.headers.add(name: "tr_id", value: trID)
            request.headers.add(name: "custtype", value: "P")
            if let continuation { request.headers.add(name: "tr_cont", value: continuation) }
            if let hashkey { request.headers.add(name: "hashkey", value: hashkey) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            // The last word before the request leaves (after waiting for the budget, a token, a back-off): an order's
            // sender re-marks its send here, or stops if another worker took the order over meanwhile.
            try await beforeSend?()
            let (status, json, headers) = try await self.send(request)
            let resultCode = json["rt_cd"] as? String
            if status == 200, resultCode == "0" { return (json, headers) }
            let code = json["msg_cd"] as? String ?? json["error_code"] as? String ?? ""
            let message =
                (json["msg1"] as? String ?? json["error_description"] as? String
                ?? "HTTP \(status) without a KIS answer").trimmingCharacters(in: .whitespaces)
            let error = KISError(
                kind: resultCode == nil && code.isEmpty ? .transport : KISError.classify(code: code, message: message),
                code: code,
                message: message,
                httpStatus: status
            )
            self.observer?.kisError(code: code)
            switch error.kind {
            case .rateLimited where rateRetries < 3:
                // Something else spent the key's allowance (another process on the key, KIS's own count): the
                // whole budget waits, longer each time, with jitter so that waiting processes do not return
                // together.
                rateRetries += 1
                let pause = self.rateLimitBackoff * Double(1 << (rateRetries - 1)) * Double.random(in: 1...1.25)
                await self.budget.pause(seconds: pause)
            case .tokenExpired where !tokenRetried, .invalidToken where !tokenRetried:
                tokenRetried = true
                self.token = nil
                self.lastIssueRequest = nil  // the old token is dead: asking for a new one now is not "too soon"
                try? await self.tokenStore?.clear()
            default:
                throw error
            }
        }
    }

    private func send(_ request: HTTPClientRequest) async throws -> (Int, [String: Any], HTTPHeaders) {
        let started = ContinuousClock.now
        var status: Int?
        defer {
            let path = request.url.dropFirst(self.baseURL.count).prefix { $0 != "?" }
            self.observer?.kisRequest(path: String(path), status: status, duration: ContinuousClock.now - started)
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await self.http.execute(request, timeout: self.timeout)
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 8 << 20)
        } catch {
            self.observer?.kisError(code: "")
            throw KISError(
                kind: .transport,
                code: "",
                message: "\(request.method) \(request.url.split(separator: "?").first ?? ""): \(error)"
            )
        }
        let json = bytes.withUnsafeReadableBytes { try? KISJSON.parse($0) } as? [String: Any]
        guard let json else {
            self.observer?.kisError(code: "")
            throw KISError(
                kind: .transport,
                code: "",
                message: "HTTP \(response.status.code) with a body that is not JSON",
                httpStatus: Int(response.status.code)
            )
        }
        return (Int(response.status.code), json, response.headers)
    }

    private func takeRateToken() async { await self.budget.take() }

    /// The `output` of an order, revise or cancel answer. KIS's samples show its keys in capitals (`ODNO`) and in
    /// lower case (`odno`): either is read.
    static func ack(_ json: [String: Any]) throws -> KISOrderAck {
        guard let output = json["output"] as? [String: Any] else {
            throw Self.malformed("the order answer has no output")
        }
        func field(_ name: String) -> String? {
            (output[name] ?? output[name.lowercased()]) as? String
        }
        guard let number = field("ODNO"), !number.isEmpty else { throw Self.malformed("the order answer has no ODNO") }
        return KISOrderAck(
            organization: field("KRX_FWDG_ORD_ORGNO") ?? "",
            orderNumber: number,
            time: field("ORD_TMD") ?? ""
        )
    }

    static func int(_ value: Any?) -> Int64 {
        guard let text = value as? String else { return (value as? NSNumber)?.int64Value ?? 0 }
        if let plain = Int64(text) { return plain }  // the usual case, without Foundation's trimming (a hot path)
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // `Int64(_: Double)` traps on NaN and beyond Int64's range ("1e30" from a broker would stop the worker).
        return Int64(trimmed) ?? Double(trimmed).flatMap { Int64(exactly: $0.rounded(.towardZero)) } ?? 0
    }

    static func malformed(_ message: String) -> KISError { KISError(kind: .transport, code: "", message: message) }

    /// `HHMMSS` one minute earlier, nil before 00:01.
    static func minuteBefore(_ time: String) -> String? {
        guard time.count == 6, let hours = Int(time.prefix(2)), let minutes = Int(time.dropFirst(2).prefix(2)) else {
            return nil
        }
        let total = hours * 60 + minutes - 1
        guard total >= 0 else { return nil }
        return String(format: "%02d%02d00", total / 60, total % 60)
    }
}

/// Where a token survives a restart (it is a secret: a store must seal it).
public protocol KISTokenStore: Sendable {
    func load() async throws -> KISToken?
    func save(_ token: KISToken) async throws
    func clear() async throws
}
