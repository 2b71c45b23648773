import Ledger

/// libFuzzer entry: the log's batch decoder on arbitrary bytes (CRC fixed up half of the time, so the
/// fuzzer reaches LZ4 and the records section). Built only with `--sanitize=fuzzer` (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    _ = BatchDecoderFuzzing.decode(input, fixChecksum: count % 2 == 0)
    _ = BatchDecoderFuzzing.decode(input, fixChecksum: true)
    return 0
}
