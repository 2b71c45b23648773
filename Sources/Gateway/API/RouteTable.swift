public import Hummingbird

/// Registers routes and remembers each (method, path), so that a test can hold `/openapi.json` to exactly
/// the routes the server has.
final class RouteTable {
    let router: Router<APIContext>
    private(set) var operations: [(method: String, path: String)] = []

    init(router: Router<APIContext>) { self.router = router }

    /// `path` in OpenAPI form (`/api/orders/{id}`); Hummingbird's form (`:id`) is derived from it.
    func add<Output: ResponseGenerator>(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping @Sendable (Request, APIContext) async throws -> Output) {
        self.operations.append((method.rawValue, path))
        let hummingbirdPath = path.split(separator: "/", omittingEmptySubsequences: false).map { part -> String in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : String(part)
        }.joined(separator: "/")
        self.router.on(RouterPath(hummingbirdPath), method: method, use: handler)
    }
}

extension APIContext {
    /// A path parameter that the route declares (present whenever the route matched).
    func parameter(_ name: String) -> String {
        self.parameters.get(name) ?? ""
    }
}
