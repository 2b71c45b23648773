/// Little-endian fixed-width and LEB128 variable-width integer coding, used by every on-disk structure.
///
/// All multi-byte integers in the format are little-endian (FORMAT.md §1).
extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { self.append(contentsOf: $0) }
    }

    /// Appends an unsigned LEB128 varint (1 to 10 bytes).
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            self.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        self.append(UInt8(value))
    }

    /// Overwrites a little-endian integer at `index`.
    @inline(__always)
    mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at index: Int) {
        precondition(index >= 0 && index + MemoryLayout<T>.size <= self.count)
        self.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: index, as: T.self) }
    }
}

extension UnsafeRawBufferPointer {
    /// Loads a little-endian integer at `index`; the caller has checked the bounds.
    @inline(__always)
    func loadLittleEndian<T: FixedWidthInteger>(at index: Int, as type: T.Type) -> T {
        precondition(index >= 0 && index + MemoryLayout<T>.size <= self.count)
        return T(littleEndian: self.loadUnaligned(fromByteOffset: index, as: T.self))
    }
}

/// Zig-zag mapping so that small negative deltas encode as small varints.
@inline(__always)
func zigZag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

@inline(__always)
func unZigZag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }

/// A bounds-checked cursor over bytes read from disk. Every read can fail; none can read out of bounds.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var index: Int

    init(_ bytes: UnsafeRawBufferPointer, index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    var remaining: Int { self.bytes.count - self.index }

    /// Reads an unsigned LEB128 varint of at most 10 bytes; nil if truncated or overlong.
    @inline(__always)
    mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            self.index += 1
            if shift == 63 && byte > 1 { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
