import Foundation
import Runtime
import Simulation
import Storage
import Testing

@testable import Engine
@testable import Ledger

@Suite struct EventCodecTests {
    @Test func everyEventTypeRoundTrips() throws {
        let samples = sampleEvents()
        #expect(Set(samples.map(\.typeName)).count == EventType.all.count, "a sample per event type")
        for (index, event) in samples.enumerated() {
            let envelope = EventEnvelope(
                offset: nil,
                timestamp: 1_735_776_000_000_000 + Int64(index),
                causation: index % 2 == 0 ? nil : UInt64(index),
                correlationID: "req-\(index)",
                event: event
            )
            let bytes = EventCodec.encode(envelope)
            let decoded = try EventCodec.decode(bytes, offset: UInt64(index), timestamp: envelope.timestamp)
            var expected = envelope
            expected.offset = UInt64(index)
            #expect(decoded == expected, "\(event.typeName)")
        }
    }

    /// The recorder encodes on a fixed scratch buffer and falls back to the growing writer for a long event: both
    /// ways give exactly `EventCodec.encode`'s bytes, stamped with the envelope's time.
    @Test func theRecorderWritesTheCodecsBytesShortAndLong() throws {
        var envelopes = sampleEvents().enumerated().map { index, event in
            EventEnvelope(timestamp: 1_000 + Int64(index), correlationID: "req-\(index)", event: event)
        }
        // Over the scratch's 512 bytes: a broker's rejection with a long message and a long correlation id.
        let long = String(repeating: "가", count: 300)
        envelopes.append(
            EventEnvelope(
                timestamp: 9_999,
                correlationID: String(repeating: "c", count: 200),
                event: .orderRejected(
                    OrderRejected(order: OrderID(value: 7), rejectedBy: .broker, reason: .brokerRejected, message: long)
                )
            )
        )
        #expect(EventCodec.encode(envelopes.last!).count > EventRecorder.scratchBytes)
        var recorder = EventRecorder(nextOffset: 40)
        for (index, envelope) in envelopes.enumerated() { #expect(recorder.record(envelope) == 40 + UInt64(index)) }
        let batch = recorder.take()
        #expect(batch.lengths.map(Int.init) == envelopes.map { EventCodec.encode($0).count })
        #expect(batch.bytes == envelopes.flatMap { EventCodec.encode($0) })
        #expect(batch.timestamps == envelopes.map(\.timestamp))
        // A written batch handed back: the next records fill it from empty, and the taken one is not touched.
        let second = envelopes.prefix(3)
        for envelope in second { recorder.record(envelope) }
        let taken = recorder.take(reusing: batch)
        #expect(taken.bytes == second.flatMap { EventCodec.encode($0) } && taken.count == 3)
        #expect(recorder.batch.isEmpty && recorder.batch.bytes.isEmpty && recorder.batch.timestamps.isEmpty)
        recorder.record(envelopes[0])
        #expect(recorder.take().bytes == EventCodec.encode(envelopes[0]))
        #expect(batch.count == envelopes.count, "the batch handed back is the caller's copy: unchanged")
    }

    /// Events handed over in bulk (a backtest's, encoded off its thread) come out in batches of about a megabyte,
    /// in order, with nothing lost — also when a batch the caller kept is the one whose room is used again.
    @Test func theRecorderSplitsManyEventsIntoBatchesOfAMegabyte() async throws {
        let samples = sampleEvents()
        let envelopes = (0..<60_000).map { index in
            EventEnvelope(
                timestamp: Int64(index),
                correlationID: "bulk-\(index)",
                event: samples[index % samples.count]
            )
        }
        let encoded = envelopes.map { EventCodec.encode($0) }
        let longest = encoded.map(\.count).max() ?? 0
        var splitter = EventRecorder(nextOffset: 0)
        let split = splitter.split(envelopes)
        #expect(split.count >= 3, "\(encoded.reduce(0) { $0 + $1.count }) bytes")
        for batch in split.dropLast() {
            #expect(batch.byteCount >= EventRecorder.batchBytes && batch.byteCount < EventRecorder.batchBytes + longest)
        }
        let inOrder = split.flatMap(\.bytes) == encoded.flatMap { $0 }
        #expect(inOrder, "every event's bytes, in order, across \(split.count) batches")
        let stamped = split.flatMap(\.timestamps) == envelopes.map(\.timestamp)
        #expect(stamped, "every event's time, in order")
        #expect(splitter.nextOffset == UInt64(envelopes.count) && splitter.batch.isEmpty)
        // Appended one by one as they fill, each kept by the caller (as a log might hold it) while the recorder
        // fills the next: the same batches.
        var appender = EventRecorder(nextOffset: 0)
        var appended: [AppendBatch] = []
        await appender.record(envelopes) { appended.append($0) }
        let same = appended.map(\.bytes) == split.map(\.bytes) && appended.map(\.lengths) == split.map(\.lengths)
        #expect(
            same,
            "\(appended.count) batches appended (\(appended.map(\.count))), \(split.count) split (\(split.map(\.count)))"
        )
        #expect(appender.nextOffset == UInt64(envelopes.count) && appender.batch.isEmpty)
    }

    /// A backtest's log is the same however its events are taken: unencoded for another core (`takeEvents`),
    /// encoded as they are recorded, or deferring switched off halfway (what was kept is encoded first) — the
    /// same records in the same order, and `batchIsDue` before a batch outgrows a frame.
    @Test func aBacktestsRecordsAreTheSameDeferredOrNot() async throws {
        let code = World.samsung
        let bars = GeneratedMinuteBars.walk(
            stock: code,
            sessions: 12,
            from: KST.day(year: 2025, month: 1, day: 6),
            seed: 5
        )
        func backtest(switchOffAt: Int?) throws -> (bytes: [UInt8], count: Int, largest: Int) {
            var backtester = try Backtester(
                stocks: [(code, "삼성전자", 70_000)],
                strategy: "ma-cross",
                parameters: "fast=3,slow=8,percent=20,stop=200,target=300",
                initialCash: 100_000_000,
                calendar: TradingCalendar(holidays: []),
                exchange: .init(participationPercent: 100, slippageTicks: 0),
                startTime: bars[0].start - KST.dayMicros
            )
            var batches: [AppendBatch] = []
            var encoder = EventRecorder(nextOffset: 0)
            for (index, bar) in bars.enumerated() {
                if index == switchOffAt { backtester.defersEncoding = false }
                try backtester.process(bar)
                if backtester.batchIsDue {
                    if backtester.defersEncoding {
                        batches += encoder.split(backtester.takeEvents())
                    } else {
                        batches += backtester.takeRecords()
                    }
                }
            }
            _ = try backtester.finish()
            batches += backtester.defersEncoding ? encoder.split(backtester.takeEvents()) : backtester.takeRecords()
            #expect(UInt64(batches.reduce(0) { $0 + $1.count }) == backtester.recordedEvents)
            #expect(backtester.recordedEvents == backtester.state.eventCount)
            return (batches.flatMap(\.bytes), batches.reduce(0) { $0 + $1.count }, batches.map(\.byteCount).max() ?? 0)
        }
        let deferred = try backtest(switchOffAt: nil)
        #expect(deferred.count > 8_000, "\(deferred.count) events: more than one hand-over")
        for switchOff in [0, bars.count / 2] {
            let other = try backtest(switchOffAt: switchOff)
            #expect(other.count == deferred.count)
            let same = other.bytes == deferred.bytes
            #expect(same, "deferring switched off at bar \(switchOff): the same records")
            #expect(other.largest < 2 * EventRecorder.batchBytes)
        }
    }

    @Test func jsonIsValidAndReadable() throws {
        for event in sampleEvents() {
            let text = EventEnvelope(offset: 5, timestamp: 1_735_776_000_000_000, correlationID: "c", event: event)
                .json()
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                "\(text)"
            )
            #expect(object["type"] as? String == event.typeName)
            #expect(object["timestamp"] as? String == "2025-01-02T00:00:00.000000Z")
            #expect(object["stream"] as? String == event.streamKey)
            #expect(object["payload"] is [String: Any])
        }
        let order = EventEnvelope(timestamp: 0, event: sampleEvents()[4]).json()
        #expect(order.contains("\"order\":\"ord-0000000042\""))
        #expect(order.contains("\"stock\":\"005930\""))
    }

    /// An `OrderRequested` written by schema v1 (before order types and sources existed) still decodes.
    @Test func orderRequestedV1IsUpcast() throws {
        var writer = Self.envelope(type: 5, schemaVersion: 1)  // OrderRequested v1
        writer.varint(17)
        writer.varint(2)
        writer.varint(5930)
        writer.byte(OrderSide.sell.rawValue)
        writer.signed(25)
        writer.signed(70_100)
        writer.string("legacy-1")
        let decoded = try EventCodec.decode(writer.bytes, offset: 0, timestamp: 0)
        guard case .orderRequested(let request) = decoded.event else {
            Issue.record("decoded \(decoded.event)")
            return
        }
        #expect(request.type == .limit)
        #expect(request.source == .user)
        #expect(request.quantity == 25)
        #expect(request.price == 70_100)
        #expect(request.clientOrderID == "legacy-1")
        #expect(decoded.schemaVersion == 2, "applications see the current shape")
    }

    /// An `OrderAccepted` of schema v1 (before the broker's organization was kept) decodes with none.
    @Test func orderAcceptedV1IsUpcast() throws {
        var writer = Self.envelope(type: 8, schemaVersion: 1)  // OrderAccepted v1
        writer.varint(42)
        writer.string("0000117057")
        let decoded = try EventCodec.decode(writer.bytes, offset: 0, timestamp: 0)
        #expect(
            decoded.event
                == .orderAccepted(
                    OrderAccepted(order: OrderID(value: 42), brokerOrderNumber: "0000117057", brokerOrganization: "")
                )
        )
        #expect(decoded.schemaVersion == 2)
        // v2 round-trips the organization.
        let current = DomainEvent.orderAccepted(
            OrderAccepted(order: OrderID(value: 42), brokerOrderNumber: "0000117057", brokerOrganization: "91252")
        )
        let bytes = EventCodec.encode(EventEnvelope(timestamp: 0, event: current))
        #expect(try EventCodec.decode(bytes, offset: 0, timestamp: 0).event == current)
    }

    /// A `SignalSkipped` of schema v1 (before skips had a key) decodes with none; v2 keeps it, and the key is
    /// in the JSON form only when there is one.
    @Test func signalSkippedV1IsUpcast() throws {
        var writer = Self.envelope(type: 39, schemaVersion: 1)  // SignalSkipped v1
        writer.varint(7)
        writer.varint(5930)
        writer.string("ma-cross")
        writer.byte(OrderSide.buy.rawValue)
        writer.string("stale")
        let old = SignalGenerated(
            account: AccountID(value: 7),
            stock: StockCode("005930")!,
            strategy: "ma-cross",
            side: .buy,
            reason: "stale"
        )
        let decoded = try EventCodec.decode(writer.bytes, offset: 0, timestamp: 0)
        #expect(decoded.event == .signalSkipped(old) && decoded.schemaVersion == 2)
        #expect(!DomainEvent.signalSkipped(old).payloadJSON().contains("key"))
        var keyed = old
        keyed.key = "signal-3-acc-0000000007-ma-cross"
        let bytes = EventCodec.encode(EventEnvelope(timestamp: 0, event: .signalSkipped(keyed)))
        #expect(try EventCodec.decode(bytes, offset: 0, timestamp: 0).event == .signalSkipped(keyed))
        #expect(DomainEvent.signalSkipped(keyed).payloadJSON().contains(#""key":"signal-3-acc-0000000007-ma-cross""#))
        // A SignalGenerated carries no key (its order's client order id is the order's).
        let generated = EventCodec.encode(EventEnvelope(timestamp: 0, event: .signalGenerated(keyed)))
        #expect(try EventCodec.decode(generated, offset: 0, timestamp: 0).event == .signalGenerated(old))
    }

    @Test func unknownVersionsAndTypesAreRefusedClearly() throws {
        var future = EventCodec.encode(EventEnvelope(timestamp: 0, event: sampleEvents()[0]))
        future[3] = 9
        #expect(throws: EngineError.self) { _ = try EventCodec.decode(future, timestamp: 0) }
        var unknown = future
        unknown[2] = 200
        do {
            _ = try EventCodec.decode(unknown, timestamp: 0)
            Issue.record("an unknown type decoded")
        } catch {
            #expect(error.message.contains("unknown event type id 200"))
        }
    }

    @Test func randomAndTruncatedBytesNeverCrashTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        let valid = sampleEvents().map { EventCodec.encode(EventEnvelope(timestamp: 0, event: $0)) }
        var decoded = 0
        for round in 0..<30_000 {
            var bytes = valid[round % valid.count]
            if round % 3 == 0 {
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
            } else {
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    bytes[Int.random(in: 2..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255,
                        using: &generator
                    )
                }
            }
            if (try? EventCodec.decode(bytes, timestamp: 0)) != nil { decoded += 1 }
        }
        #expect(decoded < 30_000, "mutations must be noticed at least sometimes")
    }

    @Test func candlesEncodeCompactly() {
        let candle = sampleEvents()[15]
        #expect(EventCodec.encode(EventEnvelope(timestamp: 0, event: candle)).count < 32)
    }

    /// An event envelope's header as schema `schemaVersion` of type `type` wrote it (no causation, no
    /// correlation id); the payload follows.
    static func envelope(type: UInt8, schemaVersion: UInt8) -> BinaryWriter {
        var writer = BinaryWriter()
        writer.byte(EventCodec.marker)
        writer.byte(1)
        writer.byte(type)
        writer.byte(schemaVersion)
        writer.varint(0)
        writer.string("")
        return writer
    }
}
