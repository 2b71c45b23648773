import Foundation

/// A strict JSON reader (RFC 8259) for KIS answers, giving the shapes `JSONSerialization` gives — objects as
/// `[String: Any]`, arrays as `[Any]`, strings as `String`, numbers and booleans as `NSNumber`, null as `NSNull`.
///
/// It exists for speed: a 30-row minute-chart page (5.3 kB) took Foundation ~86 µs to read on this machine
/// (its Linux reader builds bridged objects), and a 2,700-stock day reads ~100,000 of them. Everything
/// `JSONSerialization` refuses is refused here too (the differential test in `KISJSONTests` holds the two to
/// the same answers); nesting deeper than 64 is refused rather than recursed into.
enum KISJSON {
    struct Malformed: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "malformed JSON at byte \(self.offset): \(self.reason)" }
    }

    /// The top-level value of `bytes`.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Malformed) -> Any {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw reader.fail("content after the value") }
        return value
    }

    static func parse(_ data: some ContiguousBytes) throws -> Any {
        try data.withUnsafeBytes { bytes throws(Malformed) in try Self.parse(bytes) }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func fail(_ reason: String) -> Malformed { Malformed(offset: self.index, reason: reason) }

        var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

        mutating func skipWhitespace() {
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(Malformed) -> Any {
            guard let byte = self.current else { throw self.fail("a value was expected") }
            switch byte {
            case UInt8(ascii: "{"): return try self.object(depth: depth + 1)
            case UInt8(ascii: "["): return try self.array(depth: depth + 1)
            case UInt8(ascii: "\""): return try self.string()
            case UInt8(ascii: "t"):
                try self.literal("true")
                return NSNumber(value: true)
            case UInt8(ascii: "f"):
                try self.literal("false")
                return NSNumber(value: false)
            case UInt8(ascii: "n"):
                try self.literal("null")
                return NSNull()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
            default: throw self.fail("unexpected byte 0x\(String(byte, radix: 16))")
            }
        }

        mutating func literal(_ word: StaticString) throws(Malformed) {
            let count = word.utf8CodeUnitCount
            guard self.index + count <= self.bytes.count else { throw self.fail("truncated literal") }
            for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] {
                throw self.fail("unknown literal")
            }
            self.index += count
        }

        mutating func object(depth: Int) throws(Malformed) -> [String: Any] {
            guard depth <= 64 else { throw self.fail("nested deeper than 64") }
            self.index += 1  // {
            var object = [String: Any](minimumCapacity: 8)
            self.skipWhitespace()
            if self.current == UInt8(ascii: "}") {
                self.index += 1
                return object
            }
            while true {
                guard self.current == UInt8(ascii: "\"") else { throw self.fail("an object key was expected") }
                let key = try self.string()
                self.skipWhitespace()
                guard self.current == UInt8(ascii: ":") else { throw self.fail("':' was expected") }
                self.index += 1
                self.skipWhitespace()
                object[key] = try self.value(depth: depth)
                self.skipWhitespace()
                switch self.current {
                case UInt8(ascii: ","):
                    self.index += 1
                    self.skipWhitespace()
                case UInt8(ascii: "}"):
                    self.index += 1
                    return object
                default: throw self.fail("',' or '}' was expected")
                }
            }
        }

        mutating func array(depth: Int) throws(Malformed) -> [Any] {
            guard depth <= 64 else { throw self.fail("nested deeper than 64") }
            self.index += 1  // [
            var array: [Any] = []
            self.skipWhitespace()
            if self.current == UInt8(ascii: "]") {
                self.index += 1
                return array
            }
            while true {
                array.append(try self.value(depth: depth))
                self.skipWhitespace()
                switch self.current {
                case UInt8(ascii: ","):
                    self.index += 1
                    self.skipWhitespace()
                case UInt8(ascii: "]"):
                    self.index += 1
                    return array
                default: throw self.fail("',' or ']' was expected")
                }
            }
        }

        mutating func string() throws(Malformed) -> String {
            self.index += 1  // "
            let start = self.index
            // The common case: no escapes — the slice made a String at once (ASCII needs no validation).
            var ascii = true
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(
                        start: self.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + start,
                        count: self.index - start
                    )
                    self.index += 1
                    if ascii { return String(decoding: slice, as: UTF8.self) }
                    guard let text = String(validating: slice, as: UTF8.self) else {
                        throw Malformed(offset: start, reason: "a string is not UTF-8")
                    }
                    return text
                }
                if byte >= 0x80 { ascii = false }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw self.fail("a control character inside a string") }
                self.index += 1
            }
            var scalars: [UInt8] = Array(self.bytes[start..<self.index])
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                switch byte {
                case UInt8(ascii: "\""):
                    self.index += 1
                    guard let text = String(validating: scalars, as: UTF8.self) else {
                        throw Malformed(offset: start, reason: "a string is not UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    self.index += 1
                    guard let escaped = self.current else { throw self.fail("truncated escape") }
                    self.index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try self.hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            // A high surrogate must be followed by an escaped low one.
                            guard self.index + 1 < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                                self.bytes[self.index + 1] == UInt8(ascii: "u")
                            else {
                                throw self.fail("a lone high surrogate")
                            }
                            self.index += 2
                            let low = try self.hex4()
                            guard (0xDC00...0xDFFF).contains(low) else {
                                throw self.fail("a high surrogate without its low one")
                            }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw self.fail("a lone low surrogate")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw self.fail("not a Unicode scalar") }
                        scalars.append(contentsOf: String(Character(scalar)).utf8)
                    default: throw self.fail("unknown escape")
                    }
                default:
                    guard byte >= 0x20 else { throw self.fail("a control character inside a string") }
                    scalars.append(byte)
                    self.index += 1
                }
            }
            throw self.fail("unterminated string")
        }

        mutating func hex4() throws(Malformed) -> UInt32 {
            guard self.index + 4 <= self.bytes.count else { throw self.fail("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = self.bytes[self.index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw self.fail("not a hex digit")
                }
                value = value << 4 | UInt32(digit)
                self.index += 1
            }
            return value
        }

        mutating func number() throws(Malformed) -> NSNumber {
            let start = self.index
            if self.current == UInt8(ascii: "-") { self.index += 1 }
            guard let first = self.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw self.fail("a digit was expected")
            }
            if first == UInt8(ascii: "0") {
                self.index += 1
            } else {
                self.skipDigits()
            }
            var integral = true
            if self.current == UInt8(ascii: ".") {
                integral = false
                self.index += 1
                guard self.skipDigits() > 0 else { throw self.fail("a digit was expected after '.'") }
            }
            if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
                integral = false
                self.index += 1
                if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.index += 1 }
                guard self.skipDigits() > 0 else { throw self.fail("a digit was expected in the exponent") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
            if integral, let whole = Int64(text) { return NSNumber(value: whole) }
            guard let real = Double(text) else { throw Malformed(offset: start, reason: "not a number") }
            return NSNumber(value: real)
        }

        @discardableResult
        mutating func skipDigits() -> Int {
            let start = self.index
            while self.index < self.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index])
            { self.index += 1 }
            return self.index - start
        }
    }
}
