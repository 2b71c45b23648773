public import Hummingbird
public import Ledger
import Foundation
import Prometheus

/// The HTTP gateway on :3001. This first slice serves the operations endpoints: `GET /health` (200 when
/// ready, 503 naming the failing part) and `GET /metrics` (Prometheus text). Errors use one shape,
/// RFC 9457 problem details.
public enum Gateway {
    /// Builds the router with the gateway's routes and middleware.
    public static func router(dependencies: GatewayDependencies, metrics: GatewayMetrics) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(HTTPMetricsMiddleware(metrics: metrics))
        router.middlewares.add(ProblemDetailsMiddleware())
        router.get("health") { _, _ -> Response in
            let report = try await blocking { HealthReport.check(dependencies) }
            return Self.json(report.json(), status: report.ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ -> Response in
            try await blocking { metrics.refresh(dependencies) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        return router
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

