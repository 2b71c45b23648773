import Crypto
import Engine
import Foundation
public import Hummingbird
import Ledger
import Projections
import Prometheus
import Runtime
import Storage

/// The HTTP gateway on :3001: operations (`/health`, `/metrics`), the JSON API under `/api` (see
/// `/openapi.json`), the live event stream and the dashboard at `/`. Errors use one shape, RFC 9457
/// problem details.
public enum Gateway {
    /// Builds the router. Without `services` (no database configured) only the operations endpoints exist.
    public static func router(
        dependencies: GatewayDependencies,
        metrics: GatewayMetrics,
        services: GatewayServices? = nil
    ) -> Router<APIContext> {
        Self.routes(dependencies: dependencies, metrics: metrics, services: services).router
    }

    /// `Authorization: Bearer <STOCKBOOM_METRICS_TOKEN>`, compared by digest (constant time whatever the lengths).
    static func carriesMetricsToken(_ request: Request, _ token: String?) -> Bool {
        guard let token, !token.isEmpty, let header = request.headers[.authorization], header.hasPrefix("Bearer ")
        else { return false }
        return SHA256.hash(data: Data(header.dropFirst(7).utf8)) == SHA256.hash(data: Data(token.utf8))
    }

    /// The router and the table of (method, path) it serves.
    static func routes(dependencies: GatewayDependencies, metrics: GatewayMetrics, services: GatewayServices?)
        -> RouteTable
    {
        let router = Router(context: APIContext.self)
        router.middlewares.add(HTTPMetricsMiddleware(metrics: metrics))
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(ProblemDetailsMiddleware())
        if let assets = dependencies.assetsDirectory {
            // Third-party front-end files (the chart, Swagger UI), public like any page's script; no listing.
            // Inside the problem-details middleware: it serves what the routes answer 404 to.
            router.middlewares.add(
                FileMiddleware(
                    assets + "/vendor",
                    urlBasePath: "/assets/vendor",
                    cacheControl: .init([(MediaType(type: .any), [.maxAge(3_600)])])
                )
            )
        }
        router.middlewares.add(InternalClientMiddleware(networks: dependencies.internalNetworks))
        let routes = RouteTable(router: router)
        router.middlewares.add(MethodNotAllowedMiddleware(routes: routes))
        routes.add(.get, "/health") { _, context -> Response in
            let report = try await blocking { HealthReport.recentCheck(dependencies) }
            // Parts, offsets and errors for internal clients (operators, Prometheus, the compose health check);
            // up or not for everyone else.
            return Self.json(
                context.isInternalClient ? report.json() : report.livenessJSON(),
                status: report.ready ? .ok : .serviceUnavailable
            )
        }
        routes.add(.get, "/metrics") { request, context -> Response in
            guard context.isInternalClient || Self.carriesMetricsToken(request, dependencies.metricsToken) else {
                throw problem(404, "no route GET /metrics")
            }
            try await blocking { metrics.refresh(dependencies) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer()))
            )
        }
        if let services {
            router.middlewares.add(AuthMiddleware(auth: services.auth, epochs: services.sessions))
            router.middlewares.add(CSRFMiddleware())
            router.middlewares.add(ReadOnlyNodeMiddleware { [runtime = services.runtime] in runtime.commandRefusal })
            GatewayAPI.register(routes, services)
        }
        return routes
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The `/api` routes, grouped by resource in the files of this folder.
enum GatewayAPI {
    static func register(_ routes: RouteTable, _ services: GatewayServices) {
        // One controller per resource (Sources/Gateway/Controllers), each registering its named endpoints.
        AuthController(services: services).register(routes)
        AccountsController(services: services).register(routes)
        OperatorController(services: services).register(routes)
        OrdersController(services: services).register(routes)
        PortfolioController(services: services).register(routes)
        MarketDataController(services: services).register(routes)
        TradesController(services: services).register(routes)
        NotificationsController(services: services).register(routes)
        BacktestsController(services: services).register(routes)
        StrategiesController(services: services).register(routes)
        TriggersController(services: services).register(routes)
        StreamController(services: services).register(routes)
        InternalController(services: services).register(routes)
        Dashboard.register(routes, services)
        // The build, for clients and operators (also in /health and stockboom_build_info).
        routes.add(.get, "/api/version") { _, _ -> Response in
            try APIJSON.response(
                VersionBody(
                    version: BuildInfo.version,
                    swift: BuildInfo.compiler,
                    eventTypes: EventType.all.count,
                    snapshotVersion: Int(EngineState.snapshotVersion)
                )
            )
        }
        routes.add(.get, "/openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: .ok,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json))
            )
        }
    }
}
