import Engine
import Foundation
import Runtime

/// `/orders/{id}`: the order's whole lifecycle as a person reads it — each event from the log with its offset,
/// its segment and frame hash, whether the next frame links to it, and the verification of the chain
/// (`GatewayAPI.audit`, the same check as `GET /api/orders/{id}/audit`).
struct OrderPageView {
    struct EventView {
        var offset: UInt64
        var label, type, time, segment, frameHash, shortHash, chained, payload: String
    }

    var lang, otherLanguage, title, csrf: String
    var t: [String: String]
    var email: String?
    var order: DashboardView.OrderView
    var source, commission, tax: String
    var brokerNumber: String?
    var verified: Bool
    var framesChecked: Int
    var problems: [String]
    var method: String
    var events: [EventView]

    init(order: Order, audit: AuditBody, email: String, csrf: String, words: Words, services: GatewayServices) {
        self.lang = words.language.rawValue
        self.otherLanguage = words.language.other.rawValue
        self.title = "\(words["order"]) \(order.id)"
        self.csrf = csrf
        self.t = words.table
        self.email = email
        self.order = Dashboard.orderView(order, state: services.runtime.state, words: words, timeline: "")
        self.source = order.source.description
        self.commission = words.won(order.commission)
        self.tax = words.won(order.tax)
        self.brokerNumber = order.brokerOrderNumber.isEmpty ? nil : order.brokerOrderNumber
        self.verified = audit.verification.ok
        self.framesChecked = audit.verification.framesChecked
        self.problems = audit.verification.problems
        self.method = audit.verification.method
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        self.events = audit.events.map { event in
            EventView(
                offset: event.offset,
                label: Self.label(event.type, words),
                type: event.type,
                time: ISOTime.parse(event.timestamp).map { Dashboard.kstDayTime($0) + ":" + KST.hhmmss($0).suffix(2) }
                    ?? event.timestamp,
                segment: event.segment ?? "—",
                frameHash: event.frameHash ?? "",
                shortHash: String((event.frameHash ?? "—").prefix(16)),
                chained: event.linkedByNext.map { $0 ? "✓" : "✗" } ?? "—",
                payload: (try? encoder.encode(event.payload)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            )
        }
    }

    /// An order event in words.
    static func label(_ type: String, _ words: Words) -> String {
        let names: [String: (String, String)] = [
            "OrderRequested": ("주문 요청", "Requested"), "OrderRejected": ("주문 거부", "Rejected"),
            "OrderSubmitted": ("증권사 전송", "Sent to the broker"), "OrderAccepted": ("증권사 접수", "Accepted by the broker"),
            "OrderPartiallyFilled": ("부분 체결", "Partly filled"), "OrderFilled": ("체결 완료", "Filled"),
            "OrderCancelRequested": ("취소 요청", "Cancel requested"), "OrderCancelled": ("취소됨", "Cancelled"),
            "OrderFailed": ("실패", "Failed"), "OrderExpired": ("만료", "Expired"),
            "AnomalyRecorded": ("이상 기록", "Anomaly recorded"),
        ]
        guard let name = names[type] else { return type }
        return words.language == .korean ? name.0 : name.1
    }
}
