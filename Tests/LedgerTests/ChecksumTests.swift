import Testing

@testable import Ledger

@Suite struct ChecksumTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        // The published check value of CRC-32C (RFC 3720 appendix B.4 family; "123456789").
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func chainingEqualsOneShot() {
        var random = SeededRandom(seed: 5)
        let bytes = (0..<1_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1_000] {
            let chained = CRC32C.checksum(Array(bytes[split...]), continuing: CRC32C.checksum(Array(bytes[..<split])))
            #expect(chained == CRC32C.checksum(bytes))
        }
    }

    @Test func varintsRoundTripAndRejectOverlongInput() {
        for value: UInt64 in [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), .max] {
            var bytes: [UInt8] = []
            bytes.appendVarint(value)
            bytes.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                #expect(cursor.readVarint() == value)
                #expect(cursor.remaining == 0)
            }
        }
        let overlong = [UInt8](repeating: 0xFF, count: 11)
        overlong.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            #expect(cursor.readVarint() == nil)
        }
        for value: Int64 in [0, -1, 1, .min, .max] { #expect(unZigZag(zigZag(value)) == value) }
    }
}
