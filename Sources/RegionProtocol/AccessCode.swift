/// The codes of an access refusal, answered alike by the RC-TCB and by every agent (a route that needs another
/// role's certificate, or a client certificate at all): the region's one spelling of them on the wire.
package enum AccessCode: String, Sendable, CaseIterable {
    /// The peer's certificate names a role this route does not serve (HTTP 403).
    case forbidden = "auth.forbidden"
    /// The request came without a region client certificate (HTTP 401).
    case noClientCertificate = "auth.no-client-certificate"
}

extension RegionErrorBody {
    /// An access refusal's body.
    package init(_ code: AccessCode, message: String) {
        self.init(code: code.rawValue, message: message)
    }
}
