import Engine
import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Worker

/// `KISJSON` against Foundation's `JSONSerialization`, which it replaces for KIS answers: the same values for
/// every document Foundation reads, a refusal for every one it refuses. One difference is wanted: Foundation
/// tolerates a trailing comma (`[1,]`), which RFC 8259 does not allow and KISJSON refuses.
@Suite struct KISJSONTests {
    /// Both readers' results written back by Foundation with sorted keys (nil: refused).
    static func both(_ bytes: [UInt8]) -> (mine: String?, foundation: String?) {
        func canonical(_ value: Any?) -> String? {
            guard let value, JSONSerialization.isValidJSONObject([value]) else { return nil }
            return (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        let mine = try? KISJSON.parse(bytes)
        let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        return (mine.flatMap(canonical), foundation.flatMap(canonical))
    }

    static func randomValue(_ random: inout SeededRandom, depth: Int) -> Any {
        let strings = [
            "", "정상처리 되었습니다.", "a\"b", "back\\slash", "tab\there", "new\nline", "\u{01}\u{1F}", "😀 emoji", "/slash",
            "MCA00000", "  spaced  ",
        ]
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &random) {
        case 0: return strings.randomElement(using: &random)!
        case 1: return NSNumber(value: Int64.random(in: -9_000_000_000...9_000_000_000, using: &random))
        case 2: return NSNumber(value: Double(Int.random(in: -100_000...100_000, using: &random)) / 64)
        case 3: return Bool.random(using: &random) ? NSNumber(value: true) : NSNull()
        case 4: return String(Int.random(in: 0...99_999_999, using: &random))
        case 5:
            return (0..<Int.random(in: 0...5, using: &random)).map { _ in Self.randomValue(&random, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                object[strings.randomElement(using: &random)! + String(Int.random(in: 0...9, using: &random))] =
                    Self.randomValue(&random, depth: depth + 1)
            }
            return object
        }
    }

    @Test func randomDocumentsReadAsFoundationReadsThem() throws {
        var random = SeededRandom(seed: 11)
        var compared = 0
        for _ in 0..<2_000 {
            let document: Any =
                Bool.random(using: &random)
                ? Self.randomValue(&random, depth: 0) as? [String: Any] ?? ["x": 1]
                : [Self.randomValue(&random, depth: 1)]
            let bytes = Array(
                try JSONSerialization.data(
                    withJSONObject: document,
                    options: Bool.random(using: &random) ? [.prettyPrinted] : []
                )
            )
            let (mine, foundation) = Self.both(bytes)
            #expect(mine != nil && mine == foundation, "\(String(decoding: bytes, as: UTF8.self))")
            compared += 1
        }
        #expect(compared == 2_000)
    }

    @Test func handWrittenCasesAgree() {
        let accepted = [
            #"{"rt_cd":"0","msg1":"\uc815\uc0c1","output":{"a":[1,-0,2.5e3,1E-2,true,false,null]}}"#,
            #"["\ud83d\ude00","\u00e9\/\b\f\n\r\t\"\\"]"#, " \r\n\t{ } ", "[[],{},\"\"]", "0", "-12.5", "\"\"",
            "[9223372036854775807,-9223372036854775808]",
        ]
        for text in accepted {
            let (mine, foundation) = Self.both(Array(text.utf8))
            #expect(mine != nil && mine == foundation, "\(text): \(mine ?? "refused") vs \(foundation ?? "refused")")
        }
        let refused = [
            "", "{", "}", "{\"a\":}", "tru", "nul", "[1 2]", "{\"a\" 1}", "{a:1}", "\"\\x\"", "\"a\u{01}b\"", "01",
            "1.", ".5", "-", "+1",
            "[]x", "[1]]", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u12\"", "'a'", "[\"unterminated]",
            "{\"a\":1}{}", "NaN", "[Infinity]",
        ]
        for text in refused {
            #expect((try? KISJSON.parse(Array(text.utf8))) == nil, "\(text) must be refused")
            #expect(
                (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil,
                "Foundation refuses \(text) too"
            )
        }
        for text in ["[1,]", "{\"a\":1,}", "[1, ]"] {
            #expect((try? KISJSON.parse(Array(text.utf8))) == nil, "\(text): a trailing comma is refused")
        }
        #expect((try? KISJSON.parse([0x22, 0xC3, 0x28, 0x22])) == nil, "a string that is not UTF-8")
        #expect(
            (try? KISJSON.parse(Array((String(repeating: "[", count: 70) + String(repeating: "]", count: 70)).utf8)))
                == nil,
            "nesting beyond 64"
        )
        #expect(
            (try? KISJSON.parse(Array((String(repeating: "[", count: 60) + String(repeating: "]", count: 60)).utf8)))
                != nil
        )
    }

    /// Cut and flipped copies of real KIS answers: whatever Foundation makes of them, KISJSON makes the same.
    @Test func damagedAnswersAgreeWithFoundation() {
        var rows: [String] = []
        for minute in 0..<30 {
            rows.append(
                #"{"stck_bsop_date":"20250106","stck_cntg_hour":"09\#(String(format: "%02d", minute))00","stck_prpr":"55100","stck_oprc":"55000","stck_hgpr":"55200","stck_lwpr":"54900","cntg_vol":"12345","acml_tr_pbmn":"0"}"#
            )
        }
        let answer = Array(
            (#"{"output1":{"stck_prpr":"55100"},"output2":["# + rows.joined(separator: ",")
                + #"],"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다.","expires_in":86400}"#).utf8
        )
        #expect(Self.both(answer).mine != nil && Self.both(answer).mine == Self.both(answer).foundation)
        var random = SeededRandom(seed: 5)
        var refusedBoth = 0
        for round in 0..<3_000 {
            var bytes = answer
            if round % 3 == 0 {
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
            } else {
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = [
                        UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"),
                        0x01, 0xFF, UInt8(ascii: "u"), UInt8(ascii: "9"), UInt8(ascii: " "),
                    ].randomElement(using: &random)!
                }
            }
            let (mine, foundation) = Self.both(bytes)
            if mine == nil, foundation != nil, Self.hasTrailingComma(bytes) { continue }  // Foundation's leniency
            #expect(
                mine == foundation,
                "round \(round): \(String(decoding: bytes, as: UTF8.self))\nmine: \(mine ?? "refused")\nfoundation: \(foundation ?? "refused")"
            )
            if mine == nil, foundation == nil { refusedBoth += 1 }
        }
        #expect(refusedBoth > 1_000, "most damage must make the answer unreadable (\(refusedBoth))")
    }

    /// A ',' followed (after white space) by ']' or '}'.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var afterComma = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: ","): afterComma = true
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "]") where afterComma, UInt8(ascii: "}") where afterComma: return true
            default: afterComma = false
            }
        }
        return false
    }
}

/// KIS bars as candles (the one conversion the collector and the history import share): a row whose date or
/// time does not read is no candle, never a bar at the epoch or at a made-up minute.
@Suite struct KISBarCandleTests {
    @Test func rowsThatDoNotReadAreNoCandle() throws {
        let code = try #require(StockCode("005930"))
        func minute(_ date: String, _ time: String) -> KISMinuteBar {
            KISMinuteBar(date: date, time: time, open: 100, high: 110, low: 90, close: 105, volume: 7)
        }
        let good = try #require(minute("20250106", "091500").candle(code))
        #expect(good.start == KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 9, minute: 15))
        #expect(good.timeframe == .minute1 && good.close == 105 && good.volume == 7)
        for (date, time) in [
            ("", "091500"), ("2025016", "091500"), ("20251345", "091500"), ("20250106", "0915"),
            ("20250106", "9x1500"), ("20250106", "\u{0}\u{0}1500"), ("٢٠٢٥٠١٠٦", "091500"),
        ] {
            #expect(minute(date, time).candle(code) == nil, "\(date) \(time)")
        }
        let day = KISDailyBar(date: "20250106", open: 1, high: 2, low: 1, close: 2, volume: 3)
        #expect(day.candle(code)?.start == KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 0))
        #expect(KISDailyBar(date: "-20250106", open: 1, high: 2, low: 1, close: 2, volume: 3).candle(code) == nil)
        // A row the engine would refuse is no candle either: dropped where it enters, not refused mid-job.
        for (open, high, low, close, volume) in [
            (100, 90, 110, 105, 7), (0, 110, 0, 105, 7), (-5, 110, -9, 105, 7), (100, 110, 90, 105, -1),
            (100, Bounds.maxPrice + 1, 90, 105, 7), (100, 110, 90, 105, Bounds.maxVolume + 1),
            (.max, .max, .max, .max, 1),
        ] as [(Int64, Int64, Int64, Int64, Int64)] {
            let bar = KISMinuteBar(
                date: "20250106",
                time: "091500",
                open: open,
                high: high,
                low: low,
                close: close,
                volume: volume
            )
            #expect(bar.candle(code) == nil, "\(bar)")
            let daily = KISDailyBar(date: "20250106", open: open, high: high, low: low, close: close, volume: volume)
            #expect(daily.candle(code) == nil, "\(daily)")
        }
    }
}
