import Foundation

/// One route of the region's HTTPS API: its method, its path as the router registers it (`:name` for a parameter),
/// and the types of its request body and its answer on the wire. The listener registers a route by its ``path``;
/// clients call it with ``RegionClient/call(_:at:_:parameters:query:)``: a path or a wire type is written once, here
/// (``RCTCBRoutes``, ``AgentRoutes``) or, for the operator's routes whose answers are the RC-TCB's own types, beside
/// those types in RegionTCB.
package struct RegionRoute<Request: Encodable & Sendable, Answer: Decodable & Sendable>: Sendable {
    package enum Method: String, Sendable { case get = "GET", post = "POST" }

    package let method: Method
    /// The path as the router registers it: `/v1/hosts/:host/accept-reboot`.
    package let path: String

    package init(_ method: Method, _ path: String) {
        (self.method, self.path) = (method, path)
    }

    /// The path with its `:name` parameters replaced by `parameters[name]` (percent-encoded as a path segment), and
    /// `query` (without its `?`) appended when it is not empty.
    package func path(_ parameters: [String: String], query: String? = nil) -> String {
        let filled = path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            guard segment.hasPrefix(":"), let value = parameters[String(segment.dropFirst())] else { return String(segment) }
            return value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? value
        }.joined(separator: "/")
        guard let query, !query.isEmpty else { return filled }
        return filled + "?" + query
    }
}

/// A request without a body of its own: a GET, or a POST that sends `{}`.
package struct NoBody: Codable, Sendable, Hashable {
    package init() {}
}

extension RegionClient {
    /// Calls `route` on the service at `base` (`https://ADDRESS:PORT`) with `body`; the answer decoded as the route's.
    package func call<Request, Answer>(_ route: RegionRoute<Request, Answer>, at base: String, _ body: Request,
                                       parameters: [String: String] = [:], query: String? = nil) async throws(Failure) -> Answer {
        let url = base + route.path(parameters, query: query)
        switch route.method {
        case .get: return try await get(url)
        case .post: return try await post(url, body)
        }
    }

    /// Calls a route whose request has no body of its own.
    package func call<Answer>(_ route: RegionRoute<NoBody, Answer>, at base: String, parameters: [String: String] = [:],
                              query: String? = nil) async throws(Failure) -> Answer {
        try await call(route, at: base, NoBody(), parameters: parameters, query: query)
    }
}
