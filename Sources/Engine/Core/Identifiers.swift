/// A KRX stock code: six decimal digits (`005930` Samsung Electronics), kept as an integer so that state
/// lookups during replay hash a `UInt32`, not a `String`.
public struct StockCode: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt32

    /// Parses six ASCII digits; nil for anything else.
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == 6 else { return nil }
        var value: UInt32 = 0
        for byte in text.utf8 {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + UInt32(byte - 48)
        }
        self.value = value
    }

    public init(value: UInt32) {
        precondition(value < 1_000_000, "stock codes have six digits")
        self.value = value
    }

    public var description: String {
        let digits = String(self.value)
        return String(repeating: "0", count: 6 - digits.count) + digits
    }

    public static func < (left: StockCode, right: StockCode) -> Bool { left.value < right.value }

    /// As `EngineIdentifier`'s: `integerHash`, for dictionaries and sets.
    public func _rawHashValue(seed: Int) -> Int { integerHash(UInt64(self.value), seed: seed) }
}

/// The hash the state's tables use for integer keys (engine ids, stock codes): the process's hash seed mixed
/// into the integer by MurmurHash3's 64-bit finaliser, a bijection whose every output bit depends on every input
/// bit. Swift's own integer hash is SipHash-1-3 over the word — made for keys an attacker chooses, and a
/// measured 4 % of a backtest, whose tables are looked up several times per event; these keys are integers the
/// engine assigns (or six-digit stock codes), and the seed still differs per process.
@inline(__always)
func integerHash(_ value: UInt64, seed: Int) -> Int {
    var x = value ^ UInt64(bitPattern: Int64(seed))
    x ^= x >> 33
    x &*= 0xff51_afd7_ed55_8ccd
    x ^= x >> 33
    x &*= 0xc4ce_b9fe_1a85_ec53
    x ^= x >> 33
    return Int(bitPattern: UInt(x))
}

/// Declares an identifier type: an integer assigned by the engine, printed with a prefix.
public protocol EngineIdentifier: Sendable, Hashable, Comparable, CustomStringConvertible {
    static var prefix: String { get }
    var value: UInt64 { get }
    init(value: UInt64)
}

/// `prefix` and `value` in at least ten digits (`ord-0000000042`): how every engine id is printed.
func zeroPadded(_ value: UInt64, prefix: String) -> String {
    // Written once into the string's own storage (ids are printed for every order, fill and trigger): the
    // prefix, then at least ten digits (a value of more digits is printed whole).
    var digits = 1
    var rest = value / 10
    while rest > 0 {
        digits += 1
        rest /= 10
    }
    let width = max(10, digits)
    var prefix = prefix
    return prefix.withUTF8 { head in
        String(unsafeUninitializedCapacity: head.count + width) { buffer in
            _ = buffer.initialize(fromContentsOf: head)
            var remaining = value
            for position in stride(from: head.count + width - 1, through: head.count, by: -1) {
                buffer[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            }
            return head.count + width
        }
    }
}

extension EngineIdentifier {
    public var description: String { zeroPadded(self.value, prefix: Self.prefix) }

    /// Parses the printed form (`ord-0000000042`) or the bare number.
    public init?(_ text: some StringProtocol) {
        let whole = Substring(text)
        let body = whole.hasPrefix(Self.prefix) ? whole.dropFirst(Self.prefix.count) : whole
        guard !body.isEmpty, body.utf8.count <= 19, let value = UInt64(body) else { return nil }
        self.init(value: value)
    }

    public static func < (left: Self, right: Self) -> Bool { left.value < right.value }

    /// The hash dictionaries and sets use: `integerHash` of the id instead of a `Hasher` built, fed and
    /// finalised per lookup — the state's tables are looked up several times per event. Equal ids hash equally.
    public func _rawHashValue(seed: Int) -> Int { integerHash(self.value, seed: seed) }
}

/// An order, assigned in sequence by the engine.
public struct OrderID: EngineIdentifier {
    public static let prefix = "ord-"
    public let value: UInt64
    public init(value: UInt64) { self.value = value }
}

/// A broker account (a KIS real or paper account, or a simulated one).
public struct AccountID: EngineIdentifier {
    public static let prefix = "acc-"
    public let value: UInt64
    public init(value: UInt64) { self.value = value }
}

/// A person using the system.
public struct UserID: EngineIdentifier {
    public static let prefix = "user-"
    public let value: UInt64
    public init(value: UInt64) { self.value = value }
}

/// A notification to a user.
public struct NotificationID: EngineIdentifier {
    public static let prefix = "ntf-"
    public let value: UInt64
    public init(value: UInt64) { self.value = value }
}
