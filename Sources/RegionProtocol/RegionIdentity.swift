package import X509

/// Who a region certificate speaks for. The region CA writes these as URI subject alternative names, so a
/// certificate names its role, its host and — for agents — the AK Name it was issued against at enrolment.
package struct RegionIdentity: Hashable, Sendable {
    package enum Role: String, Sendable, Codable, CaseIterable {
        /// A host's agent (enrolled through its TPM).
        case agent
        /// An operator's client for the admin API.
        case admin
        /// The RC-TCB's own server certificate.
        case rctcb
    }

    package var role: Role
    /// The host id (agents), or a name (admin, rctcb).
    package var name: String
    /// The AK Name, hex (agents only).
    package var akName: String?

    package init(role: Role, name: String, akName: String? = nil) {
        self.role = role
        self.name = name
        self.akName = akName
    }

    static let prefix = "urn:smig:"

    /// The URI SANs that encode this identity.
    package var uris: [String] {
        var out = ["\(Self.prefix)role:\(role.rawValue)", "\(Self.prefix)name:\(name)"]
        if let akName { out.append("\(Self.prefix)ak:\(akName)") }
        return out
    }

    /// Reads the identity from a certificate's URI SANs; nil when the certificate names no single role and name.
    package init?(certificate: Certificate) {
        guard let sans = try? certificate.extensions.subjectAlternativeNames else { return nil }
        var roles: [Role] = [], names: [String] = [], aks: [String] = []
        for san in sans {
            guard case .uniformResourceIdentifier(let uri) = san, uri.hasPrefix(Self.prefix) else { continue }
            let rest = uri.dropFirst(Self.prefix.count)
            if rest.hasPrefix("role:"), let r = Role(rawValue: String(rest.dropFirst(5))) { roles.append(r) }
            else if rest.hasPrefix("name:") { names.append(String(rest.dropFirst(5))) }
            else if rest.hasPrefix("ak:") { aks.append(String(rest.dropFirst(3))) }
        }
        guard roles.count == 1, names.count == 1, aks.count <= 1 else { return nil }
        if roles[0] == .agent, aks.count != 1 { return nil }
        self.init(role: roles[0], name: names[0], akName: aks.first)
    }
}

/// Host ids are DNS-label-like: they appear in URIs, file names and log lines.
package enum HostID {
    package static func isValid(_ id: String) -> Bool {
        guard (1...63).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E || c == 0x5F
        } && id.utf8.first != 0x2D && id.utf8.first != 0x2E
    }
}
