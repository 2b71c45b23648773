import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Runtime
import Storage

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Append to, inspect, verify, dump and follow the event log.",
        subcommands: [
            AppendCommand.self, InspectCommand.self, VerifyCommand.self, DumpCommand.self, TailCommand.self,
        ]
    )
}

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract:
            "Append newline-delimited payloads from standard input, durably, in batches; print the committed offsets."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "every-batch (default), none, or interval-<ms>.") var durability = "every-batch"
    @Option(help: "Records per append (one group commit each).") var batch = 4096
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        guard let policy = LogConfiguration.Durability(parsing: self.durability) else {
            throw ValidationError("--durability must be every-batch, none or interval-<ms>")
        }
        guard self.batch > 0 else { throw ValidationError("--batch must be positive") }
        var configuration = LogConfiguration()
        configuration.durability = policy
        let eventLog = try EventLog(directory: self.log.path, configuration: configuration)
        defer { eventLog.close() }
        let started = monotonicNanos()
        var first: UInt64?
        var last: UInt64?
        var count = 0
        var pending = AppendBatch(capacityBytes: 1 << 20)
        var lineNumber = 0
        let flushBytes = configuration.batchBytesMax / 2
        for try await line in LineReader(handle: .standardInput) {
            lineNumber += 1
            if line.isEmpty { continue }
            guard line.count <= 4 << 20 else {
                throw CommandFailure("line \(lineNumber) is \(line.count) bytes; a record may hold at most 4 MiB")
            }
            pending.append(line)
            if pending.count >= self.batch || pending.byteCount >= flushBytes {
                let result = try await eventLog.append(pending)
                first = first ?? result.firstOffset
                last = result.lastOffset
                count += result.count
                pending.removeAll()
            }
        }
        if !pending.isEmpty {
            let result = try await eventLog.append(pending)
            first = first ?? result.firstOffset
            last = result.lastOffset
            count += result.count
        }
        let seconds = Double(monotonicNanos() - started) / 1e9
        if self.json {
            print(
                Format.json([
                    "appended": count, "firstOffset": first.map { Int($0) } as Any,
                    "lastOffset": last.map { Int($0) } as Any, "nextOffset": Int(eventLog.nextOffset),
                    "seconds": seconds, "durability": policy.description,
                ])
            )
        } else if let first, let last {
            print(
                "appended \(count) records at offsets \(first)...\(last) (\(policy), \(String(format: "%.2f", seconds)) s, \(Format.number(Double(count) / max(seconds, 1e-9))) records/s); next offset \(eventLog.nextOffset)"
            )
        } else {
            print("nothing to append (standard input had no non-empty lines); next offset \(eventLog.nextOffset)")
        }
    }
}

/// Reads lines (without the newline, and without a trailing CR) from a file handle in 1 MiB chunks.
struct LineReader: AsyncSequence {
    typealias Element = [UInt8]
    let handle: FileHandle

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        var buffer: [UInt8] = []
        var index = 0
        var finished = false

        mutating func next() async throws -> [UInt8]? {
            while true {
                if let newline = self.buffer[self.index...].firstIndex(of: UInt8(ascii: "\n")) {
                    var line = Array(self.buffer[self.index..<newline])
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    self.index = newline + 1
                    return line
                }
                if self.finished {
                    guard self.index < self.buffer.count else { return nil }
                    let line = Array(self.buffer[self.index...])
                    self.index = self.buffer.count
                    return line
                }
                let chunk = try self.handle.read(upToCount: 1 << 20) ?? Data()
                self.buffer.removeFirst(self.index)
                self.index = 0
                if chunk.isEmpty { self.finished = true } else { self.buffer.append(contentsOf: chunk) }
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: self.handle) }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show segments, offsets, time range, sizes on disk and the compression ratio."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Flag(help: "Print machine-readable JSON.") var json = false

    func run() throws {
        let report = try LogVerifier.verify(directory: self.log.path, decodeRecords: false)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: self.log.path)) ?? []
        func size(_ name: String) -> UInt64 {
            ((try? FileManager.default.attributesOfItem(atPath: self.log.path + "/" + name)[.size]) as? NSNumber)?
                .uint64Value ?? 0
        }
        let indexBytes = files.filter { $0.hasSuffix(".index") || $0.hasSuffix(".timeindex") }.reduce(0) {
            $0 + size($1)
        }
        let snapshotNames = (try? FileManager.default.contentsOfDirectory(atPath: self.log.path + "/snapshots")) ?? []
        let snapshotBytes = snapshotNames.reduce(UInt64(0)) { $0 + size("snapshots/" + $1) }
        let total = report.segmentBytes + indexBytes + snapshotBytes
        let ratio = report.segmentBytes > 0 ? Double(report.uncompressedBytes) / Double(report.segmentBytes) : 0
        let perRecord = report.records > 0 ? Double(report.segmentBytes) / Double(report.records) : 0
        let disk = try? DiskUsage.of(self.log.path)
        if self.json {
            print(
                Format.json([
                    "directory": self.log.path,
                    "segments": report.segmentDetails.map { segment in
                        [
                            "file": segment.path, "baseOffset": Int(segment.baseOffset),
                            "nextOffset": Int(segment.nextOffset),
                            "records": Int(segment.nextOffset - segment.baseOffset), "bytes": Int(segment.bytes),
                            "frames": segment.recordFrames, "dictionaryFrames": segment.dictionaryFrames,
                            "uncompressedBytes": Int(segment.uncompressedBytes), "sealed": segment.sealed,
                            "firstTimestamp": segment.firstTimestamp.map(Format.timestamp) as Any,
                            "lastTimestamp": segment.maxTimestamp.map(Format.timestamp) as Any,
                        ] as [String: Any]
                    },
                    "records": Int(report.records), "nextOffset": Int(report.nextOffset),
                    "firstTimestamp": report.firstTimestamp.map(Format.timestamp) as Any,
                    "lastTimestamp": report.maxTimestamp.map(Format.timestamp) as Any,
                    "segmentBytes": Int(report.segmentBytes), "indexBytes": Int(indexBytes),
                    "snapshotBytes": Int(snapshotBytes),
                    "totalBytes": Int(total), "uncompressedBytes": Int(report.uncompressedBytes),
                    "compressionRatio": ratio,
                    "bytesPerRecord": perRecord, "snapshots": report.snapshots, "headHash": report.headHash,
                    "filesystemAvailableBytes": disk.map { Int($0.availableBytes) } as Any,
                    "filesystemSizeBytes": disk.map { Int($0.totalBytes) } as Any,
                    "problems": report.problems.map(\.description),
                ])
            )
            return
        }
        print("log        \(self.log.path)")
        print(
            "records    \(report.records) (offsets 0...\(report.nextOffset == 0 ? "-" : String(report.nextOffset - 1)), next \(report.nextOffset))"
        )
        if let first = report.firstTimestamp, let last = report.maxTimestamp {
            print("time       \(Format.timestamp(first)) .. \(Format.timestamp(last))")
        }
        print(
            "on disk    \(Format.bytes(total)) = segments \(Format.bytes(report.segmentBytes)) + indexes \(Format.bytes(indexBytes)) + snapshots \(Format.bytes(snapshotBytes)) (\(report.snapshots))"
        )
        print(
            "payloads   \(Format.bytes(report.uncompressedBytes)) uncompressed; ratio \(String(format: "%.2f", ratio))x; \(String(format: "%.1f", perRecord)) bytes per record on disk"
        )
        if let disk {
            print(
                "file system \(Format.bytes(disk.availableBytes)) available of \(Format.bytes(disk.totalBytes)) (\(String(format: "%.0f", disk.usedFraction * 100))% used)"
            )
        }
        print("chain head \(report.headHash)")
        print("")
        print("segment                      base offset     records      frames       bytes  sealed  last record")
        for segment in report.segmentDetails {
            let name = (segment.path as NSString).lastPathComponent
            print(
                name.padding(toLength: 26, withPad: " ", startingAt: 0),
                String(segment.baseOffset).leftPadded(14),
                String(segment.nextOffset - segment.baseOffset).leftPadded(11),
                String(segment.recordFrames + segment.dictionaryFrames).leftPadded(11),
                Format.bytes(segment.bytes).leftPadded(11),
                (segment.sealed ? "yes" : "open").leftPadded(7),
                " " + (segment.maxTimestamp.map(Format.timestamp) ?? "-")
            )
        }
        for problem in report.problems { print(problem.description) }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        self.count >= width ? self : String(repeating: " ", count: width - self.count) + self
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check every checksum, every record and the whole hash chain; exit 1 naming the first bad file and byte."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Flag(help: "Print machine-readable JSON.") var json = false

    func run() throws {
        let started = monotonicNanos()
        let report = try LogVerifier.verify(directory: self.log.path)
        let seconds = Double(monotonicNanos() - started) / 1e9
        if self.json {
            print(
                Format.json([
                    "valid": report.isValid, "segments": report.segments, "frames": report.recordFrames,
                    "dictionaryFrames": report.dictionaryFrames, "records": Int(report.records),
                    "nextOffset": Int(report.nextOffset),
                    "segmentBytes": Int(report.segmentBytes), "snapshots": report.snapshots,
                    "headHash": report.headHash,
                    "seconds": seconds,
                    "firstError": report.firstError.map {
                        ["file": $0.path, "position": $0.position.map { Int($0) } as Any, "message": $0.message]
                            as [String: Any]
                    } as Any,
                    "problems": report.problems.map {
                        [
                            "severity": $0.severity.rawValue, "file": $0.path,
                            "position": $0.position.map { Int($0) } as Any, "message": $0.message,
                        ] as [String: Any]
                    },
                ])
            )
        } else {
            for problem in report.problems { print(problem.description) }
            let verdict = report.isValid ? "OK" : "FAILED"
            print(
                "\(verdict): \(report.segments) segments, \(report.recordFrames) batches, \(report.records) records, \(report.snapshots) snapshots checked in \(String(format: "%.2f", seconds)) s; chain head \(report.headHash)"
            )
        }
        if !report.isValid { throw ExitCode(1) }
    }
}

/// Shared selection of a record range by offsets or times.
struct RangeOptions: ParsableArguments {
    @Option(help: "First offset (inclusive).") var from: UInt64?
    @Option(help: "Last offset (exclusive).") var to: UInt64?
    @Option(help: "First record time: ISO 8601 (2025-01-02T09:00:00+09:00) or epoch microseconds.") var since: String?
    @Option(help: "End time (exclusive), same forms as --since.") var until: String?

    func resolve(in log: EventLog) throws -> (UInt64, UInt64) {
        var start = self.from ?? 0
        var end = self.to ?? log.nextOffset
        if let since = self.since {
            guard let micros = Format.parseTime(since) else { throw ValidationError("cannot read --since \(since)") }
            start = max(start, try log.offset(atOrAfterTimestamp: micros))
        }
        if let until = self.until {
            guard let micros = Format.parseTime(until) else { throw ValidationError("cannot read --until \(until)") }
            end = min(end, try log.offset(atOrAfterTimestamp: micros))
        }
        return (start, max(start, end))
    }
}

/// One record as a line of JSON: an engine event with its envelope, or offset, ISO timestamp and the payload
/// (embedded JSON, else base64) for other records.
func recordLine(offset: UInt64, timestamp: Int64, payload: [UInt8]) -> String {
    if payload.first == EventCodec.marker,
        let event = try? EventCodec.decode(payload, offset: offset, timestamp: timestamp)
    {
        return event.json()
    }
    let (key, value) = Format.payloadJSON(payload)
    return "{\"offset\":\(offset),\"timestamp\":\"\(Format.timestamp(timestamp))\",\"\(key)\":\(value)}"
}

struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print records as JSON lines, by offset range or time range."
    )

    @OptionGroup var log: LogDirectoryOptions
    @OptionGroup var range: RangeOptions
    @Option(help: "Print at most this many records.") var limit: Int?

    func run() throws {
        let eventLog = try EventLog(directory: self.log.path, readOnly: true)
        let (start, end) = try self.range.resolve(in: eventLog)
        var printed = 0
        var output = ""
        try eventLog.scan(from: start, to: end) { view in
            output += recordLine(offset: view.offset, timestamp: view.timestamp, payload: Array(view.payload))
            output += "\n"
            printed += 1
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
            return self.limit.map { printed >= $0 ? .stop : .continue } ?? .continue
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the last records as JSON lines; with -f, keep following new commits."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option(name: .short, help: "How many of the last records to print first.") var n: UInt64 = 10
    @Option(help: "Start at this offset instead of the last -n records.") var from: UInt64?
    @Flag(name: .short, help: "Follow: wait for and print new records until interrupted.") var follow = false

    func run() async throws {
        let eventLog = try EventLog(directory: self.log.path, readOnly: true)
        let head = eventLog.nextOffset
        let start = self.from ?? (head > self.n ? head - self.n : 0)
        if !self.follow {
            try eventLog.scan(from: start) { view in
                print(recordLine(offset: view.offset, timestamp: view.timestamp, payload: Array(view.payload)))
                return .continue
            }
            return
        }
        for try await record in eventLog.tail(from: start) {
            writeLine(recordLine(offset: record.offset, timestamp: record.timestamp, payload: record.payload))
        }
    }
}
