/// One record handed to a reader: its offset, its timestamp and a view of its payload bytes.
///
/// The payload view is valid only inside the closure that receives it (zero-copy replay).
public struct LogRecordView {
    /// The record's position in the log (assigned by the log, dense from 0).
    public let offset: UInt64
    /// Microseconds since the Unix epoch (UTC), as supplied by the appender or stamped by the log.
    public let timestamp: Int64
    /// The payload bytes, valid only during the callback.
    public let payload: UnsafeRawBufferPointer

    /// Copies the view into an owned record.
    public func copy() -> LogRecord {
        LogRecord(offset: self.offset, timestamp: self.timestamp, payload: Array(self.payload))
    }
}

/// An owned record read from the log.
public struct LogRecord: Sendable, Hashable {
    public let offset: UInt64
    public let timestamp: Int64
    public let payload: [UInt8]

    public init(offset: UInt64, timestamp: Int64, payload: [UInt8]) {
        self.offset = offset
        self.timestamp = timestamp
        self.payload = payload
    }
}

/// Builds batch frames. Owned by the writer thread; buffers are reused between batches.
struct BatchEncoder {
    private(set) var records: [UInt8] = []
    private(set) var recordCount: UInt32 = 0
    private(set) var firstTimestamp: Int64 = 0
    private(set) var maxTimestamp: Int64 = .min
    private var frame: [UInt8] = []

    init() {
        self.records.reserveCapacity(1 << 20)
        self.frame.reserveCapacity(1 << 20)
    }

    mutating func reset() {
        self.records.removeAll(keepingCapacity: true)
        self.recordCount = 0
        self.maxTimestamp = .min
    }

    var isEmpty: Bool { self.recordCount == 0 }

    /// Adds one record to the batch being built.
    mutating func add(timestamp: Int64, payload: UnsafeRawBufferPointer) {
        precondition(payload.count <= Layout.recordBytesMax)
        if self.recordCount == 0 { self.firstTimestamp = timestamp }
        self.records.appendVarint(zigZag(timestamp &- self.firstTimestamp))
        self.records.appendVarint(UInt64(payload.count))
        self.records.append(contentsOf: payload)
        self.recordCount += 1
        self.maxTimestamp = max(self.maxTimestamp, timestamp)
    }

    /// Encodes the records added so far as one frame.
    ///
    /// - Returns: the frame bytes (valid until the next call) and the frame's chain hash.
    mutating func encodeRecords(
        baseOffset: UInt64,
        previousHash: [UInt8],
        compressor: LZ4Compressor,
        dictionaryPosition: UInt32
    ) -> (frame: [UInt8], hash: [UInt8]) {
        precondition(self.recordCount > 0)
        precondition(self.records.count <= Layout.batchUncompressedBytesMax)
        let useDictionary = dictionaryPosition != 0 && compressor.hasDictionary
        let header = BatchHeader(
            codec: Layout.codecLZ4,
            flags: useDictionary ? Layout.flagUsesDictionary : 0,
            baseOffset: baseOffset,
            recordCount: self.recordCount,
            uncompressedBytes: UInt32(self.records.count),
            payloadBytes: 0,
            dictionaryPosition: useDictionary ? dictionaryPosition : 0,
            firstTimestamp: self.firstTimestamp,
            maxTimestamp: self.maxTimestamp,
            previousHash: previousHash
        )
        let records = self.records
        return records.withUnsafeBytes {
            self.seal(header: header, body: $0, compressor: compressor, dictionary: useDictionary)
        }
    }

    /// Encodes a dictionary control frame carrying `dictionary` (recordCount 0, consumes no offset).
    mutating func encodeDictionary(
        _ dictionary: [UInt8],
        baseOffset: UInt64,
        timestamp: Int64,
        previousHash: [UInt8],
        compressor: LZ4Compressor
    ) -> (frame: [UInt8], hash: [UInt8]) {
        precondition(!dictionary.isEmpty && dictionary.count <= LZ4Codec.dictionaryBytesMax)
        let header = BatchHeader(
            codec: Layout.codecLZ4,
            flags: Layout.flagDictionary,
            baseOffset: baseOffset,
            recordCount: 0,
            uncompressedBytes: UInt32(dictionary.count),
            payloadBytes: 0,
            dictionaryPosition: 0,
            firstTimestamp: timestamp,
            maxTimestamp: timestamp,
            previousHash: previousHash
        )
        return dictionary.withUnsafeBytes {
            self.seal(header: header, body: $0, compressor: compressor, dictionary: false)
        }
    }

    private mutating func seal(
        header: BatchHeader,
        body: UnsafeRawBufferPointer,
        compressor: LZ4Compressor,
        dictionary: Bool
    ) -> (frame: [UInt8], hash: [UInt8]) {
        var header = header
        self.frame.removeAll(keepingCapacity: true)
        self.frame.append(contentsOf: repeatElement(0, count: Layout.batchHeaderBytes))
        let payloadBytes = compressor.compress(body, appendingTo: &self.frame, useDictionary: dictionary)
        header.payloadBytes = UInt32(payloadBytes)
        header.write(into: &self.frame)
        let crc = self.frame.withUnsafeBytes { raw in
            let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<Layout.batchCRCIndex]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Layout.batchHeaderBytes...]), continuing: head)
        }
        self.frame.storeLittleEndian(crc, at: Layout.batchCRCIndex)
        let hash = self.frame.withUnsafeBytes { ChainHash.of($0) }
        // Paired assertion: what we are about to write must validate exactly as a reader will check it.
        assert(self.frame.withUnsafeBytes { BatchFrame.validate($0) } == .success(header))
        return (self.frame, hash)
    }
}

/// Validation and decoding of batch frames read from disk. Never traps on malformed input.
enum BatchFrame {
    /// Checks header structure, declared size and CRC-32C of a frame that starts at `raw[0]`.
    ///
    /// `raw` may extend past the frame; only `header.frameBytes` are checked.
    static func validate(_ raw: UnsafeRawBufferPointer) -> Result<BatchHeader, BatchDefect> {
        let header: BatchHeader
        switch BatchHeader.decode(raw) {
        case .failure(let defect): return .failure(defect)
        case .success(let decoded): header = decoded
        }
        guard raw.count >= header.frameBytes else { return .failure(.truncated) }
        let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<Layout.batchCRCIndex]))
        let crc = CRC32C.checksum(
            UnsafeRawBufferPointer(rebasing: raw[Layout.batchHeaderBytes..<header.frameBytes]),
            continuing: head
        )
        guard crc == raw.loadLittleEndian(at: Layout.batchCRCIndex, as: UInt32.self) else {
            return .failure(.checksum)
        }
        return .success(header)
    }

    /// Decompresses a validated frame's payload into `scratch` and calls `body` for each record.
    ///
    /// - Parameters:
    ///   - dictionary: the bytes of the dictionary batch named by `header.dictionaryPosition`, if any.
    ///   - from: records with a smaller offset are skipped without calling `body`.
    /// - Returns: `.stop` if `body` asked to stop, `.continue` otherwise, or a defect if the records
    ///   section does not match the header exactly.
    static func decodeRecords(
        header: BatchHeader,
        frame: UnsafeRawBufferPointer,
        dictionary: UnsafeRawBufferPointer?,
        scratch: inout [UInt8],
        from: UInt64,
        _ body: (LogRecordView) -> ScanControl
    ) -> Result<ScanControl, BatchDefect> {
        precondition(!header.isDictionary)
        let payload = UnsafeRawBufferPointer(rebasing: frame[Layout.batchHeaderBytes..<header.frameBytes])
        return Self.withBody(header: header, payload: payload, dictionary: dictionary, scratch: &scratch) { records in
            var cursor = ByteCursor(records)
            var offset = header.baseOffset
            var maxTimestamp = Int64.min
            for _ in 0..<header.recordCount {
                guard let delta = cursor.readVarint(), let length = cursor.readVarint() else {
                    return .failure(.structure("record header truncated at offset \(offset)"))
                }
                guard length <= UInt64(cursor.remaining) else {
                    return .failure(.structure("record at offset \(offset) overruns its batch"))
                }
                let timestamp = header.firstTimestamp &+ unZigZag(delta)
                maxTimestamp = max(maxTimestamp, timestamp)
                let start = cursor.index
                cursor.index += Int(length)
                if offset >= from {
                    let view = LogRecordView(
                        offset: offset,
                        timestamp: timestamp,
                        payload: UnsafeRawBufferPointer(rebasing: records[start..<cursor.index])
                    )
                    if body(view) == .stop { return .success(.stop) }
                }
                offset += 1
            }
            guard cursor.remaining == 0 else { return .failure(.structure("trailing bytes after the last record")) }
            guard maxTimestamp == header.maxTimestamp else {
                return .failure(.structure("record timestamps disagree with the header"))
            }
            return .success(.continue)
        }
    }

    /// Returns the decompressed body (records section, or dictionary bytes) of a validated frame.
    static func body(
        header: BatchHeader,
        frame: UnsafeRawBufferPointer,
        dictionary: UnsafeRawBufferPointer?
    ) -> Result<[UInt8], BatchDefect> {
        var scratch: [UInt8] = []
        let payload = UnsafeRawBufferPointer(rebasing: frame[Layout.batchHeaderBytes..<header.frameBytes])
        return Self.withBody(header: header, payload: payload, dictionary: dictionary, scratch: &scratch) {
            .success(Array($0))
        }
    }

    private static func withBody<T>(
        header: BatchHeader,
        payload: UnsafeRawBufferPointer,
        dictionary: UnsafeRawBufferPointer?,
        scratch: inout [UInt8],
        _ body: (UnsafeRawBufferPointer) -> Result<T, BatchDefect>
    ) -> Result<T, BatchDefect> {
        if header.codec == Layout.codecNone {
            guard payload.count == Int(header.uncompressedBytes) else {
                return .failure(.structure("stored payload size differs from its declared size"))
            }
            return body(payload)
        }
        let needsDictionary = header.flags & Layout.flagUsesDictionary != 0
        if needsDictionary && dictionary == nil { return .failure(.structure("dictionary missing")) }
        let size = Int(header.uncompressedBytes)
        if scratch.count < size { scratch = [UInt8](repeating: 0, count: max(size, scratch.count * 2)) }
        let ok = scratch.withUnsafeMutableBytes { target in
            LZ4Codec.decompress(
                payload,
                into: UnsafeMutableRawBufferPointer(rebasing: target[0..<size]),
                dictionary: needsDictionary ? dictionary : nil
            )
        }
        guard ok else { return .failure(.structure("LZ4 payload does not decompress to its declared size")) }
        return scratch.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
    }
}

/// Whether a scan should go on.
public enum ScanControl: Sendable {
    case `continue`
    case stop
}
