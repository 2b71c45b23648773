/// Evidence that particular records are intact and chained: for an order's audit trail.
///
/// For each segment holding one of the records, the frames from the segment's start up to the frame after
/// the last wanted record are read: every frame's CRC-32C is checked, every frame's SHA-256 is recomputed,
/// and each frame's stored previous hash is compared with the hash of the frame before it (the first
/// frame with the segment header's anchor). A full end-to-end check is `LogVerifier` (`log verify`).
public struct RecordAttestation: Sendable, Equatable {
    /// Where one record lives and the hash of its frame.
    public struct Entry: Sendable, Equatable {
        public let offset: UInt64
        /// The segment file's name.
        public let segment: String
        /// Byte position of the record's frame in the segment.
        public let framePosition: UInt64
        /// SHA-256 of the record's frame (header and payload), lowercase hex.
        public let frameHash: String
        /// True when the next frame's stored previous hash equals `frameHash`; nil when the frame is the
        /// newest of the log (nothing links to it yet).
        public let linkedByNext: Bool?
    }

    public var entries: [Entry] = []
    /// Frames whose CRC and chain link were checked.
    public var framesChecked = 0
    /// Problems found, each naming the file and byte position; empty when everything checked out.
    public var problems: [String] = []
    public var ok: Bool { self.problems.isEmpty }
}

extension EventLog {
    /// Checks the frames holding `offsets` and their chain links (see `RecordAttestation`). Damage and offsets
    /// not yet committed are reported as problems (file and byte), not thrown; only an I/O failure throws.
    /// Blocking file reads: call off the cooperative pool.
    public func attest(offsets: [UInt64]) throws(LedgerError) -> RecordAttestation {
        var attestation = RecordAttestation()
        let wanted = Set(offsets)
        guard !wanted.isEmpty else { return attestation }
        let catalog = Catalog(segments: self.catalog.withLock { $0.segments }, lastHash: [])
        var bySegment: [Int: [UInt64]] = [:]
        for offset in wanted.sorted() {
            guard offset < catalog.nextOffset, let number = catalog.segmentIndex(containing: offset) else {
                attestation.problems.append("offset \(offset) is not in the log (next offset \(catalog.nextOffset))")
                continue
            }
            bySegment[number, default: []].append(offset)
        }
        for (number, segmentOffsets) in bySegment.sorted(by: { $0.key < $1.key }) {
            let segment = catalog.segments[number]
            let name = segment.path.split(separator: "/").last.map(String.init) ?? segment.path
            let header: SegmentHeader
            do {
                header = try SegmentHeader.decode(
                    try segment.handle.read(count: Layout.segmentHeaderBytes, at: 0),
                    path: segment.path
                )
            } catch {
                attestation.problems.append("\(segment.path) at byte \(error.position ?? 0): \(error.message)")
                continue
            }
            var previousHash = header.previousHash
            var reader = FrameReader(
                handle: segment.handle,
                from: UInt64(Layout.segmentHeaderBytes),
                limit: segment.committedBytes
            )
            let last = segmentOffsets.max() ?? 0
            var pending = Set(segmentOffsets)
            // Records whose frame was read, waiting for the next frame's link: (offset, frame position, frame hash).
            var awaitingLink: [(offset: UInt64, position: UInt64, hash: [UInt8])] = []
            scanning: while true {
                var frameHash: [UInt8] = []
                let (step, _) = try reader.next { _, _, frame in frameHash = ChainHash.of(frame) }
                switch step {
                case .end:
                    break scanning
                case .defect(let defect, let position):
                    attestation.problems.append("\(segment.path) at byte \(position): \(defect)")
                    break scanning
                case .frame(let header, let position):
                    attestation.framesChecked += 1
                    let linked = header.previousHash == previousHash
                    if !linked {
                        attestation.problems.append(
                            "\(segment.path) at byte \(position): chain broken (stored previous hash does not match the frame before)"
                        )
                    }
                    for entry in awaitingLink {
                        attestation.entries.append(
                            RecordAttestation.Entry(
                                offset: entry.offset,
                                segment: name,
                                framePosition: entry.position,
                                frameHash: ChainHash.hex(entry.hash),
                                linkedByNext: linked
                            )
                        )
                    }
                    awaitingLink.removeAll()
                    previousHash = frameHash
                    if !header.isDictionary {
                        for offset in pending where offset >= header.baseOffset && offset < header.nextOffset {
                            awaitingLink.append((offset, position, frameHash))
                        }
                        pending.subtract(awaitingLink.map(\.offset))
                    }
                    if pending.isEmpty && awaitingLink.isEmpty && header.nextOffset > last { break scanning }
                }
            }
            // Frames at the very end of the log have no successor yet; at the end of a sealed segment the
            // successor is the next segment's anchor.
            var successorAnchor: [UInt8]?
            if number + 1 < catalog.segments.count {
                let next = catalog.segments[number + 1]
                do {
                    successorAnchor = try SegmentHeader.decode(
                        try next.handle.read(count: Layout.segmentHeaderBytes, at: 0),
                        path: next.path
                    ).previousHash
                } catch {
                    attestation.problems.append("\(next.path) at byte \(error.position ?? 0): \(error.message)")
                }
            }
            for entry in awaitingLink {
                let linked = successorAnchor.map { $0 == entry.hash }
                if linked == false {
                    attestation.problems.append(
                        "\(catalog.segments[number + 1].path): anchor does not match the last frame of \(name)"
                    )
                }
                attestation.entries.append(
                    RecordAttestation.Entry(
                        offset: entry.offset,
                        segment: name,
                        framePosition: entry.position,
                        frameHash: ChainHash.hex(entry.hash),
                        linkedByNext: linked
                    )
                )
            }
            for offset in pending.sorted() {
                attestation.problems.append("offset \(offset) was not found in \(segment.path)")
            }
        }
        attestation.entries.sort { $0.offset < $1.offset }
        return attestation
    }
}
