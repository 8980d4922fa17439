import Crypto
import Foundation

/// An open enrolment credential, carried by the host instead of held by the RC-TCB.
///
/// `begin` answers anyone who sends public data (an EK certificate, an AK public), so whatever it keeps per
/// request can be filled or overwritten by a stranger: a table of open credentials, bounded or keyed by host
/// and EK, lets a flood of `begin` push out the genuine host's credential before it answers. So `begin` keeps
/// nothing. What the credential was made for travels in the challenge id, sealed with a key only this RC-TCB
/// process holds (HMAC-SHA256), and the credential itself is derived from the sealed bytes with the same key:
/// a stranger's `begin` cannot touch another host's open credential, and only the TPM that decrypts it
/// (ActivateCredential) learns the value. A restart forgets the key, and with it every open credential.
struct EnrolmentTicket: Codable, Sendable, Hashable {
    var hostId: String
    /// The AK's TPM2B_PUBLIC.
    var akPublic: Data
    var akName: String
    var ekIdentity: String
    /// The EK's TPM Name and the SHA-256 of its certificate (DER), hex.
    var ekName: String
    var ekCertificateSHA256: String
    /// The agent's TLS public key (SubjectPublicKeyInfo PEM) the certificate is issued for.
    var tlsPublicKey: String
    /// Seconds since 1970.
    var expires: Double
    /// Makes every ticket (and so every credential) distinct.
    var nonce: String
}

/// Seals tickets into challenge ids and opens them again; the credential of a ticket is derived, never stored.
struct EnrolmentTicketSeal: Sendable {
    private let key = SymmetricKey(size: .bits256)
    /// Domain separation of the two uses of the key.
    private static let sealLabel: [UInt8] = Array("smig-attest enrolment ticket".utf8) + [0]
    private static let credentialLabel: [UInt8] = Array("smig-attest enrolment credential".utf8) + [0]

    /// The challenge id (`PAYLOAD.MAC`, base64url) and the 32-byte credential for `ticket`.
    func seal(_ ticket: EnrolmentTicket) -> (id: String, credential: [UInt8]) {
        // The MAC covers these exact bytes, and `open` decodes them without re-encoding. A ticket holds strings,
        // Data and a finite number: encoding it cannot fail.
        let payload = [UInt8]((try? JSONEncoder().encode(ticket)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: Self.sealLabel + payload, using: key)
        return (Self.base64url(payload) + "." + Self.base64url(Array(mac)), credential(payload))
    }

    /// The ticket a challenge id carries, its MAC (hex, the ticket's identity) and its credential; nil when the
    /// id was not sealed by this process (or was altered).
    func open(_ id: String) -> (ticket: EnrolmentTicket, mac: String, credential: [UInt8])? {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard id.utf8.count <= 16 * 1024, parts.count == 2, let payload = Self.unbase64url(parts[0]), let mac = Self.unbase64url(parts[1]),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.sealLabel + payload, using: key),
              let ticket = try? JSONDecoder().decode(EnrolmentTicket.self, from: Data(payload)) else { return nil }
        return (ticket, mac.map { String(format: "%02x", $0) }.joined(), credential(payload))
    }

    private func credential(_ payload: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.credentialLabel + payload, using: key))
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ text: Substring) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.utf8.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { [UInt8]($0) }
    }
}
