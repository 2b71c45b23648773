public import NIOCore
import Synchronization

/// A cap on open connections (`serve --max-connections`): a connection beyond it is closed as soon as it
/// opens, so slow or abandoned sockets cannot hold the process's file descriptors and memory without bound
/// (together with the 60-s idle timeout). Live streams count as connections.
public final class ConnectionLimiter: Sendable {
    public let maximum: Int
    private let open = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)

    public init(maximum: Int) {
        precondition(maximum > 0)
        self.maximum = maximum
    }

    /// Connections open now, and refused since start (`stockboom_connections_refused_total`).
    public var openConnections: Int { self.open.load(ordering: .relaxed) }
    public var refusedConnections: Int { self.refused.load(ordering: .relaxed) }

    /// A handler for one new connection's pipeline.
    public func handler() -> any RemovableChannelHandler { Handler(limiter: self) }

    fileprivate func admit() -> Bool {
        if self.open.wrappingAdd(1, ordering: .relaxed).newValue > self.maximum {
            self.open.wrappingSubtract(1, ordering: .relaxed)
            self.refused.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        return true
    }

    fileprivate func release() { self.open.wrappingSubtract(1, ordering: .relaxed) }

    private final class Handler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
        // @unchecked: `counted` is only touched on the channel's event loop.
        typealias InboundIn = NIOAny
        let limiter: ConnectionLimiter
        var counted = false

        init(limiter: ConnectionLimiter) { self.limiter = limiter }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { self.admit(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            if !self.counted { self.admit(context) }
            context.fireChannelActive()
        }

        private func admit(_ context: ChannelHandlerContext) {
            guard !self.counted else { return }
            if self.limiter.admit() {
                self.counted = true
            } else {
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if self.counted {
                self.counted = false
                self.limiter.release()
            }
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if self.counted {
                self.counted = false
                self.limiter.release()
            }
        }
    }
}
