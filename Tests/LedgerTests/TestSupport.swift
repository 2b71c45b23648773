import Foundation
@_exported import TestSupport

@testable import Ledger

/// A payload that looks like the corpus (compressible JSON-ish text) with a random tail.
func samplePayload(_ index: Int, random: inout SeededRandom, maxBytes: Int = 400) -> [UInt8] {
    var text =
        "{\"type\":\"CandleClosed\",\"v\":1,\"stock\":\"\(String(format: "%06d", index % 2700))\",\"n\":\(index),\"x\":\""
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
