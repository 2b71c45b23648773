import Foundation
import Testing

@testable import Ledger

/// The fuzz entry (`BatchDecoderFuzzing`, driven by libFuzzer in `scripts/fuzz.sh`) on the golden log's frames
/// and on seeded mutations of them: valid frames decode to their records, and no mutation traps.
@Suite struct BatchDecoderFuzzingTests {
    /// The golden log's frames; a frame compressed with its segment's dictionary comes with the dictionary's
    /// bytes appended (what the fuzz entry takes as the dictionary).
    static func goldenFrames() throws -> [[UInt8]] {
        let directory =
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/eventlog/golden/v1"
        var frames: [[UInt8]] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.hasSuffix(".log")
        {
            let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
            var position = Layout.segmentHeaderBytes
            var dictionaries: [Int: [UInt8]] = [:]
            while position + Layout.batchHeaderBytes <= data.count {
                let payload = Int(data.withUnsafeBytes { $0.loadLittleEndian(at: position + 24, as: UInt32.self) })
                var frame = Array(data[position..<(position + Layout.batchHeaderBytes + payload)])
                let header = try frame.withUnsafeBytes { raw in try BatchFrame.validate(raw).get() }
                if header.isDictionary {
                    dictionaries[position] = try frame.withUnsafeBytes {
                        try BatchFrame.body(header: header, frame: $0, dictionary: nil).get()
                    }
                } else if header.dictionaryPosition != 0 {
                    frame += try #require(dictionaries[Int(header.dictionaryPosition)])
                }
                frames.append(frame)
                position += Layout.batchHeaderBytes + payload
            }
        }
        return frames
    }

    @Test func goldenFramesDecodeAndMutationsNeverTrap() throws {
        let frames = try Self.goldenFrames()
        #expect(frames.count > 5)
        var decodedRecords = 0
        for frame in frames {
            let plain = frame.withUnsafeBytes { BatchDecoderFuzzing.decode($0, fixChecksum: false) }
            #expect(plain != nil, "a golden frame decodes")
            decodedRecords += plain ?? 0
        }
        #expect(decodedRecords > 100)
        var random = SeededRandom(seed: 2026)
        var survived = 0
        for _ in 0..<20_000 {
            var input = frames[Int.random(in: 0..<frames.count, using: &random)]
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    input[Int.random(in: 0..<input.count, using: &random)] ^= UInt8(
                        1 << Int.random(in: 0..<8, using: &random)
                    )
                case 1: input = Array(input.prefix(Int.random(in: 0...input.count, using: &random)))
                case 2:
                    input.append(
                        contentsOf: (0..<Int.random(in: 1...64, using: &random)).map { _ in
                            UInt8.random(in: 0...255, using: &random)
                        }
                    )
                default: if !input.isEmpty { input[Int.random(in: 0..<input.count, using: &random)] = 0xFF }
                }
                if input.isEmpty { input = [0] }
            }
            let checked = input.withUnsafeBytes { BatchDecoderFuzzing.decode($0, fixChecksum: false) }
            _ = input.withUnsafeBytes { BatchDecoderFuzzing.decode($0, fixChecksum: true) }
            if checked != nil { survived += 1 }
        }
        #expect(survived < 20_000, "mutations are refused, not decoded as something else")
    }

    /// What libFuzzer found (`var/fuzz/artifacts/crash-63a15d2c…`, 2026-11-30): a golden frame whose header says
    /// base offset 2^64 − 2 with four records. Numbering them overflowed (a trap); the header is now refused.
    @Test func aBaseOffsetNearTheTopIsADefectNotATrap() throws {
        let input = try #require(
            Data(
                base64Encoded:
                    "U0JCVAEAAQD+/////////wQAAADuAQAAKQEAAAAAAAAAYi7crSoGAACzU96tKgYAmbsgcn3sLNREpfD+7btTD6pEDnm7p/RpbW/vExKg4iYAAAAAAAAAAAAAAADMHYnq8CkAensidHlwZSI6IkNhbmRsZUNsb3NlZCIsInYiOjEsInN0b2NrIjoiMDAwNjYwIiwidGYiOiIxbQoA8AtzIjoxNzM1Nzc2MDYwLCJvIio1NzUwMCwiaAoAEDYKABBsCgAQNAoAEGMKAAEeAN92b2wiOjE4Nn0nPbgLfwAVTzM1NDJ/AA4hNjVrABBoCgABawAQbAoAEzN/AAMeAAF/AI8yMTd9gNjxFn8AFU81MTkxfwAOITUzawAA/gARM4kAAP4AIzMyfwADHgACfwCFNDh9gMSqIm99AcdPcmRlclJlcXVlc3R/ARBvFwCkSWQiOiJvcmQtMAEAJzkimgFANjgyN5wAMHNpZMcB8A1CVVkiJiJxdHkiOjEwLCJwcmljZSI6NjEyMDB9"
            )
        )
        #expect(input.withUnsafeBytes { BatchDecoderFuzzing.decode($0, fixChecksum: true) } == nil)
        // Refused at the header, naming why.
        let header = input.withUnsafeBytes { BatchHeader.decode($0) }
        guard case .failure(.structure(let reason)) = header else {
            Issue.record("the header was taken: \(header)")
            return
        }
        #expect(reason.contains("offsets overflow"), "\(reason)")
    }
}
