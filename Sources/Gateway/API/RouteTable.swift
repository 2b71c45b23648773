import Hummingbird

/// Registers routes and remembers each (method, path), so that a test can hold `/openapi.json` to exactly
/// the routes the server has.
final class RouteTable: @unchecked Sendable {
    // @unchecked: `operations` is filled while the server is set up and only read once it serves.
    let router: Router<APIContext>
    private(set) var operations: [(method: String, path: String)] = []

    init(router: Router<APIContext>) { self.router = router }

    /// `path` in OpenAPI form (`/api/orders/{id}`); Hummingbird's form (`:id`) is derived from it.
    func add<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ handler: @escaping @Sendable (Request, APIContext) async throws -> Output
    ) {
        self.operations.append((method.rawValue, path))
        let hummingbirdPath = path.split(separator: "/", omittingEmptySubsequences: false).map { part -> String in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : String(part)
        }.joined(separator: "/")
        self.router.on(RouterPath(hummingbirdPath), method: method, use: handler)
    }
}

extension RouteTable {
    /// The methods served for a concrete path (`/api/orders/ord-1` matches `/api/orders/{id}`).
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return self.operations.filter { operation in
            let template = operation.path.split(separator: "/", omittingEmptySubsequences: false)
            return template.count == parts.count && zip(template, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.map(\.method)
    }
}

/// A known path with a method it does not serve: 405 with `Allow`, not 404.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let routes: RouteTable

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            let allowed = self.routes.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            var response = ProblemDetailsMiddleware<APIContext>.response(
                problem(
                    405,
                    "\(request.method.rawValue) is not served at \(request.uri.path); use \(allowed.joined(separator: ", "))"
                )
            )
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        }
    }
}

extension APIContext {
    /// A path parameter that the route declares (present whenever the route matched).
    func parameter(_ name: String) -> String {
        self.parameters.get(name) ?? ""
    }
}
