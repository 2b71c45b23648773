/// Reads consecutive batch frames from a segment file in large chunks.
///
/// Frames are validated (structure and CRC-32C) before they are handed out. Chunked `pread` keeps syscalls
/// to about one per MiB during replay; a frame larger than the chunk grows the buffer, bounded by the format's
/// frame size limit.
struct FrameReader {
    enum Step {
        case frame(BatchHeader, position: UInt64)
        case defect(BatchDefect, position: UInt64)
        case end
    }

    let handle: FileHandle
    /// Bytes of the file that may be read (the committed size).
    let limit: UInt64
    private(set) var position: UInt64
    private var buffer: [UInt8]
    private var bufferStart: UInt64 = 0
    private var bufferCount: Int = 0
    private let chunkBytes: Int

    init(handle: FileHandle, from position: UInt64, limit: UInt64, chunkBytes: Int = 1 << 20) {
        precondition(position <= limit || limit == 0)
        self.handle = handle
        self.position = position
        self.limit = limit
        self.chunkBytes = chunkBytes
        self.buffer = [UInt8](repeating: 0, count: chunkBytes)
    }

    /// Makes sure bytes `[position, position + count)` are in the buffer; false if the file ends first.
    private mutating func load(_ count: Int) throws(LedgerError) -> Bool {
        if self.position >= self.bufferStart,
            self.position + UInt64(count) <= self.bufferStart + UInt64(self.bufferCount)
        {
            return true
        }
        guard self.position + UInt64(count) <= self.limit else { return false }
        let want = Int(min(UInt64(max(count, self.chunkBytes)), self.limit - self.position))
        if self.buffer.count < want { self.buffer = [UInt8](repeating: 0, count: want) }
        let position = self.position
        let handle = self.handle
        let got = try typed {
            try self.buffer.withUnsafeMutableBytes { raw in
                try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: position)
            }
        }
        self.bufferStart = self.position
        self.bufferCount = got
        return got >= count
    }

    /// Advances to the next frame and calls `body` with it (the view is valid only during the call).
    ///
    /// On `.defect` or `.end` the reader does not move.
    mutating func next<R>(
        _ body: (BatchHeader, UInt64, UnsafeRawBufferPointer) -> R
    ) throws(LedgerError) -> (Step, R?) {
        if self.position >= self.limit { return (.end, nil) }
        guard try self.load(Layout.batchHeaderBytes) else { return (.defect(.truncated, position: self.position), nil) }
        let start = Int(self.position - self.bufferStart)
        let headerResult = self.buffer.withUnsafeBytes { raw in
            BatchHeader.decode(UnsafeRawBufferPointer(rebasing: raw[start..<(start + Layout.batchHeaderBytes)]))
        }
        guard case .success(let header) = headerResult else {
            if case .failure(let defect) = headerResult { return (.defect(defect, position: self.position), nil) }
            preconditionFailure("unreachable")
        }
        guard try self.load(header.frameBytes) else { return (.defect(.truncated, position: self.position), nil) }
        let frameStart = Int(self.position - self.bufferStart)
        let position = self.position
        let outcome: (Result<BatchHeader, BatchDefect>, R?) = self.buffer.withUnsafeBytes { raw in
            let frame = UnsafeRawBufferPointer(rebasing: raw[frameStart..<(frameStart + header.frameBytes)])
            let checked = BatchFrame.validate(frame)
            guard case .success(let valid) = checked else { return (checked, nil) }
            return (checked, body(valid, position, frame))
        }
        switch outcome.0 {
        case .failure(let defect): return (.defect(defect, position: self.position), nil)
        case .success(let valid):
            self.position += UInt64(valid.frameBytes)
            return (.frame(valid, position: position), outcome.1)
        }
    }
}
