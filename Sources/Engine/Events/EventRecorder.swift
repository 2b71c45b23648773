public import Ledger

/// Collects decided events as log records (binary-encoded, stamped with their time) and keeps the offsets
/// they will get, for a single writer of a fresh or known log (backtests, the demo, the live runtime).
public struct EventRecorder: Sendable {
    public private(set) var batch = AppendBatch(capacityBytes: 1 << 20)
    /// The offset the next recorded event will have.
    public private(set) var nextOffset: UInt64
    private var writer = BinaryWriter(capacity: 128)

    public init(nextOffset: UInt64) { self.nextOffset = nextOffset }

    /// Records an event; returns its offset.
    @discardableResult
    public mutating func record(_ envelope: EventEnvelope) -> UInt64 {
        defer { self.nextOffset += 1 }
        // Encoded on the stack, appended once (raw bytes: the generic Collection overload is not specialised
        // across modules); an event too long for the scratch (long texts) takes the growing writer.
        let done = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.scratchBytes) { buffer in
            var scratch = ScratchWriter(buffer)
            EventCodec.encode(envelope, into: &scratch)
            guard !scratch.overflowed else { return false }
            self.batch.append(bytes: scratch.written, timestamp: envelope.timestamp)
            return true
        }
        if !done {
            self.writer.bytes.removeAll(keepingCapacity: true)
            EventCodec.encode(envelope, into: &self.writer)
            self.writer.bytes.withUnsafeBytes { self.batch.append(bytes: $0, timestamp: envelope.timestamp) }
        }
        return self.nextOffset
    }

    /// Records `envelopes` in order and hands them over in batches of about a megabyte each — what one append
    /// to a log may take (`LogConfiguration.batchBytesMax` is 4 MiB; an event is at most a few kilobytes).
    /// `appendingTo`: each batch as it fills; its room is used again for the next one once it returns.
    public mutating func record(
        _ envelopes: [EventEnvelope],
        appendingTo append: (AppendBatch) async throws -> Void
    ) async rethrows {
        var spare: AppendBatch?
        for index in envelopes.indices {
            self.record(envelopes[index])  // borrowed from the array: a loop's binding would copy each event
            if self.batch.byteCount >= Self.batchBytes {
                let full = self.take(reusing: spare.take())
                try await append(full)
                spare = full
            }
        }
        if !self.batch.isEmpty { try await append(self.take(reusing: spare.take())) }
    }

    /// `record(_:appendingTo:)` collecting the batches.
    public mutating func split(_ envelopes: [EventEnvelope]) -> [AppendBatch] {
        var batches: [AppendBatch] = []
        for index in envelopes.indices {
            self.record(envelopes[index])
            if self.batch.byteCount >= Self.batchBytes { batches.append(self.take()) }
        }
        if !self.batch.isEmpty { batches.append(self.take()) }
        return batches
    }

    /// The size at which `record(_:appendingTo:)` and `split` hand a batch over.
    public static let batchBytes = 1 << 20

    /// Room for an event on the stack: every event without long texts.
    static let scratchBytes = 512

    /// Hands over the records collected so far and starts a new batch — in `spare` (emptied, its room kept) when
    /// given: a batch the log has written, handed back so that every megabyte does not come from fresh pages.
    public mutating func take(reusing spare: consuming AppendBatch? = nil) -> AppendBatch {
        // Owned and moved: a borrowed batch bound to a variable would be shared, and emptying it would copy it.
        var next = (consume spare) ?? AppendBatch(capacityBytes: 1 << 20)
        next.removeAll()
        swap(&next, &self.batch)
        return next
    }
}
