import CNATS
import Glibc
import Synchronization

/// A failed NATS or JetStream call: the client's status, JetStream's error code when the server sent one, and
/// the client's last error text.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// `natsStatus` (0 is OK).
    public let status: UInt32
    /// JetStream's error code (10071 wrong last sequence, 10037 no message found, …), 0 when none.
    public let code: Int
    public let message: String

    public var description: String {
        self.code == 0
            ? "\(self.message) (nats status \(self.status))" : "\(self.message) (JetStream error \(self.code))"
    }

    /// The stream refused a publish whose expected last sequence is stale: another writer extended it (fencing).
    public var isWrongLastSequence: Bool {
        self.code == Int(JSStreamWrongLastSequenceErr.rawValue) || self.message.contains("wrong last sequence")
    }
    /// The message, key or stream asked for does not exist.
    public var isNotFound: Bool {
        self.status == NATS_NOT_FOUND.rawValue || self.code == Int(JSNoMessageFoundErr.rawValue)
            || self.code == Int(JSStreamNotFoundErr.rawValue)
    }

    static func from(_ status: natsStatus, code: jsErrCode = jsErrCode(rawValue: 0), _ what: String) -> NATSError {
        var last = NATS_OK
        let text = nats_GetLastError(&last).map { String(cString: $0) } ?? String(cString: natsStatus_GetText(status))
        return NATSError(status: status.rawValue, code: Int(code.rawValue), message: "\(what): \(text)")
    }
}

/// What `streamState` reports of a stream: its sequence range and its replicas as the cluster sees them.
public struct StreamState: Sendable, Equatable {
    public var messages: UInt64
    public var bytes: UInt64
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var leader: String?
    /// Every replica but the leader: name, current (caught up), offline, operations behind.
    public var replicas: [Replica]

    public struct Replica: Sendable, Equatable {
        public var name: String
        public var current: Bool
        public var offline: Bool
        public var lag: UInt64
    }

    /// Replicas that can vote right now, the leader included.
    public var healthyPeers: Int { (self.leader == nil ? 0 : 1) + self.replicas.filter { !$0.offline }.count }
}

/// How a stream is created when it does not exist (and updated to when it does).
public struct StreamSettings: Sendable {
    public var name: String
    public var subject: String
    public var replicas: Int
    /// Retention: the oldest messages go first past either bound (0: unbounded).
    public var maxBytes: Int64
    public var maxAgeSeconds: Int64
    /// How long a message id is remembered for deduplication.
    public var duplicateWindowSeconds: Int64 = 120

    public init(name: String, subject: String, replicas: Int, maxBytes: Int64, maxAgeSeconds: Int64) {
        self.name = name
        self.subject = subject
        self.replicas = replicas
        self.maxBytes = maxBytes
        self.maxAgeSeconds = maxAgeSeconds
    }
}

/// One connection to a NATS cluster with its JetStream context (libnats, the official C client).
///
/// Every call blocks its thread until the server answers or the wait runs out: call it from a thread of its own
/// or from `blocking {}`, never from the cooperative pool. The C client is thread-safe; `@unchecked Sendable`
/// because its handles are opaque pointers.
public final class NATSClient: @unchecked Sendable {
    private let connection: OpaquePointer
    private let jetStream: OpaquePointer
    private let closed = Mutex(false)
    /// How long a JetStream API call or a publish waits for its answer.
    public let waitMillis: Int64

    /// Connects to any of `servers` (`nats://host:port`), reconnecting for ever in the background when the
    /// connection drops (calls fail meanwhile).
    public init(servers: [String], name: String, waitMillis: Int64 = 2_000) throws(NATSError) {
        precondition(!servers.isEmpty)
        self.waitMillis = waitMillis
        var options: OpaquePointer?
        var status = natsOptions_Create(&options)
        guard status == NATS_OK, let options else { throw .from(status, "natsOptions_Create") }
        defer { natsOptions_Destroy(options) }
        var urls = servers.map { strdup($0) }
        defer { for url in urls { free(url) } }
        status = urls.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { rebound in
                natsOptions_SetServers(options, rebound.baseAddress, Int32(servers.count))
            }
        }
        guard status == NATS_OK else { throw .from(status, "natsOptions_SetServers") }
        _ = natsOptions_SetName(options, name)
        _ = natsOptions_SetTimeout(options, waitMillis)
        _ = natsOptions_SetAllowReconnect(options, true)
        _ = natsOptions_SetMaxReconnect(options, -1)
        _ = natsOptions_SetReconnectWait(options, 100)
        _ = natsOptions_SetRetryOnFailedConnect(options, true, nil, nil)
        // Publishes go out at once instead of waiting for the flusher thread (which sleeps a millisecond to gather
        // writes): an asynchronous publish is a commit someone waits for, and each is one large frame anyway.
        _ = natsOptions_SetSendAsap(options, true)
        var connection: OpaquePointer?
        status = natsConnection_Connect(&connection, options)
        // Retrying on a failed connect answers NATS_NOT_YET_CONNECTED: the client goes on trying in the background.
        guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
            throw .from(status, "connecting to \(servers.joined(separator: ","))")
        }
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.Wait = waitMillis
        var jetStream: OpaquePointer?
        status = natsConnection_JetStream(&jetStream, connection, &jsOptions)
        guard status == NATS_OK, let jetStream else {
            natsConnection_Destroy(connection)
            throw .from(status, "natsConnection_JetStream")
        }
        self.connection = connection
        self.jetStream = jetStream
    }

    deinit {
        self.close()
    }

    public func close() {
        let first = self.closed.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        jsCtx_Destroy(self.jetStream)
        natsConnection_Close(self.connection)
        natsConnection_Destroy(self.connection)
    }

    public var isConnected: Bool { natsConnection_Status(self.connection) == NATS_CONN_STATUS_CONNECTED }

    // MARK: Streams

    /// Creates the stream, or updates its limits if it exists.
    public func ensureStream(_ settings: StreamSettings) throws(NATSError) {
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        var errorCode = jsErrCode(rawValue: 0)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        let status = settings.name.withCString { name in
            settings.subject.withCString { subject in
                var subjects: [UnsafePointer<CChar>?] = [subject]
                return subjects.withUnsafeMutableBufferPointer { list in
                    config.Name = name
                    config.Subjects = list.baseAddress
                    config.SubjectsLen = 1
                    config.Storage = js_FileStorage
                    config.Replicas = Int64(settings.replicas)
                    config.Retention = js_LimitsPolicy
                    config.Discard = js_DiscardOld
                    config.MaxBytes = settings.maxBytes > 0 ? settings.maxBytes : -1
                    config.MaxAge = settings.maxAgeSeconds * 1_000_000_000
                    config.Duplicates = settings.duplicateWindowSeconds * 1_000_000_000
                    var added = js_AddStream(&info, self.jetStream, &config, nil, &errorCode)
                    if added != NATS_OK, errorCode.rawValue == 10058 {  // the name is in use: update its limits
                        errorCode = jsErrCode(rawValue: 0)
                        added = js_UpdateStream(&info, self.jetStream, &config, nil, &errorCode)
                    }
                    return added
                }
            }
        }
        if let info { jsStreamInfo_Destroy(info) }
        guard status == NATS_OK else { throw .from(status, code: errorCode, "creating stream \(settings.name)") }
    }

    public func streamState(_ stream: String) throws(NATSError) -> StreamState {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var errorCode = jsErrCode(rawValue: 0)
        let status = js_GetStreamInfo(&info, self.jetStream, stream, nil, &errorCode)
        guard status == NATS_OK, let info else { throw .from(status, code: errorCode, "stream info of \(stream)") }
        defer { jsStreamInfo_Destroy(info) }
        let state = info.pointee.State
        var result = StreamState(
            messages: state.Msgs,
            bytes: state.Bytes,
            firstSequence: state.FirstSeq,
            lastSequence: state.LastSeq,
            leader: nil,
            replicas: []
        )
        if let cluster = info.pointee.Cluster {
            result.leader = cluster.pointee.Leader.map { String(cString: $0) }
            for index in 0..<Int(cluster.pointee.ReplicasLen) {
                guard let peer = cluster.pointee.Replicas[index] else { continue }
                result.replicas.append(
                    StreamState.Replica(
                        name: peer.pointee.Name.map { String(cString: $0) } ?? "?",
                        current: peer.pointee.Current,
                        offline: peer.pointee.Offline,
                        lag: peer.pointee.Lag
                    )
                )
            }
        }
        return result
    }

    /// Publishes `body` and waits for the stream's acknowledgement (its quorum has stored it).
    ///
    /// - Parameters:
    ///   - messageID: deduplicates a retried publish within the stream's window (`duplicate` in the answer).
    ///   - expectedLastSequence: the stream refuses the message unless its last sequence is this (fencing).
    public func publish(
        subject: String,
        body: [UInt8],
        messageID: String,
        expectedLastSequence: UInt64?,
        waitMillis: Int64? = nil
    ) throws(NATSError) -> (sequence: UInt64, duplicate: Bool) {
        var message: OpaquePointer?
        var status = body.withUnsafeBytes { raw in
            natsMsg_Create(
                &message,
                subject,
                nil,
                raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(raw.count)
            )
        }
        guard status == NATS_OK, let message else { throw .from(status, "natsMsg_Create") }
        defer { natsMsg_Destroy(message) }
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = waitMillis ?? self.waitMillis
        if let expectedLastSequence {
            // 0 means "not set" to the client: a stream that must still be empty is expected to hold no message on
            // its one subject instead.
            if expectedLastSequence == 0 { options.ExpectNoMessage = true }
            options.ExpectLastSeq = expectedLastSequence
        }
        var ack: UnsafeMutablePointer<jsPubAck>?
        var errorCode = jsErrCode(rawValue: 0)
        status = messageID.withCString { id in
            options.MsgId = id
            return js_PublishMsg(&ack, self.jetStream, message, &options, &errorCode)
        }
        guard status == NATS_OK, let ack else {
            throw .from(status, code: errorCode, "publishing to \(subject)")
        }
        defer { jsPubAck_Destroy(ack) }
        return (ack.pointee.Sequence, ack.pointee.Duplicate)
    }

    /// The body of the message at `sequence`, or nil if the stream holds none there.
    public func message(stream: String, sequence: UInt64) throws(NATSError) -> [UInt8]? {
        var message: OpaquePointer?
        var errorCode = jsErrCode(rawValue: 0)
        let status = js_GetMsg(&message, self.jetStream, stream, sequence, nil, &errorCode)
        guard status == NATS_OK, let message else {
            let error = NATSError.from(status, code: errorCode, "message \(sequence) of \(stream)")
            if error.isNotFound && errorCode.rawValue != JSStreamNotFoundErr.rawValue { return nil }
            throw error
        }
        defer { natsMsg_Destroy(message) }
        let count = Int(natsMsg_GetDataLength(message))
        guard count > 0, let data = natsMsg_GetData(message) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: count))
    }

    /// A publisher that does not wait: `onAnswer` gets each publish's acknowledgement or error (a timeout after
    /// `waitMillis` included), with the message id it was published under, on the client's own thread, in the
    /// order the server answers.
    public func asyncPublisher(
        maxPending: Int,
        onAnswer:
            @escaping @Sendable (_ messageID: String, _ result: Result<(sequence: UInt64, duplicate: Bool), NATSError>)
            ->
            Void
    ) throws(NATSError) -> AsyncPublisher {
        try AsyncPublisher(
            connection: self.connection,
            maxPending: maxPending,
            waitMillis: self.waitMillis,
            onAnswer: onAnswer
        )
    }

    /// Publishes to JetStream without waiting for each acknowledgement (`js_PublishMsgAsync`), several in flight.
    public final class AsyncPublisher: @unchecked Sendable {
        public typealias Answer = @Sendable (String, Result<(sequence: UInt64, duplicate: Bool), NATSError>) -> Void
        private final class Handler {
            let onAnswer: Answer
            init(_ onAnswer: @escaping Answer) { self.onAnswer = onAnswer }
        }
        private let jetStream: OpaquePointer
        private let handler: Unmanaged<Handler>
        private let closed = Mutex(false)
        private let waitMillis: Int64

        init(connection: OpaquePointer, maxPending: Int, waitMillis: Int64, onAnswer: @escaping Answer)
            throws(NATSError)
        {
            self.waitMillis = waitMillis
            let handler = Unmanaged.passRetained(Handler(onAnswer))
            var options = jsOptions()
            jsOptions_Init(&options)
            options.Wait = waitMillis
            options.PublishAsync.MaxPending = Int64(maxPending)
            options.PublishAsync.AckHandlerClosure = handler.toOpaque()
            options.PublishAsync.AckHandler = { _, message, ack, failure, closure in
                defer { natsMsg_Destroy(message) }
                guard let closure else { return }
                let handler = Unmanaged<Handler>.fromOpaque(closure).takeUnretainedValue()
                var value: UnsafePointer<CChar>?
                let id =
                    message != nil && natsMsgHeader_Get(message, "Nats-Msg-Id", &value) == NATS_OK
                    ? value.map { String(cString: $0) } ?? "" : ""
                if let ack {
                    handler.onAnswer(id, .success((ack.pointee.Sequence, ack.pointee.Duplicate)))
                } else if let failure {
                    let status = failure.pointee.Err
                    let text =
                        failure.pointee.ErrText.map { String(cString: $0) }
                        ?? String(cString: natsStatus_GetText(status))
                    handler.onAnswer(
                        id,
                        .failure(
                            NATSError(
                                status: status.rawValue,
                                code: Int(failure.pointee.ErrCode.rawValue),
                                message: "publishing: \(text)"
                            )
                        )
                    )
                }
            }
            var jetStream: OpaquePointer?
            let status = natsConnection_JetStream(&jetStream, connection, &options)
            guard status == NATS_OK, let jetStream else {
                handler.release()
                throw .from(status, "natsConnection_JetStream (async publishing)")
            }
            self.jetStream = jetStream
            self.handler = handler
        }

        deinit {
            self.close()
            self.handler.release()
        }

        /// Waits a little for the publishes in flight to be answered, then stops answering.
        public func close() {
            let first = self.closed.withLock { closed -> Bool in
                defer { closed = true }
                return !closed
            }
            guard first else { return }
            var options = jsPubOptions()
            jsPubOptions_Init(&options)
            options.MaxWait = min(self.waitMillis, 500)
            _ = js_PublishAsyncComplete(self.jetStream, &options)
            jsCtx_Destroy(self.jetStream)
        }

        /// Sends one message (the same options as `NATSClient.publish`); its answer comes to `onAnswer`.
        public func publish(subject: String, body: [UInt8], messageID: String, expectedLastSequence: UInt64)
            throws(NATSError)
        {
            var message: OpaquePointer?
            var status = body.withUnsafeBytes { raw in
                natsMsg_Create(
                    &message,
                    subject,
                    nil,
                    raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                    Int32(raw.count)
                )
            }
            guard status == NATS_OK, message != nil else { throw .from(status, "natsMsg_Create") }
            defer { natsMsg_Destroy(message) }  // a no-op once the library took it
            var options = jsPubOptions()
            jsPubOptions_Init(&options)
            options.MaxWait = self.waitMillis
            if expectedLastSequence == 0 { options.ExpectNoMessage = true }
            options.ExpectLastSeq = expectedLastSequence
            status = messageID.withCString { id in
                options.MsgId = id
                return js_PublishMsgAsync(self.jetStream, &message, &options)
            }
            guard status == NATS_OK else { throw .from(status, "publishing to \(subject)") }
        }
    }

    // MARK: Core subscriptions (wake-ups)

    /// A plain subscription: every message published on `subject` arrives, stored by a stream or not. Used to wake
    /// up, never as data (a refused publish is delivered too).
    public func subscribe(subject: String) throws(NATSError) -> Subscription {
        var subscription: OpaquePointer?
        let status = natsConnection_SubscribeSync(&subscription, self.connection, subject)
        guard status == NATS_OK, let subscription else { throw .from(status, "subscribing to \(subject)") }
        _ = natsSubscription_SetPendingLimits(subscription, 1_024, 256 << 20)
        return Subscription(subscription)
    }

    public final class Subscription: @unchecked Sendable {
        private let subscription: OpaquePointer
        init(_ subscription: OpaquePointer) { self.subscription = subscription }
        deinit {
            natsSubscription_Unsubscribe(self.subscription)
            natsSubscription_Destroy(self.subscription)
        }

        /// Waits up to `timeoutMillis` for a message; drops it and any others already queued. True if one came.
        public func wait(timeoutMillis: Int64) -> Bool {
            var message: OpaquePointer?
            guard natsSubscription_NextMsg(&message, self.subscription, timeoutMillis) == NATS_OK else { return false }
            natsMsg_Destroy(message)
            while natsSubscription_NextMsg(&message, self.subscription, 0) == NATS_OK { natsMsg_Destroy(message) }
            return true
        }
    }

    // MARK: Key-value

    /// Opens the bucket, creating it (file storage, `replicas`, values expiring `ttlMillis` after their last
    /// write) if it does not exist.
    public func keyValue(bucket: String, ttlMillis: Int64, replicas: Int) throws(NATSError) -> KeyValue {
        var store: OpaquePointer?
        var status = js_KeyValue(&store, self.jetStream, bucket)
        if status != NATS_OK {
            var config = kvConfig()
            kvConfig_Init(&config)
            config.History = 1
            config.TTL = ttlMillis * 1_000_000  // nanoseconds, as the stream's max age
            config.Replicas = Int32(replicas)
            config.StorageType = js_FileStorage
            status = bucket.withCString { name in
                config.Bucket = name
                return js_CreateKeyValue(&store, self.jetStream, &config)
            }
        }
        guard status == NATS_OK, let store else { throw .from(status, "opening key-value bucket \(bucket)") }
        return KeyValue(store)
    }

    public final class KeyValue: @unchecked Sendable {
        private let store: OpaquePointer
        init(_ store: OpaquePointer) { self.store = store }
        deinit { kvStore_Destroy(self.store) }

        /// The key's value and revision, or nil when it has none (never written, deleted or expired).
        public func get(_ key: String) throws(NATSError) -> (value: [UInt8], revision: UInt64)? {
            var entry: OpaquePointer?
            let status = kvStore_Get(&entry, self.store, key)
            if status == NATS_NOT_FOUND { return nil }
            guard status == NATS_OK, let entry else { throw .from(status, "reading key \(key)") }
            defer { kvEntry_Destroy(entry) }
            let count = Int(kvEntry_ValueLen(entry))
            let value = kvEntry_Value(entry).map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
            return (value, kvEntry_Revision(entry))
        }

        /// Writes the key only if it has no value; the new revision, or nil when someone holds it.
        public func create(_ key: String, value: [UInt8]) throws(NATSError) -> UInt64? {
            var revision: UInt64 = 0
            let status = value.withUnsafeBytes {
                kvStore_Create(&revision, self.store, key, $0.baseAddress, Int32($0.count))
            }
            if status == NATS_OK { return revision }
            let error = NATSError.from(status, "creating key \(key)")
            if error.isWrongLastSequence || error.message.contains("key exists") { return nil }
            throw error
        }

        /// Writes the key only if its revision is still `last`; the new revision, or nil when it moved on.
        public func update(_ key: String, value: [UInt8], last: UInt64) throws(NATSError) -> UInt64? {
            var revision: UInt64 = 0
            let status = value.withUnsafeBytes {
                kvStore_Update(&revision, self.store, key, $0.baseAddress, Int32($0.count), last)
            }
            if status == NATS_OK { return revision }
            let error = NATSError.from(status, "updating key \(key)")
            if error.isWrongLastSequence { return nil }
            throw error
        }

        public func delete(_ key: String) throws(NATSError) {
            let status = kvStore_Delete(self.store, key)
            guard status == NATS_OK else { throw .from(status, "deleting key \(key)") }
        }
    }
}
