import Ledger

/// SplitMix64: a small deterministic generator for simulated markets and stress payloads.
public func splitMix(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_E29B
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// `splitMix` as a `RandomNumberGenerator`, for `shuffled(using:)` and `random(in:using:)`.
public struct SplitMixRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 { splitMix(&self.state) }
}

/// Payloads that carry their own checksum, so a half-written record could never pass as whole.
public enum StressPayload {
    public static func make(state: inout UInt64) -> [UInt8] {
        let length = Int(splitMix(&state) % 600) + 8
        var body = [UInt8](repeating: 0, count: length)
        for index in 0..<length { body[index] = UInt8(truncatingIfNeeded: splitMix(&state) % 26 + 97) }
        var payload = Array("SBX".utf8)
        let crc = CRC32C.checksum(body)
        withUnsafeBytes(of: crc.littleEndian) { payload.append(contentsOf: $0) }
        payload.append(contentsOf: body)
        return payload
    }

    public static func isWhole(_ payload: [UInt8]) -> Bool {
        guard payload.count >= 7, payload[0..<3].elementsEqual("SBX".utf8) else { return false }
        let stored = payload[3..<7].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        return CRC32C.checksum(Array(payload[7...])) == stored
    }
}
