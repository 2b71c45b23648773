import Foundation
import Testing

@testable import Ledger

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite struct CommandLineTests {
    static func corpusLines(_ count: Int, from start: Int = 0) -> String {
        (start..<(start + count)).map { index in
            "{\"type\":\"CandleClosed\",\"v\":1,\"stock\":\"\(String(format: "%06d", index % 50))\",\"tf\":\"1m\",\"ts\":\(1_735_693_200 + index),\"o\":71000,\"h\":71100,\"l\":70900,\"c\":71000,\"vol\":\(index)}"
        }.joined(separator: "\n") + "\n"
    }

    @Test func appendInspectVerifyDump() async throws {
        let directory = TemporaryDirectory("cli")
        let (status, output, errors) = try await runStockboom(
            ["log", "append", "--dir", directory.path, "--batch", "100", "--json"],
            input: Self.corpusLines(5_000)
        )
        #expect(status == 0, "\(errors)")
        let appended = try jsonObject(output)
        #expect(appended["appended"] as? Int == 5_000)
        #expect(appended["firstOffset"] as? Int == 0)
        #expect(appended["lastOffset"] as? Int == 4_999)

        let (inspectStatus, inspectOutput, _) = try await runStockboom([
            "log", "inspect", "--dir", directory.path, "--json",
        ])
        #expect(inspectStatus == 0)
        let inspected = try jsonObject(inspectOutput)
        #expect(inspected["records"] as? Int == 5_000)
        #expect((inspected["compressionRatio"] as? Double ?? 0) > 3)
        #expect((inspected["segments"] as? [[String: Any]])?.count == 1)

        let (verifyStatus, verifyOutput, _) = try await runStockboom([
            "log", "verify", "--dir", directory.path, "--json",
        ])
        #expect(verifyStatus == 0)
        #expect(try jsonObject(verifyOutput)["valid"] as? Bool == true)

        let (_, dumped, _) = try await runStockboom([
            "log", "dump", "--dir", directory.path, "--from", "10", "--to", "13",
        ])
        let lines = dumped.split(separator: "\n")
        #expect(lines.count == 3)
        let first = try jsonObject(String(lines[0]))
        #expect(first["offset"] as? Int == 10)
        #expect((first["payload"] as? [String: Any])?["vol"] as? Int == 10)

        // Appending again continues the offsets.
        let (_, again, _) = try await runStockboom(
            ["log", "append", "--dir", directory.path, "--json"],
            input: Self.corpusLines(10, from: 5_000)
        )
        #expect(try jsonObject(again)["firstOffset"] as? Int == 5_000)
        let (_, tail, _) = try await runStockboom(["log", "tail", "--dir", directory.path, "-n", "2"])
        #expect(
            tail.split(separator: "\n").compactMap { try? jsonObject(String($0))["offset"] as? Int } == [5_008, 5_009]
        )
    }

    @Test func dumpSelectsByTime() async throws {
        let directory = TemporaryDirectory("cli")
        let log = try EventLog(directory: directory.path)
        for minute in 0..<10 {
            _ = try await log.append(
                Array("{\"minute\":\(minute)}".utf8),
                timestamp: 1_735_776_000_000_000 + Int64(minute) * 60_000_000
            )
        }
        log.close()
        let (status, output, errors) = try await runStockboom([
            "log", "dump", "--dir", directory.path, "--since", "2025-01-02T09:03:00+09:00", "--until",
            "2025-01-02T09:05:00+09:00",
        ])
        #expect(status == 0, "\(errors)")
        let minutes = output.split(separator: "\n").compactMap {
            try? (jsonObject(String($0))["payload"] as? [String: Any])?["minute"] as? Int
        }
        #expect(minutes == [3, 4])
        #expect(output.contains("\"timestamp\":\"2025-01-02T00:03:00.000000Z\""))
    }

    @Test func verifyFailsNamingTheFileAndByte() async throws {
        let directory = TemporaryDirectory("cli")
        _ = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: ".log")[1]
        let victim = try framePositions(target)[2]
        try flipByte(at: victim.position + 100, in: target)
        let (status, output, _) = try await runStockboom(["log", "verify", "--dir", directory.path])
        #expect(status == 1)
        #expect(output.contains("error: \(target) at byte \(victim.position)"))
        let (jsonStatus, json, _) = try await runStockboom(["log", "verify", "--dir", directory.path, "--json"])
        #expect(jsonStatus == 1)
        let firstError = try #require(try jsonObject(json)["firstError"] as? [String: Any])
        #expect(firstError["file"] as? String == target)
        #expect(firstError["position"] as? Int == Int(victim.position))
    }

    @Test func malformedInputGetsAClearError() async throws {
        let (status, _, errors) = try await runStockboom([
            "log", "append", "--dir", TemporaryDirectory("cli").path, "--durability", "sometimes",
        ])
        #expect(status != 0)
        #expect(errors.contains("--durability"))
        let (missing, _, missingErrors) = try await runStockboom(["log", "inspect", "--dir", "/nonexistent/stockboom"])
        #expect(missing != 0)
        #expect(missingErrors.contains("/nonexistent/stockboom"))
    }

    @Test func tailFollowsAWriterInAnotherProcess() async throws {
        let directory = TemporaryDirectory("cli")
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 16 << 10  // the follower must cross segment rolls too
        let log = try EventLog(directory: directory.path, configuration: configuration)
        _ = try await log.append(Array("{\"n\":0}".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        process.arguments = ["log", "tail", "--dir", directory.path, "--from", "0", "-f"]
        process.environment = ["SWIFT_BACKTRACE": "enable=no"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { process.terminate() }
        for index in 1..<600 {
            var batch = AppendBatch()
            batch.append(Array("{\"n\":\(index),\"pad\":\"\(String(repeating: "x", count: index % 97))\"}".utf8))
            _ = try await log.append(batch)
        }
        // A watchdog, from the last append on (600 fsyncs can take longer than 30 s on a loaded machine): if the
        // follower hangs, terminating it ends the blocking reads below with EOF.
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) { if process.isRunning { process.terminate() } }
        var seen: [Int] = []
        var buffer = Data()
        while seen.count < 600 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                if let offset = try? jsonObject(line)["offset"] as? Int { seen.append(offset) }
            }
        }
        #expect(seen == Array(0..<600))
        #expect(log.segments.count > 2)
        log.close()
    }
}
