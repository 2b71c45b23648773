import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

@Suite struct ISOTimeTests {
    @Test func parseIsTheInverseOfUTCRendering() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let micros = Int64.random(in: -2_000_000_000_000_000...4_000_000_000_000_000, using: &random)
            #expect(ISOTime.parse(ISOTime.utc(micros)) == micros, "\(ISOTime.utc(micros))")
            #expect(
                ISOTime.parse(ISOTime.kst(micros)) == micros / 1_000_000 * 1_000_000
                    - (micros % 1_000_000 < 0 ? 1_000_000 : 0),
                "\(ISOTime.kst(micros))"
            )
        }
    }

    @Test func offsetsDaysAndNumbers() {
        let nineKST = KST.instant(day: KST.day(yyyymmdd: "20250102")!, hour: 9)
        #expect(ISOTime.parse("2025-01-02T09:00:00+09:00") == nineKST)
        #expect(ISOTime.parse("2025-01-02T00:00:00Z") == nineKST)
        #expect(ISOTime.parse("2025-01-01T18:30:00-05:30") == nineKST)
        #expect(ISOTime.parse("2025-01-02T00:00:00.5Z") == nineKST + 500_000)
        #expect(
            ISOTime.parse("2025-01-02") == KST.instant(day: KST.day(yyyymmdd: "20250102")!, hour: 0),
            "a bare day is KST midnight"
        )
        #expect(ISOTime.parse("1735776000000000") == 1_735_776_000_000_000)
        for bad in [
            "", "yesterday", "2025-13-01", "2025-02-30", "2025-01-02T25:00:00Z", "2025-01-02T09:00:00",
            "2025-01-02T09:00:00.Z",
            "2025-01-02T09:00:00.1234567Z", "2025-01-02T09:00:00+0900", "2025-01-02T09:00:00Zjunk", "¬",
        ] {
            #expect(ISOTime.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func kisTimesAreKSTHoursMinutesSeconds() {
        let day = KST.day(yyyymmdd: "20250106")!
        #expect(KST.hhmmss(KST.instant(day: day, hour: 9, minute: 5) + 7_000_000) == "090507")
        #expect(KST.hhmmss(KST.instant(day: day, hour: 15, minute: 30)) == "153000")
        #expect(KST.hhmmss(KST.instant(day: day, hour: 0)) == "000000")
        #expect(KST.hhmmss(KST.instant(day: day, hour: 23, minute: 59) + 59_999_999) == "235959")
    }
}
