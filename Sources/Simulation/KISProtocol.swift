import Foundation
public import HTTPTypes

/// The documented shape of each KIS Open API request the worker makes (headers, query or body fields, paging),
/// checked by the KIS fakes: the strict fake of the tests refuses a request that is off the protocol with the
/// answer KIS gives a malformed request, so a client that drops a header or a field fails its tests; the
/// simulated broker of the benchmarks checks nothing (lenient), so it measures StockBoom, not the checks.
public enum KISProtocol {
    /// How much of the protocol a fake checks.
    public enum Strictness: Sendable {
        /// Every required header and field; `tr_cont: N` exactly on continuation pages; paper is KRX only.
        case strict
        /// Nothing beyond what the fake needs to answer.
        case lenient
    }

    /// The fields an endpoint requires (present; empty allowed where KIS sends blank), by path.
    static let required: [String: [String]] = [
        "/uapi/domestic-stock/v1/quotations/inquire-price": ["FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD"],
        "/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice": [
            "FID_ETC_CLS_CODE", "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_HOUR_1", "FID_PW_DATA_INCU_YN",
        ],
        "/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice": [
            "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_DATE_1", "FID_INPUT_HOUR_1", "FID_PW_DATA_INCU_YN",
            "FID_FAKE_TICK_INCU_YN",
        ],
        "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice": [
            "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_DATE_1", "FID_INPUT_DATE_2", "FID_PERIOD_DIV_CODE",
            "FID_ORG_ADJ_PRC",
        ],
        "/uapi/domestic-stock/v1/trading/order-cash": [
            "CANO", "ACNT_PRDT_CD", "PDNO", "ORD_DVSN", "ORD_QTY", "ORD_UNPR",
        ],
        "/uapi/domestic-stock/v1/trading/order-rvsecncl": [
            "CANO", "ACNT_PRDT_CD", "KRX_FWDG_ORD_ORGNO", "ORGN_ODNO", "ORD_DVSN", "RVSE_CNCL_DVSN_CD", "ORD_QTY",
            "ORD_UNPR", "QTY_ALL_ORD_YN",
        ],
        "/uapi/domestic-stock/v1/trading/inquire-daily-ccld": [
            "CANO", "ACNT_PRDT_CD", "INQR_STRT_DT", "INQR_END_DT", "SLL_BUY_DVSN_CD", "INQR_DVSN", "PDNO", "CCLD_DVSN",
            "ORD_GNO_BRNO", "ODNO", "INQR_DVSN_3", "INQR_DVSN_1", "CTX_AREA_FK100", "CTX_AREA_NK100",
        ],
        "/uapi/domestic-stock/v1/trading/inquire-balance": [
            "CANO", "ACNT_PRDT_CD", "AFHR_FLPR_YN", "OFL_YN", "INQR_DVSN", "UNPR_DVSN", "FUND_STTL_ICLD_YN",
            "FNCG_AMT_AUTO_RDPT_YN", "PRCS_DVSN", "CTX_AREA_FK100", "CTX_AREA_NK100",
        ],
    ]

    /// Endpoints KIS offers on the real host only ("모의투자 미지원").
    public static let realOnly: Set<String> = ["/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice"]

    /// Endpoints paged with `tr_cont` and the `CTX_AREA_*` keys (chart TRs move a cursor instead).
    static let paged: Set<String> = [
        "/uapi/domestic-stock/v1/trading/inquire-daily-ccld", "/uapi/domestic-stock/v1/trading/inquire-balance",
    ]

    /// What is wrong with a `/uapi` request, or nil when it follows the protocol.
    /// - Parameters:
    ///   - fields: the query parameters of a GET or the JSON body of a POST (keys as sent).
    ///   - paper: the paper host, which trades on KRX only (`EXCG_ID_DVSN_CD`).
    public static func violation(
        path: String,
        headers: HTTPFields,
        fields: [String: String],
        paper: Bool = true
    ) -> String? {
        for name in ["content-type", "authorization", "appkey", "appsecret", "tr_id", "custtype"] {
            guard let value = headers[HTTPField.Name(name)!], !value.isEmpty else { return "header \(name) is missing" }
        }
        if let type = headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            return "content-type must be application/json, not \(type)"
        }
        if let customer = headers[HTTPField.Name("custtype")!], customer != "P" && customer != "B" {
            return "custtype must be P or B, not \(customer)"
        }
        var upper: [String: String] = [:]
        for (key, value) in fields { upper[key.uppercased()] = value }
        for field in Self.required[path] ?? [] where upper[field] == nil {
            return "field \(field) is missing"
        }
        if let venue = upper["EXCG_ID_DVSN_CD"], !venue.isEmpty {
            guard ["KRX", "NXT", "SOR", "ALL"].contains(venue) else { return "EXCG_ID_DVSN_CD \(venue) is unknown" }
            if paper, venue != "KRX" && venue != "ALL" { return "paper trading is KRX only, not \(venue)" }
        }
        if Self.paged.contains(path) {
            let continuation = headers[HTTPField.Name("tr_cont")!] ?? ""
            let later = !(upper["CTX_AREA_NK100"] ?? "").trimmingCharacters(in: .whitespaces).isEmpty
            if later, continuation != "N" { return "a later page needs tr_cont: N (got '\(continuation)')" }
            if !later, !continuation.isEmpty { return "the first page has no tr_cont (got '\(continuation)')" }
        }
        return nil
    }
}
