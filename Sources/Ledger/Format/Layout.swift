internal import Crypto

/// Byte layouts of the on-disk structures. FORMAT.md is the normative description; these constants are it in code.
enum Layout {
    static let formatVersion: UInt16 = 1

    // Segment header: 64 bytes at the start of every `.log` file.
    static let segmentMagic: UInt32 = 0x4753_4253  // "SBSG" in little-endian byte order
    static let segmentHeaderBytes = 64

    // Batch frame header: 96 bytes, followed by `payloadBytes` bytes.
    static let batchMagic: UInt32 = 0x5442_4253  // "SBBT"
    static let batchHeaderBytes = 96
    static let batchCRCIndex = 92

    // Codec identifiers.
    static let codecNone: UInt8 = 0
    static let codecLZ4: UInt8 = 1

    // Batch flags.
    static let flagDictionary: UInt8 = 0x01
    static let flagUsesDictionary: UInt8 = 0x02
    static let knownFlags: UInt8 = 0x03

    // Index files.
    static let indexMagic: UInt32 = 0x5849_4253  // "SBIX"
    static let indexHeaderBytes = 32
    static let offsetIndexEntryBytes = 8
    static let timeIndexEntryBytes = 12

    /// Limits that keep every length field inside its width and every allocation bounded.
    static let recordBytesMax = 4 << 20
    static let batchUncompressedBytesMax = 16 << 20
    static let segmentBytesLimit: UInt64 = 1 << 31

    static let zeroHash = [UInt8](repeating: 0, count: 32)
}

/// The 64-byte header of a segment file.
struct SegmentHeader: Equatable {
    var baseOffset: UInt64
    var createdAtMicros: Int64
    /// The hash of the last batch before this segment (all zeros for the first segment): the chain anchor.
    var previousHash: [UInt8]

    func encoded() -> [UInt8] {
        precondition(self.previousHash.count == 32)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Layout.segmentHeaderBytes)
        bytes.appendLittleEndian(Layout.segmentMagic)
        bytes.appendLittleEndian(Layout.formatVersion)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(self.baseOffset)
        bytes.appendLittleEndian(self.createdAtMicros)
        bytes.append(contentsOf: self.previousHash)
        bytes.appendLittleEndian(UInt32(0))
        let crc = CRC32C.checksum(bytes)
        bytes.appendLittleEndian(crc)
        precondition(bytes.count == Layout.segmentHeaderBytes)
        return bytes
    }

    /// Decodes and checks a segment header; the error names the file.
    static func decode(_ bytes: [UInt8], path: String) throws(LedgerError) -> SegmentHeader {
        guard bytes.count >= Layout.segmentHeaderBytes else {
            throw .corrupt("segment header truncated (\(bytes.count) of 64 bytes)", path: path, position: 0)
        }
        return try typed {
            try bytes.withUnsafeBytes { raw throws(LedgerError) in
                guard raw.loadLittleEndian(at: 0, as: UInt32.self) == Layout.segmentMagic else {
                    throw .corrupt("not a segment file (bad magic)", path: path, position: 0)
                }
                let stored = raw.loadLittleEndian(at: 60, as: UInt32.self)
                guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<60])) == stored else {
                    throw .corrupt("segment header checksum mismatch", path: path, position: 0)
                }
                let version = raw.loadLittleEndian(at: 4, as: UInt16.self)
                guard version == Layout.formatVersion else {
                    throw LedgerError(
                        code: .unsupportedVersion,
                        message: "segment format version \(version) is not supported (this build reads 1)",
                        path: path,
                        position: 4
                    )
                }
                return SegmentHeader(
                    baseOffset: raw.loadLittleEndian(at: 8, as: UInt64.self),
                    createdAtMicros: raw.loadLittleEndian(at: 16, as: Int64.self),
                    previousHash: Array(raw[24..<56])
                )
            }
        }
    }
}

/// The decoded 96-byte header of a batch frame.
struct BatchHeader: Equatable {
    var codec: UInt8
    var flags: UInt8
    var baseOffset: UInt64
    var recordCount: UInt32
    var uncompressedBytes: UInt32
    var payloadBytes: UInt32
    /// Position, within the same segment, of the dictionary batch this batch was compressed with (0 = none).
    var dictionaryPosition: UInt32
    var firstTimestamp: Int64
    var maxTimestamp: Int64
    var previousHash: [UInt8]

    var frameBytes: Int { Layout.batchHeaderBytes + Int(self.payloadBytes) }
    var isDictionary: Bool { self.flags & Layout.flagDictionary != 0 }
    /// The offset after this batch's last record.
    var nextOffset: UInt64 { self.baseOffset + UInt64(self.recordCount) }

    /// Writes the header (with a zero CRC field) to the front of `frame`.
    func write(into frame: inout [UInt8]) {
        precondition(self.previousHash.count == 32)
        precondition(frame.count >= Layout.batchHeaderBytes)
        var header: [UInt8] = []
        header.reserveCapacity(Layout.batchHeaderBytes)
        header.appendLittleEndian(Layout.batchMagic)
        header.appendLittleEndian(Layout.formatVersion)
        header.append(self.codec)
        header.append(self.flags)
        header.appendLittleEndian(self.baseOffset)
        header.appendLittleEndian(self.recordCount)
        header.appendLittleEndian(self.uncompressedBytes)
        header.appendLittleEndian(self.payloadBytes)
        header.appendLittleEndian(self.dictionaryPosition)
        header.appendLittleEndian(self.firstTimestamp)
        header.appendLittleEndian(self.maxTimestamp)
        header.append(contentsOf: self.previousHash)
        header.append(contentsOf: repeatElement(0, count: 16))
        precondition(header.count == Layout.batchHeaderBytes)
        frame.replaceSubrange(0..<Layout.batchHeaderBytes, with: header)
    }

    /// Decodes the structural fields of a header. Checksums are checked by `BatchFrame.validate`.
    ///
    /// - Returns: nil with a reason when the bytes cannot be a header of this format.
    static func decode(_ raw: UnsafeRawBufferPointer) -> Result<BatchHeader, BatchDefect> {
        guard raw.count >= Layout.batchHeaderBytes else { return .failure(.truncated) }
        guard raw.loadLittleEndian(at: 0, as: UInt32.self) == Layout.batchMagic else {
            return .failure(.badMagic)
        }
        let version = raw.loadLittleEndian(at: 4, as: UInt16.self)
        guard version == Layout.formatVersion else { return .failure(.unsupportedVersion(version)) }
        let header = BatchHeader(
            codec: raw[6],
            flags: raw[7],
            baseOffset: raw.loadLittleEndian(at: 8, as: UInt64.self),
            recordCount: raw.loadLittleEndian(at: 16, as: UInt32.self),
            uncompressedBytes: raw.loadLittleEndian(at: 20, as: UInt32.self),
            payloadBytes: raw.loadLittleEndian(at: 24, as: UInt32.self),
            dictionaryPosition: raw.loadLittleEndian(at: 28, as: UInt32.self),
            firstTimestamp: raw.loadLittleEndian(at: 32, as: Int64.self),
            maxTimestamp: raw.loadLittleEndian(at: 40, as: Int64.self),
            previousHash: Array(raw[48..<80])
        )
        guard header.codec == Layout.codecNone || header.codec == Layout.codecLZ4 else {
            return .failure(.structure("unknown codec \(header.codec)"))
        }
        guard header.flags & ~Layout.knownFlags == 0 else {
            return .failure(.structure("unknown flags \(header.flags)"))
        }
        guard Int(header.uncompressedBytes) <= Layout.batchUncompressedBytesMax + LZ4Codec.dictionaryBytesMax else {
            return .failure(.structure("uncompressed size \(header.uncompressedBytes) exceeds the format limit"))
        }
        guard Int(header.payloadBytes) <= Layout.batchUncompressedBytesMax + (1 << 20) else {
            return .failure(.structure("payload size \(header.payloadBytes) exceeds the format limit"))
        }
        if header.isDictionary {
            guard header.recordCount == 0 else { return .failure(.structure("dictionary batch with records")) }
        } else {
            guard header.recordCount > 0 else { return .failure(.structure("record batch without records")) }
        }
        guard header.baseOffset <= UInt64.max - UInt64(header.recordCount) else {
            return .failure(
                .structure("offsets overflow: base offset \(header.baseOffset) + \(header.recordCount) records")
            )
        }
        guard header.maxTimestamp >= header.firstTimestamp || header.recordCount == 0 else {
            return .failure(.structure("max timestamp before first timestamp"))
        }
        return .success(header)
    }
}

/// Why a sequence of bytes is not a valid batch frame.
enum BatchDefect: Error, Equatable, CustomStringConvertible {
    case truncated
    case badMagic
    case unsupportedVersion(UInt16)
    case checksum
    case structure(String)

    var description: String {
        switch self {
        case .truncated: "batch frame truncated"
        case .badMagic: "bad batch magic"
        case .unsupportedVersion(let version): "unsupported batch format version \(version)"
        case .checksum: "batch checksum mismatch"
        case .structure(let reason): "malformed batch: \(reason)"
        }
    }
}

/// Hashing helpers for the chain.
enum ChainHash {
    /// SHA-256 of a whole frame (header including its CRC, then payload).
    static func of(_ frame: UnsafeRawBufferPointer) -> [UInt8] {
        Array(SHA256.hash(data: frame))
    }

    static func hex(_ hash: [UInt8]) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(hash.count * 2)
        for byte in hash {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return text
    }
}

/// SHA-256 for other modules (state digests), so that only the Ledger links swift-crypto.
public enum Digest {
    /// The lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { ChainHash.hex(ChainHash.of($0)) }
    }
}
