/// The batch decoder as one function of bytes, for the libFuzzer target `FuzzBatchDecoder` (and its replay
/// test): whatever the input, it returns or reports a defect; it never traps, overreads or hangs.
public enum BatchDecoderFuzzing {
    /// Decodes `input` as one batch frame followed by optional dictionary bytes.
    ///
    /// - Parameter fixChecksum: recompute the frame's CRC-32C first, so that random inputs get past the
    ///   checksum into the header checks, LZ4 decompression (with or without a dictionary) and the records
    ///   section; with false, only inputs with a correct CRC go further (what the log sees).
    /// - Returns: the records decoded, or nil for a defect.
    public static func decode(_ input: UnsafeRawBufferPointer, fixChecksum: Bool) -> Int? {
        var bytes = Array(input)
        return bytes.withUnsafeMutableBytes { raw -> Int? in
            if fixChecksum, case .success(let header) = BatchHeader.decode(UnsafeRawBufferPointer(raw)),
                raw.count >= header.frameBytes
            {
                let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<Layout.batchCRCIndex]))
                let crc = CRC32C.checksum(
                    UnsafeRawBufferPointer(rebasing: raw[Layout.batchHeaderBytes..<header.frameBytes]),
                    continuing: head
                )
                withUnsafeBytes(of: crc.littleEndian) {
                    raw.baseAddress!.advanced(by: Layout.batchCRCIndex).copyMemory(from: $0.baseAddress!, byteCount: 4)
                }
            }
            let frame = UnsafeRawBufferPointer(raw)
            guard case .success(let header) = BatchFrame.validate(frame) else { return nil }
            // Whatever follows the frame serves as the dictionary a frame may ask for.
            let rest = UnsafeRawBufferPointer(rebasing: frame[header.frameBytes...])
            let dictionary = rest.isEmpty ? nil : rest
            if header.isDictionary {
                guard case .success = BatchFrame.body(header: header, frame: frame, dictionary: dictionary) else {
                    return nil
                }
                return 0
            }
            var scratch: [UInt8] = []
            var records = 0
            var sum: UInt8 = 0
            let result = BatchFrame.decodeRecords(
                header: header,
                frame: frame,
                dictionary: dictionary,
                scratch: &scratch,
                from: 0
            ) { view in
                records += 1
                for byte in view.payload { sum &+= byte }  // every payload byte is read: a view past its buffer shows
                return .continue
            }
            guard case .success = result else { return nil }
            withExtendedLifetime(sum) {}  // the reads above are the point (the fuzzer runs unoptimized, under ASan)
            return records
        }
    }
}
