/// A full pass over one segment's frames, checking everything that can be checked without other segments.
///
/// Used by recovery (the open segment), by index rebuilds (sealed segments whose index is missing or
/// damaged) and by `verify` (every segment, with record decoding).
struct SegmentScan {
    var validBytes: UInt64
    var nextOffset: UInt64
    var maxTimestamp: Int64 = .min
    var lastHash: [UInt8]
    var dictionaryPosition: UInt32 = 0
    var index = SegmentIndex()
    /// The first frame that failed a check, and where.
    var defect: (BatchDefect, position: UInt64)?
    var recordFrames = 0
    var dictionaryFrames = 0
    var records: UInt64 = 0
    var uncompressedBytes: UInt64 = 0
    var firstTimestamp: Int64?

    /// Scans `[headerBytes, limit)` of a segment.
    ///
    /// - Parameters:
    ///   - header: the segment's decoded header (base offset and chain anchor).
    ///   - decode: also decompress and decode every record (what `verify` does); recovery only needs CRCs.
    static func run(
        handle: FileHandle,
        header: SegmentHeader,
        limit: UInt64,
        indexIntervalBytes: UInt32,
        decode: Bool
    ) throws(LedgerError) -> SegmentScan {
        var scan = SegmentScan(
            validBytes: UInt64(Layout.segmentHeaderBytes),
            nextOffset: header.baseOffset,
            lastHash: header.previousHash
        )
        var reader = FrameReader(handle: handle, from: UInt64(Layout.segmentHeaderBytes), limit: limit)
        var lastIndexedPosition: UInt64?
        var dictionaries: [UInt32: [UInt8]] = [:]
        var scratch: [UInt8] = []
        var hashMismatch = false
        var recordDefect: BatchDefect?
        while true {
            let expectedOffset = scan.nextOffset
            let previousHash = scan.lastHash
            let (step, hash) = try reader.next { header, position, frame -> [UInt8]? in
                guard header.baseOffset == expectedOffset, header.previousHash == previousHash else {
                    hashMismatch = header.previousHash != previousHash
                    return nil
                }
                if decode {
                    if header.isDictionary {
                        if case .success(let body) = BatchFrame.body(header: header, frame: frame, dictionary: nil) {
                            dictionaries[UInt32(position)] = body
                        } else {
                            recordDefect = .structure("dictionary payload does not decompress")
                            return nil
                        }
                    } else {
                        let dictionary = dictionaries[header.dictionaryPosition]
                        let decoded = dictionary.withBufferIfPresent { dictionaryBytes in
                            BatchFrame.decodeRecords(
                                header: header,
                                frame: frame,
                                dictionary: dictionaryBytes,
                                scratch: &scratch,
                                from: 0
                            ) { _ in .continue }
                        }
                        if case .failure(let defect) = decoded {
                            recordDefect = defect
                            return nil
                        }
                    }
                }
                return ChainHash.of(frame)
            }
            switch step {
            case .end:
                return scan
            case .defect(let defect, let position):
                scan.defect = (defect, position)
                return scan
            case .frame(let frame, let position):
                guard let hash = hash ?? nil else {
                    let reason: BatchDefect
                    if let recordDefect {
                        reason = recordDefect
                    } else if hashMismatch {
                        reason = .structure("chain broken: previous-hash field does not match the preceding batch")
                    } else {
                        reason = .structure("offset \(frame.baseOffset) where \(expectedOffset) was expected")
                    }
                    scan.defect = (reason, position)
                    return scan
                }
                if frame.isDictionary {
                    scan.dictionaryFrames += 1
                    scan.dictionaryPosition = UInt32(position)
                } else {
                    guard frame.dictionaryPosition == 0 || frame.dictionaryPosition == scan.dictionaryPosition else {
                        scan.defect = (
                            .structure("batch names a dictionary that is not the segment's current one"), position
                        )
                        return scan
                    }
                    if lastIndexedPosition.map({ position - $0 >= UInt64(indexIntervalBytes) }) ?? true {
                        scan.index.add(
                            relativeOffset: UInt32(frame.baseOffset - header.baseOffset),
                            position: UInt32(position),
                            maxTimestampBefore: scan.maxTimestamp
                        )
                        lastIndexedPosition = position
                    }
                    scan.recordFrames += 1
                    scan.records += UInt64(frame.recordCount)
                    scan.uncompressedBytes += UInt64(frame.uncompressedBytes)
                    scan.maxTimestamp = max(scan.maxTimestamp, frame.maxTimestamp)
                    if scan.firstTimestamp == nil { scan.firstTimestamp = frame.firstTimestamp }
                }
                scan.nextOffset = frame.nextOffset
                scan.lastHash = hash
                scan.validBytes = position + UInt64(frame.frameBytes)
            }
        }
    }

    /// Looks for any valid frame at or after `position`: if one exists, damage before it is not a torn tail.
    static func validFrameExists(handle: FileHandle, after position: UInt64, limit: UInt64) throws(LedgerError)
        -> UInt64?
    {
        guard limit > position + 1 else { return nil }
        let bytes = try handle.read(count: Int(limit - position), at: position)
        return bytes.withUnsafeBytes { raw -> UInt64? in
            var index = 1
            while index + Layout.batchHeaderBytes <= raw.count {
                if raw.loadLittleEndian(at: index, as: UInt32.self) == Layout.batchMagic,
                    case .success = BatchFrame.validate(UnsafeRawBufferPointer(rebasing: raw[index...]))
                {
                    return position + UInt64(index)
                }
                index += 1
            }
            return nil
        }
    }
}

extension Optional where Wrapped == [UInt8] {
    /// Calls `body` with a view of the bytes, or nil.
    func withBufferIfPresent<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .some(let bytes): bytes.withUnsafeBytes { body($0) }
        case .none: body(nil)
        }
    }
}
