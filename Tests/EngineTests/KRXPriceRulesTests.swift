import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

@Suite struct KRXPriceRulesTests {
    @Test(arguments: [
        (1_999 as Int64, 1 as Int64), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10), (20_000, 50), (49_950, 50),
        (50_000, 100), (199_900, 100), (200_000, 500), (499_500, 500), (500_000, 1_000),
    ])
    func tickSizesFollowTheUnifiedTable(price: Int64, tick: Int64) {
        #expect(KRXPriceRules.tickSize(at: price) == tick)
    }

    @Test func limitsMatchTheOfficialExamples() {
        // 000660: base 128,500 -> 90,000...167,000 (KIS inquire-price example); 108320: base 52,800 -> 37,000...68,600.
        #expect(KRXPriceRules.priceLimits(basePrice: 128_500) == 90_000...167_000)
        #expect(KRXPriceRules.priceLimits(basePrice: 52_800) == 37_000...68_600)
    }

    @Test func offTickPricesAreDetected() {
        #expect(KRXPriceRules.isOnTick(71_000))
        #expect(!KRXPriceRules.isOnTick(71_050))
        #expect(!KRXPriceRules.isOnTick(0))
    }
}
