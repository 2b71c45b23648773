import Engine
import NIOCore

/// A JSON writer straight into a `ByteBuffer`, for the hot read paths (candle series) where Foundation's
/// `JSONEncoder` was most of a request's cost. Output matches `APIJSON.encoder` (sorted keys, no spaces) so
/// both paths answer the same bytes.
struct JSONBytes {
    /// Bytes accumulate in an array (appending to a `ByteBuffer` byte by byte costs an exclusivity check each).
    private var bytes: [UInt8] = []

    init(capacity: Int) {
        self.bytes.reserveCapacity(capacity)
    }

    var buffer: ByteBuffer { ByteBuffer(bytes: self.bytes) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
    }

    /// A string that needs no escaping (identifiers, codes, timeframes).
    mutating func plainString(_ text: String) {
        self.bytes.append(UInt8(ascii: "\""))
        self.bytes.append(contentsOf: text.utf8)
        self.bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: Int64) {
        if value < 0 {
            self.bytes.append(UInt8(ascii: "-"))
            self.unsigned(value.magnitude)
        } else {
            self.unsigned(UInt64(value))
        }
    }

    private mutating func unsigned(_ value: UInt64) {
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { digits in
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            self.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[(20 - count)...]))
        }
    }

    private mutating func padded(_ value: Int, _ width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            self.bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// `"2025-01-02T00:00:00.000000Z"`, the same text as `ISOTime.utc`.
    mutating func utcTime(_ micros: Int64) {
        let day = micros >= 0 ? micros / KST.dayMicros : (micros - KST.dayMicros + 1) / KST.dayMicros
        let rest = micros - day * KST.dayMicros
        let date = KST.date(day: day)
        let seconds = Int(rest / 1_000_000)
        self.bytes.append(UInt8(ascii: "\""))
        self.padded(date.year, 4)
        self.bytes.append(UInt8(ascii: "-"))
        self.padded(date.month, 2)
        self.bytes.append(UInt8(ascii: "-"))
        self.padded(date.day, 2)
        self.bytes.append(UInt8(ascii: "T"))
        self.padded(seconds / 3600, 2)
        self.bytes.append(UInt8(ascii: ":"))
        self.padded(seconds / 60 % 60, 2)
        self.bytes.append(UInt8(ascii: ":"))
        self.padded(seconds % 60, 2)
        self.bytes.append(UInt8(ascii: "."))
        self.padded(Int(rest % 1_000_000), 6)
        self.raw("Z\"")
    }
}

extension CandlesBody {
    /// The body for a series of candles, written without `JSONEncoder`.
    static func bytes(stock: StockCode, timeframe: Timeframe, candles: [Candle]) -> ByteBuffer {
        var writer = JSONBytes(capacity: 64 + candles.count * 120)
        writer.raw("{\"candles\":[")
        for (index, candle) in candles.enumerated() {
            writer.raw(index == 0 ? "{\"close\":" : ",{\"close\":")
            writer.integer(candle.close)
            writer.raw(",\"high\":")
            writer.integer(candle.high)
            writer.raw(",\"low\":")
            writer.integer(candle.low)
            writer.raw(",\"open\":")
            writer.integer(candle.open)
            writer.raw(",\"timestamp\":")
            writer.utcTime(candle.start)
            writer.raw(",\"volume\":")
            writer.integer(candle.volume)
            writer.raw("}")
        }
        writer.raw("],\"stockId\":")
        writer.plainString(stock.description)
        writer.raw(",\"timeframe\":")
        writer.plainString(timeframe.description)
        writer.raw("}")
        return writer.buffer
    }
}
