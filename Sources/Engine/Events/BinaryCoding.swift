/// What the binary encodings write to: LEB128 varints, zig-zag signed varints, length-prefixed UTF-8 strings.
/// `BinaryWriter` grows an array; `ScratchWriter` fills a fixed buffer (the event recorder's hot path).
public protocol ByteWriter {
    mutating func byte(_ value: UInt8)
    mutating func varint(_ value: UInt64)
    mutating func string(_ value: String)
    mutating func fixed64(_ value: UInt64)
}

extension ByteWriter {
    @inline(__always) public mutating func signed(_ value: Int64) {
        self.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// Appends compact binary values to an array that grows as needed.
public struct BinaryWriter: ByteWriter, Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 64) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    @inline(__always) public mutating func varint(_ value: UInt64) {
        if value < 0x80 {
            self.bytes.append(UInt8(value))
            return
        }
        // Built in a register-sized buffer and appended once: per-byte appends (each with a uniqueness and
        // capacity check) were a measured share of encoding time.
        var buffer: (UInt64, UInt64) = (0, 0)
        let count = withUnsafeMutableBytes(of: &buffer) { raw -> Int in
            var value = value
            var index = 0
            while value >= 0x80 {
                raw[index] = UInt8(truncatingIfNeeded: value) | 0x80
                value >>= 7
                index += 1
            }
            raw[index] = UInt8(value)
            return index + 1
        }
        withUnsafeBytes(of: &buffer) { self.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            self.varint(UInt64(utf8.count))
            self.bytes.append(contentsOf: utf8)
        }
    }

    public mutating func fixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }
}

/// Writes into a fixed buffer without growing it, checking room once per value: an event encodes with no
/// array bookkeeping per byte (each append's uniqueness and capacity checks were a fifth of a backtest's
/// recording). A value that does not fit sets `overflowed` and is dropped; the caller then encodes again with
/// a `BinaryWriter` (an event with long texts).
public struct ScratchWriter: ByteWriter {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    public private(set) var count = 0
    public private(set) var overflowed = false

    public init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.base = buffer.baseAddress!
        self.capacity = buffer.count
    }

    /// The bytes written so far.
    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: self.base, count: self.count) }

    @inline(__always) public mutating func byte(_ value: UInt8) {
        guard self.count < self.capacity else {
            self.overflowed = true
            return
        }
        self.base[self.count] = value
        self.count += 1
    }

    @inline(__always) public mutating func varint(_ value: UInt64) {
        guard self.count + 10 <= self.capacity else {
            self.overflowed = true
            return
        }
        var value = value
        var index = self.count
        while value >= 0x80 {
            self.base[index] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            index += 1
        }
        self.base[index] = UInt8(value)
        self.count = index + 1
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            self.varint(UInt64(utf8.count))
            guard self.count + utf8.count <= self.capacity else {
                self.overflowed = true
                return
            }
            if let source = utf8.baseAddress { (self.base + self.count).update(from: source, count: utf8.count) }
            self.count += utf8.count
        }
    }

    public mutating func fixed64(_ value: UInt64) {
        guard self.count + 8 <= self.capacity else {
            self.overflowed = true
            return
        }
        withUnsafeBytes(of: value.littleEndian) {
            UnsafeMutableRawPointer(self.base + self.count).copyMemory(from: $0.baseAddress!, byteCount: 8)
        }
        self.count += 8
    }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked and throws on malformed input.
public struct BinaryReader {
    let bytes: UnsafeRawBufferPointer
    public private(set) var index: Int

    public init(_ bytes: UnsafeRawBufferPointer, index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    public var isAtEnd: Bool { self.index == self.bytes.count }

    @inline(__always) public mutating func byte() throws(EngineError) -> UInt8 {
        guard self.index < self.bytes.count else { throw .undecodable("event truncated") }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    @inline(__always) public mutating func varint() throws(EngineError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard self.index < self.bytes.count else { throw .undecodable("varint truncated") }
            let byte = self.bytes[self.index]
            self.index += 1
            guard shift < 63 || byte <= 1 else { throw .undecodable("varint too long") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    @inline(__always) public mutating func signed() throws(EngineError) -> Int64 {
        let raw = try self.varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    public mutating func string() throws(EngineError) -> String {
        let length = try self.varint()
        guard length <= UInt64(self.bytes.count - self.index) else { throw .undecodable("string overruns the event") }
        if length == 0 { return "" }
        let start = self.index
        self.index += Int(length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
    }

    public mutating func fixed64() throws(EngineError) -> UInt64 {
        guard self.bytes.count - self.index >= 8 else { throw .undecodable("event truncated") }
        defer { self.index += 8 }
        return UInt64(littleEndian: self.bytes.loadUnaligned(fromByteOffset: self.index, as: UInt64.self))
    }
}
