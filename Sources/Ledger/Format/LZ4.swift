internal import CLZ4

/// LZ4 block compression with an optional dictionary.
///
/// A compressor is single-threaded state (the writer thread owns one). With a dictionary, the dictionary is
/// hashed once into a template stream and the template's state is copied before each batch: liblz4 1.9.4
/// does not export `LZ4_attach_dictionary`, and re-running `LZ4_loadDict` on 64 KiB per batch would cost
/// more than compressing a 100-event batch. Copying an `LZ4_stream_t` is plain memory (no owned pointers
/// besides the dictionary, which this type keeps alive).
final class LZ4Compressor {
    private let working: UnsafeMutableRawPointer
    private let template: UnsafeMutableRawPointer
    private let streamSize: Int
    private var dictionary: UnsafeMutableRawBufferPointer?

    init() {
        self.streamSize = Int(LZ4_sizeofState())
        precondition(self.streamSize >= MemoryLayout<LZ4_stream_t>.size)
        self.working = .allocate(byteCount: self.streamSize, alignment: 16)
        self.template = .allocate(byteCount: self.streamSize, alignment: 16)
        _ = LZ4_initStream(self.working, self.streamSize)
        _ = LZ4_initStream(self.template, self.streamSize)
    }

    deinit {
        self.working.deallocate()
        self.template.deallocate()
        self.dictionary?.deallocate()
    }

    /// Installs (or, with an empty array, removes) the dictionary used by later `compress` calls.
    func setDictionary(_ bytes: [UInt8]) {
        self.dictionary?.deallocate()
        self.dictionary = nil
        _ = LZ4_initStream(self.template, self.streamSize)
        guard !bytes.isEmpty else { return }
        precondition(bytes.count <= LZ4Codec.dictionaryBytesMax)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        copy.copyBytes(from: bytes)
        self.dictionary = copy
        let loaded = LZ4_loadDict(
            self.template.assumingMemoryBound(to: LZ4_stream_t.self),
            copy.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(bytes.count)
        )
        precondition(loaded > 0, "LZ4_loadDict loaded nothing from a non-empty dictionary")
    }

    /// Compresses `source` and appends the result to `target`; returns the compressed byte count.
    func compress(_ source: UnsafeRawBufferPointer, appendingTo target: inout [UInt8], useDictionary: Bool) -> Int {
        precondition(source.count <= Int(LZ4_MAX_INPUT_SIZE))
        let bound = Int(LZ4_compressBound(Int32(source.count)))
        let start = target.count
        target.reserveCapacity(start + bound)
        target.append(contentsOf: repeatElement(0, count: bound))
        let written = target.withUnsafeMutableBytes { output -> Int32 in
            let destination = (output.baseAddress! + start).assumingMemoryBound(to: CChar.self)
            let input = source.baseAddress?.assumingMemoryBound(to: CChar.self)
            if useDictionary, self.dictionary != nil {
                self.working.copyMemory(from: self.template, byteCount: self.streamSize)
                return LZ4_compress_fast_continue(
                    self.working.assumingMemoryBound(to: LZ4_stream_t.self),
                    input,
                    destination,
                    Int32(source.count),
                    Int32(bound),
                    1
                )
            }
            return LZ4_compress_default(input, destination, Int32(source.count), Int32(bound))
        }
        // A compression bound that fails to hold is a liblz4 bug, never an input problem.
        precondition(written > 0 || source.count == 0, "LZ4 compression failed within its own bound")
        target.removeLast(bound - Int(written))
        return Int(written)
    }

    /// True when a dictionary is installed.
    var hasDictionary: Bool { self.dictionary != nil }
}

enum LZ4Codec {
    /// LZ4's window is 64 KiB; a longer dictionary is useless.
    static let dictionaryBytesMax = 65_536

    /// Decompresses `source` into exactly `target.count` bytes; false on any corruption or size mismatch.
    static func decompress(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer,
        dictionary: UnsafeRawBufferPointer?
    ) -> Bool {
        guard source.count <= Int(Int32.max), target.count <= Int(Int32.max) else { return false }
        if target.count == 0 { return source.count == 1 && source[0] == 0 || source.isEmpty }
        guard let input = source.baseAddress, let output = target.baseAddress else { return false }
        let result: Int32
        if let dictionary, let dictionaryBase = dictionary.baseAddress, dictionary.count > 0 {
            result = LZ4_decompress_safe_usingDict(
                input.assumingMemoryBound(to: CChar.self),
                output.assumingMemoryBound(to: CChar.self),
                Int32(source.count),
                Int32(target.count),
                dictionaryBase.assumingMemoryBound(to: CChar.self),
                Int32(dictionary.count)
            )
        } else {
            result = LZ4_decompress_safe(
                input.assumingMemoryBound(to: CChar.self),
                output.assumingMemoryBound(to: CChar.self),
                Int32(source.count),
                Int32(target.count)
            )
        }
        return result == Int32(target.count)
    }
}
