public import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Checks that an EK certificate chains to a CA the region trusts (the TPM vendors' roots; in tests swtpm's
/// local CA). Every certificate in `authorities` is a trust anchor: an admin who trusts a vendor's
/// intermediate CA adds it beside the root.
public enum EKCertificateChain {
    public enum Outcome: Hashable, Sendable {
        /// The chain is valid at the given time; the issuer is the CA the chain ends at.
        case trusted(subject: String, issuer: String, serial: String)
        case untrusted(reason: String)
    }

    /// `certificateDER` is the EK certificate as read from the TPM's NV; `authorities` are PEM or DER certificates.
    public static func verify(certificateDER: [UInt8], authorities: [[UInt8]], at time: Date) async -> Outcome {
        let leaf: Certificate
        do { leaf = try Certificate(derEncoded: certificateDER) } catch {
            return .untrusted(reason: "the EK certificate does not parse as X.509 DER")
        }
        var roots: [Certificate] = []
        for bytes in authorities {
            if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") {
                guard let pems = try? PEMDocument.parseMultiple(pemString: text) else { continue }
                for pem in pems { if let c = try? Certificate(pemDocument: pem) { roots.append(c) } }
            } else if let c = try? Certificate(derEncoded: bytes) {
                roots.append(c)
            }
        }
        guard !roots.isEmpty else { return .untrusted(reason: "no EK certificate authority is configured") }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            TCGEKCertificatePolicy()
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore([])) {
        case .validCertificate(let chain):
            let anchor = chain.last ?? leaf
            return .trusted(subject: String(describing: leaf.subject), issuer: String(describing: anchor.subject),
                            serial: String(describing: leaf.serialNumber))
        case .couldNotValidate(let failures):
            let reasons = failures.prefix(2).map { "\($0.policyFailureReason)" }.joined(separator: "; ")
            return .untrusted(reason: "the EK certificate (issuer \(leaf.issuer)) does not chain to a trusted EK CA\(reasons.isEmpty ? "" : ": \(reasons)")")
        }
    }
}

/// The TCG EK Credential Profile puts the TPM's manufacturer, model and version in a *critical* subject
/// alternative name (a directoryName) and usually leaves the subject empty. This policy accepts that extension
/// as understood; it adds no further requirement.
struct TCGEKCertificatePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.subjectAlternativeName]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        .meetsPolicy
    }
}
