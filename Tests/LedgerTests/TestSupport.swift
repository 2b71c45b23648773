import Foundation
@testable import Ledger

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(_ name: String = "ledger") {
        var template = Array((NSTemporaryDirectory() + "stockboom-\(name)-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(cString: template)
    }

    deinit { try? FileManager.default.removeItem(atPath: self.path) }

    func file(_ name: String) -> String { self.path + "/" + name }

    func files(withSuffix suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []).filter { $0.hasSuffix(suffix) }.sorted().map { self.path + "/" + $0 }
    }
}

/// A deterministic pseudo-random generator (SplitMix64), so failures reproduce from the printed seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_E29B
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A payload that looks like the corpus (compressible JSON-ish text) with a random tail.
func samplePayload(_ index: Int, random: inout SeededRandom, maxBytes: Int = 400) -> [UInt8] {
    var text = "{\"type\":\"CandleClosed\",\"v\":1,\"stock\":\"\(String(format: "%06d", index % 2700))\",\"n\":\(index),\"x\":\""
    let extra = Int.random(in: 0...maxBytes, using: &random)
    for _ in 0..<extra { text.append(Character(UnicodeScalar(UInt8.random(in: 97...122, using: &random)))) }
    text += "\"}"
    return Array(text.utf8)
}

func flipByte(at position: UInt64, in path: String) throws {
    let handle = try Foundation.FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: position)
    let byte = try handle.read(upToCount: 1) ?? Data([0])
    try handle.seek(toOffset: position)
    try handle.write(contentsOf: Data([byte[0] ^ 0x40]))
}

func zeroBytes(_ range: Range<UInt64>, in path: String) throws {
    let handle = try Foundation.FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: range.lowerBound)
    try handle.write(contentsOf: Data(count: Int(range.count)))
}

func truncateFile(_ path: String, to size: UInt64) throws {
    let handle = try Foundation.FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: size)
}

func fileSize(_ path: String) -> UInt64 {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.uint64Value ?? 0
}

func smallSegments(dictionary: Bool = true, durability: LogConfiguration.Durability = .everyBatch) -> LogConfiguration {
    var configuration = LogConfiguration()
    configuration.segmentBytesMax = 64 << 10
    configuration.indexIntervalBytes = 1024
    configuration.dictionaryEnabled = dictionary
    configuration.durability = durability
    return configuration
}
