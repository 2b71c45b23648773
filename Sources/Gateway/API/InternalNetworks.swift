import Foundation
import HTTPTypes
public import Hummingbird

#if canImport(Glibc)
    import Glibc
#endif

/// Which clients count as internal: the worker, Prometheus, an operator's `curl` on the host. Only they reach
/// `/internal/*` (the worker's routes, which can do anything the engine can), `/metrics` and the detailed
/// `/health`; other clients get a liveness answer from `/health` and 404 from the rest.
///
/// Internal: the connection's peer is in one of the networks (`STOCKBOOM_INTERNAL_NETWORKS`, CIDRs; by
/// default loopback and the private ranges, where the compose network and a host's Docker bridge live) and
/// the request carries no proxy header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`): a request a reverse
/// proxy forwarded is public, whatever the proxy's own address. A client can only make itself more public
/// with such a header, never less. A connection without a peer address (in-process, Unix socket) is internal.
public struct InternalNetworks: Sendable {
    struct Range: Sendable {
        var bytes: [UInt8]
        var prefix: Int
    }
    let ranges: [Range]

    public static let defaultText = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    public static let `default` = InternalNetworks(defaultText)!

    /// Comma-separated CIDRs (`10.0.0.0/8,::1/128`); nil when one does not parse.
    public init?(_ text: String) {
        var ranges: [Range] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let pieces = part.split(separator: "/", maxSplits: 1)
            guard let bytes = Self.parse(String(pieces[0])) else { return nil }
            let prefix = pieces.count == 2 ? Int(pieces[1]) : bytes.count * 8
            guard let prefix, (0...bytes.count * 8).contains(prefix) else { return nil }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
        self.ranges = ranges
    }

    public func contains(_ address: String) -> Bool {
        guard var bytes = Self.parse(address) else { return false }
        // An IPv4 client on a dual-stack socket: ::ffff:a.b.c.d.
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        return self.ranges.contains { range in
            guard range.bytes.count == bytes.count else { return false }
            let whole = range.prefix / 8
            guard bytes[0..<whole] == range.bytes[0..<whole] else { return false }
            let rest = range.prefix % 8
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return bytes[whole] & mask == range.bytes[whole] & mask
        }
    }

    /// Whether `request`, from `address`, is from an internal client.
    public func isInternal(_ request: Request, address: String?) -> Bool {
        for name in Self.proxyHeaders where request.headers[name] != nil { return false }
        guard let address else { return true }
        return self.contains(address)
    }

    static let proxyHeaders = ["Forwarded", "X-Forwarded-For", "X-Real-IP"].map { HTTPField.Name($0)! }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// Sets `context.isInternalClient` (see `InternalNetworks`).
struct InternalClientMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let networks: InternalNetworks

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        var context = context
        context.isInternalClient = self.networks.isInternal(request, address: context.peerAddress)
        return try await next(request, context)
    }
}
