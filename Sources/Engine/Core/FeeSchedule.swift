/// Trading costs, as integer rates in parts per billion so that no floating point touches money.
///
/// Defaults from the KIS/KRX fee schedule (§6.6 of the project's notes): KIS non-face-to-face commission 0.0140527% on both
/// sides, and the 2026 sell-side securities transaction tax of 0.20% (0.05% + 0.15% rural tax on KOSPI;
/// 0.20% on KOSDAQ). Both are truncated to whole won.
public struct FeeSchedule: Sendable, Hashable {
    public var commissionPartsPerBillion: Int64 = 140_527
    public var sellTaxPartsPerBillion: Int64 = 2_000_000

    public init(commissionPartsPerBillion: Int64 = 140_527, sellTaxPartsPerBillion: Int64 = 2_000_000) {
        precondition(commissionPartsPerBillion >= 0 && sellTaxPartsPerBillion >= 0)
        self.commissionPartsPerBillion = commissionPartsPerBillion
        self.sellTaxPartsPerBillion = sellTaxPartsPerBillion
    }

    /// Commission on a notional amount (KRW), truncated.
    public func commission(_ notional: Int64) -> Int64 {
        precondition(notional >= 0)
        return Self.portion(notional, self.commissionPartsPerBillion)
    }

    /// Transaction tax on a sale's notional amount (KRW), truncated.
    public func sellTax(_ notional: Int64) -> Int64 {
        precondition(notional >= 0)
        return Self.portion(notional, self.sellTaxPartsPerBillion)
    }

    /// `amount × rate / 10^9` without overflow for any realistic notional (128-bit intermediate).
    static func portion(_ amount: Int64, _ partsPerBillion: Int64) -> Int64 {
        let product = amount.multipliedFullWidth(by: partsPerBillion)
        let (quotient, _) = Int64(1_000_000_000).dividingFullWidth(product)
        return quotient
    }
}
