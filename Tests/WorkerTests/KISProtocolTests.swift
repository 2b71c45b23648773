import HTTPTypes
import Simulation
import Testing

/// The strict fake's protocol rules, one by one: each would let a broken client pass if it were missing.
@Suite struct KISProtocolTests {
    static let ccld = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
    static let orderCash = "/uapi/domestic-stock/v1/trading/order-cash"

    static func headers(dropping: String? = nil, trCont: String? = nil, custtype: String = "P") -> HTTPFields {
        var fields = HTTPFields()
        let all: [(String, String)] = [
            ("content-type", "application/json; charset=utf-8"), ("authorization", "Bearer t"), ("appkey", "k"),
            ("appsecret", "s"), ("tr_id", "VTTC0081R"), ("custtype", custtype),
        ]
        for (name, value) in all where name != dropping { fields[HTTPField.Name(name)!] = value }
        if let trCont { fields[HTTPField.Name("tr_cont")!] = trCont }
        return fields
    }

    static let ccldFields: [String: String] = [
        "CANO": "50000001", "ACNT_PRDT_CD": "01", "INQR_STRT_DT": "20250106", "INQR_END_DT": "20250106",
        "SLL_BUY_DVSN_CD": "00", "INQR_DVSN": "01", "PDNO": "", "CCLD_DVSN": "00", "ORD_GNO_BRNO": "", "ODNO": "",
        "INQR_DVSN_3": "00", "INQR_DVSN_1": "", "EXCG_ID_DVSN_CD": "KRX", "CTX_AREA_FK100": "", "CTX_AREA_NK100": "",
    ]

    @Test func aWellFormedFirstPagePasses() {
        #expect(KISProtocol.violation(path: Self.ccld, headers: Self.headers(), fields: Self.ccldFields) == nil)
    }

    @Test(arguments: ["content-type", "authorization", "appkey", "appsecret", "tr_id", "custtype"])
    func everyRequiredHeaderIsRequired(header: String) {
        let violation = KISProtocol.violation(
            path: Self.ccld,
            headers: Self.headers(dropping: header),
            fields: Self.ccldFields
        )
        #expect(violation == "header \(header) is missing")
    }

    @Test func custtypeIsPersonOrBusiness() {
        #expect(
            KISProtocol.violation(path: Self.ccld, headers: Self.headers(custtype: "X"), fields: Self.ccldFields) != nil
        )
        #expect(
            KISProtocol.violation(path: Self.ccld, headers: Self.headers(custtype: "B"), fields: Self.ccldFields) == nil
        )
    }

    @Test func laterPagesNeedTrContNAndTheFirstNone() {
        var later = Self.ccldFields
        later["CTX_AREA_NK100"] = "15" + String(repeating: " ", count: 98)
        #expect(KISProtocol.violation(path: Self.ccld, headers: Self.headers(), fields: later) != nil)
        #expect(KISProtocol.violation(path: Self.ccld, headers: Self.headers(trCont: "N"), fields: later) == nil)
        #expect(
            KISProtocol.violation(path: Self.ccld, headers: Self.headers(trCont: "N"), fields: Self.ccldFields) != nil
        )
    }

    @Test func missingFieldsAreNamedAndKeysMatchInAnyCase() {
        var fields = Self.ccldFields
        fields["INQR_DVSN_3"] = nil
        #expect(
            KISProtocol.violation(path: Self.ccld, headers: Self.headers(), fields: fields)
                == "field INQR_DVSN_3 is missing"
        )
        let lower = Dictionary(uniqueKeysWithValues: Self.ccldFields.map { ($0.key.lowercased(), $0.value) })
        #expect(KISProtocol.violation(path: Self.ccld, headers: Self.headers(), fields: lower) == nil)
    }

    @Test func paperTradesOnKRXOnly() {
        let order = [
            "CANO": "50000001", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "00", "ORD_QTY": "1",
            "ORD_UNPR": "55000", "EXCG_ID_DVSN_CD": "NXT",
        ]
        #expect(KISProtocol.violation(path: Self.orderCash, headers: Self.headers(), fields: order) != nil)
        #expect(
            KISProtocol.violation(path: Self.orderCash, headers: Self.headers(), fields: order, paper: false) == nil
        )
        var krx = order
        krx["EXCG_ID_DVSN_CD"] = "KRX"
        #expect(KISProtocol.violation(path: Self.orderCash, headers: Self.headers(), fields: krx) == nil)
    }
}
