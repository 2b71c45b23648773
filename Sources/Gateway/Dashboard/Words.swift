import Engine
import Foundation
import Hummingbird

/// The pages' language: Korean first, English on request (`?lang=en`, remembered in the `sb_lang` cookie).
enum Language: String, Sendable {
    case korean = "ko"
    case english = "en"

    /// `?lang=` when given (and valid), else the `sb_lang` cookie, else Korean.
    static func of(_ request: Request) -> Language {
        request.uri.queryParameters.get("lang").flatMap(Language.init(rawValue:))
            ?? AuthMiddleware.cookie(request, "sb_lang").flatMap(Language.init(rawValue:)) ?? .korean
    }

    /// The cookie that remembers an explicit choice (`?lang=`), or nil.
    static func cookie(_ request: Request) -> String? {
        guard let chosen = request.uri.queryParameters.get("lang").flatMap(Language.init(rawValue:)) else { return nil }
        return "sb_lang=\(chosen.rawValue); Path=/; SameSite=Strict; Max-Age=31536000"
    }

    var other: Language { self == .korean ? .english : .korean }
}

/// Every label of the pages in both languages: `words.table` is what the templates read as `{{t.key}}`.
struct Words: Sendable {
    let language: Language

    private static let entries: [(key: String, ko: String, en: String)] = [
        ("signIn", "로그인", "Sign in"), ("signOut", "로그아웃", "Sign out"), ("email", "이메일", "E-mail"),
        ("password", "비밀번호", "Password"),
        ("wrongPassword", "이메일 또는 비밀번호가 올바르지 않습니다.", "The e-mail address or the password is wrong."),
        ("noAccountYet", "계정이 없으신가요?", "No account yet?"), ("docs", "API 문서", "API docs"),
        ("otherLanguage", "English", "한국어"), ("portfolio", "포트폴리오", "Portfolio"),
        ("noAccounts", "등록된 증권 계좌가 없습니다", "No broker accounts yet"), ("cash", "예수금", "Cash"),
        ("reserved", "주문 중", "Reserved"), ("marketValue", "평가금액", "Market value"), ("equity", "총자산", "Equity"),
        ("profit", "손익", "P&L"), ("stock", "종목", "Stock"), ("quantity", "수량", "Qty"), ("average", "평균단가", "Avg"),
        ("last", "현재가", "Last"), ("unrealized", "평가손익", "Unrealized"), ("halted", "거래 중지", "Halted"),
        ("confirm", "확인", "Confirm"),
        (
            "killSwitch", "긴급 정지 (전략 끄기 · 미체결 취소 · 계좌 중지)",
            "Kill switch (strategies off, working orders cancelled, account halted)"
        ),
        ("resume", "거래 재개 (잔고 대사 후)", "Resume (after reconciliation)"), ("trade", "주문", "Order"),
        ("account", "계좌", "Account"), ("side", "구분", "Side"), ("buy", "매수", "Buy"), ("sell", "매도", "Sell"),
        ("orderType", "유형", "Type"), ("limit", "지정가", "Limit"), ("market", "시장가", "Market"),
        ("price", "가격", "Price"), ("send", "주문 보내기", "Send order"), ("orders", "주문 내역", "Orders"),
        ("open", "미체결", "Working"), ("past", "지난 주문", "Past"), ("none", "없음", "none"),
        ("order", "주문번호", "Order"), ("status", "상태", "Status"), ("time", "시각", "Time"),
        ("cancel", "취소", "Cancel"), ("newer", "← 최근", "← newer"), ("older", "이전 →", "older →"),
        ("chart", "차트", "Chart"), ("timeframe", "주기", "Timeframe"), ("indicators", "지표", "Indicators"),
        ("volume", "거래량", "Volume"), ("fills", "체결", "Fills"),
        (
            "noChartLibrary", "차트 라이브러리가 설치되지 않았습니다 (scripts/assets.sh).",
            "The chart library is not installed (scripts/assets.sh)."
        ),
        ("strategies", "전략", "Strategies"), ("strategy", "전략", "Strategy"), ("parameters", "매개변수", "Parameters"),
        ("ruleSets", "규칙 전략", "Rule sets"), ("noRuleSets", "규칙 전략이 없습니다", "No rule set yet"),
        ("ruleName", "이름", "Name"), ("ruleSource", "규칙", "Rules"), ("version", "버전", "Version"),
        ("edit", "편집", "Edit"), ("check", "검사", "Check"), ("saveVersion", "새 버전 저장", "Save as a new version"),
        ("enable", "켜기", "Enable"), ("disable", "끄기", "Disable"), ("noStrategies", "켜진 전략이 없습니다", "No strategy is on"),
        ("notifications", "알림", "Notifications"), ("system", "시스템", "System"), ("logHead", "로그 헤드", "Log head"),
        ("projection", "프로젝션", "Projection"), ("lag", "지연", "lag"), ("events", "이벤트", "events"),
        ("queue", "큐", "Queue"), ("queuesAway", "Redis가 설정되지 않았거나 연결할 수 없습니다", "Redis not configured or unreachable"),
        ("operator", "운영자", "Operator"), ("allAccounts", "전체 계좌", "All accounts"), ("owner", "소유자", "Owner"),
        ("working", "미체결", "Working"), ("halt", "중지", "Halt"), ("reason", "사유", "Reason"),
        ("tradingHalted", "전체 거래 중지 중", "All trading halted"), ("tradingOn", "전체 거래 가능", "Trading is on"),
        ("haltAll", "전체 거래 중지", "Halt all trading"), ("resumeAll", "전체 거래 재개", "Resume all trading"),
        ("live", "실시간", "live"), ("offline", "연결 끊김 — 다시 연결 중", "disconnected — reconnecting"),
        ("lifecycle", "주문 생애주기", "Order lifecycle"), ("offset", "오프셋", "Offset"), ("event", "이벤트", "Event"),
        ("segment", "세그먼트", "Segment"), ("frameHash", "프레임 해시", "Frame hash"), ("chained", "체인 연결", "Chained"),
        (
            "verified", "검증됨: 로그의 프레임 체크섬과 해시 체인이 이 이벤트들을 보증합니다",
            "Verified: the log's frame checksums and hash chain attest these events"
        ),
        ("notVerified", "검증 실패", "Not verified"), ("framesChecked", "검사한 프레임", "frames checked"),
        ("back", "← 대시보드", "← Dashboard"), ("filled", "체결", "filled"), ("fee", "수수료", "Fee"), ("tax", "세금", "Tax"),
        ("brokerNumber", "증권사 주문번호", "Broker order no."), ("clientOrderId", "고객 주문 키", "Client order id"),
        ("source", "출처", "Source"), ("payload", "내용", "Payload"),
        ("board", "작업 큐 보드", "Queue board"), ("triggers", "보호 주문 (손절 · 익절 · 추적)", "Protective orders"),
        ("stopLoss", "손절", "Stop-loss"), ("takeProfit", "익절", "Take-profit"),
        ("trailingStop", "추적 손절", "Trailing stop"), ("fromFill", "체결가 대비", "from the fill"),
        ("waitsVI", "변동성완화장치(VI) 발동 중: 대기", "waiting: a VI holds the stock"),
        ("waitsHalt", "거래정지 중: 대기", "waiting: trading halted"),
        ("armed", "감시 중", "armed"), ("fired", "발동", "fired"), ("cancelledTrigger", "취소", "cancelled"),
        ("triggerLevel", "발동 가격", "Level"), ("trailPercent", "추적 폭 %", "Trail %"),
        ("exitLimit", "청산 지정가 (비우면 시장가)", "Exit limit (empty: market)"),
        ("arm", "걸기", "Arm"), ("kind", "종류", "Kind"), ("noTriggers", "보호 주문이 없습니다", "No protective order"),
        ("readOnlyView", "계좌 보기 (읽기 전용)", "account, read-only"),
        ("resubmit", "재주문", "Place again"),
        ("queues", "큐", "Queues"), ("paused", "일시정지", "paused"),
        ("pauseQueue", "일시정지", "Pause"), ("resumeQueue", "재개", "Resume"),
        ("retryFailed", "실패 전부 재시도", "Retry all failed"),
        ("cleanCompleted", "완료 정리", "Clean completed"), ("attempts", "시도", "Attempts"), ("added", "추가", "Added"),
        ("processed", "처리 시작", "Processed"), ("finishedAt", "종료", "Finished"), ("holder", "작업자", "Held by"),
        ("due", "예정", "due"), ("retry", "재시도", "Retry"), ("promote", "지금 실행", "Promote"), ("remove", "삭제", "Remove"),
        ("workers", "워커", "Workers"), ("worker", "워커", "Worker"), ("startedAt", "시작", "Started"),
        ("seenAt", "마지막 신호", "Last seen"), ("alive", "동작 중", "alive"), ("gone", "응답 없음", "gone"),
        ("tickRule", "호가단위", "tick"), ("band", "가격제한", "band"), ("won", "원", " KRW"),
        ("backtestReport", "백테스트 보고서", "Backtest report"), ("returnLabel", "수익률", "Return"),
        ("buyAndHold", "단순 보유 (같은 종목)", "Buy and hold (same stocks)"), ("maxDrawdown", "최대 낙폭", "Max drawdown"),
        ("roundTrips", "왕복 거래", "Round trips"), ("winRate", "승률", "Win rate"), ("fees", "수수료 + 세금", "Fees + tax"),
        ("bars", "봉 수", "Bars"), ("equityCurve", "자산 곡선 (전략 · 단순 보유)", "Equity (strategy, buy and hold)"),
        ("drawdown", "낙폭", "Drawdown"), ("priceChart", "가격과 거래", "Price and trades"),
        ("monthlyReturns", "월별 수익률", "Monthly returns"), ("month", "월", "Month"), ("tradeList", "거래 목록", "Trades"),
    ]

    /// `key → text` in this language.
    var table: [String: String] {
        Dictionary(uniqueKeysWithValues: Self.entries.map { ($0.key, self.language == .korean ? $0.ko : $0.en) })
    }

    subscript(_ key: String) -> String {
        guard let entry = Self.entries.first(where: { $0.key == key }) else { return key }
        return self.language == .korean ? entry.ko : entry.en
    }

    /// An order status in words (the API's name stays beside it in the page's `data-status`).
    func status(_ status: OrderStatus) -> String {
        let korean: String
        switch status {
        case .pending: korean = "접수 대기"
        case .submitted: korean = "전송됨"
        case .accepted: korean = "접수됨"
        case .partiallyFilled: korean = "부분 체결"
        case .cancelRequested: korean = "취소 요청"
        case .filled: korean = "체결 완료"
        case .cancelled: korean = "취소됨"
        case .rejected: korean = "거부됨"
        case .failed: korean = "실패"
        case .expired: korean = "만료"
        }
        guard self.language == .english else { return korean }
        return status.description.replacingOccurrences(of: "_", with: " ").lowercased()
    }

    func side(_ side: OrderSide) -> String { side == .buy ? self["buy"] : self["sell"] }

    /// `72,000원` (Korean) or `72,000 KRW`.
    func won(_ value: Int64) -> String { Self.grouped(value) + self["won"] }

    /// Thousands separators: `-1,234,567`.
    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(character)
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
