/// FNV-1a, 64 bits: a hash that is the same in every process and release (`hashValue` is seeded per
/// process). For checksums and stable spreading, not a security boundary.
public func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01B3
    }
    return hash
}
