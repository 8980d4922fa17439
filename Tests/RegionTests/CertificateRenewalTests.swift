import Agent
import Attestation
import Crypto
import Foundation
import Logging
import RegionProtocol
import RegionTCB
import SwiftASN1
import Testing
import TPM
import TPMWire
import X509

/// Agent certificate renewal against real swtpm quotes and a real SQLite IVT: only the enrolled AK of an
/// unrevoked host renews; every attack is refused with its code, issues nothing and is audited.
@Suite("Certificate renewal", .serialized)
struct CertificateRenewalTests {
    let hosts: [RegionHost]
    let store: IVTStore
    let renewal: CertificateRenewal
    let ca: RegionCA

    init() async throws {
        hosts = try await RegionHost.start(["h1", "h2"])
        (store, _) = try IVTStoreTests.store(hosts: ["h1", "h2"])
        for h in hosts {
            try store.recordEnrolment(host: h.id, akPublic: h.blob.publicBytes, akName: Hex.encode(try h.blob.akPublic.name), ekCertificate: "test")
        }
        ca = try RegionCA.create(region: "renewal-test")
        renewal = CertificateRenewal(store: store, ca: ca, logger: Logger(label: "test"))
    }

    func akName(_ i: Int) throws -> String { Hex.encode(try hosts[i].blob.akPublic.name) }

    static let tlsKey = P256.Signing.PrivateKey().publicKey.pemRepresentation

    /// A quote over `challenge` by host `i`'s enrolled AK.
    func proof(_ i: Int, _ challenge: RenewalChallenge) throws -> RenewalProof {
        RenewalProof(evidence: try hosts[i].evidence(QuoteChallenge(nonce: challenge.nonce, pcrSelection: challenge.pcrSelection)), tlsPublicKey: Self.tlsKey)
    }

    /// A quote over `challenge` by another AK in host `i`'s TPM, its bundle naming that AK (or, lying, `claimedName`).
    func otherAKProof(_ i: Int, _ challenge: RenewalChallenge, claimedName: String? = nil) throws -> RenewalProof {
        let h = hosts[i]
        let other = try h.device.createAttestationKey(.eccP256, under: .rsa2048)
        let nonce = Hex.decode(challenge.nonce) ?? []
        let selection = try PCRSelectionList(parsing: challenge.pcrSelection)
        let (q, values) = try h.device.withAttestationKey(other) { try h.device.quoteWithValues(with: $0, nonce: nonce, selection: selection) }
        var bundle = EvidenceBundle(hostId: h.id, akPublic: other.publicBytes, akName: try other.akPublic.name, nonce: nonce, attest: q.attest,
                                    signature: q.signature, selection: selection, pcrValues: values.ordered, agentTime: Date())
        if let claimedName { bundle.akName = claimedName }
        return RenewalProof(evidence: bundle, tlsPublicKey: Self.tlsKey)
    }

    func renewed() throws -> [IssuedCertificate] { try store.certificates().filter { $0.issuedBy == "renewal" } }

    func refusals(_ code: String) throws -> Int {
        try store.events().filter { $0.kind == "renew-refused" && $0.code == code }.map(\.count).reduce(0, +)
    }

    @Test func aDifferentAKIsRefused() async throws {
        let c1 = try await renewal.begin(host: "h1", akName: try akName(0))
        await #expect(throws: RegionError(.renewAKMismatch, "")) { try await renewal.complete(host: "h1", akName: try akName(0), proof: try otherAKProof(0, c1)) }
        // The bundle claims the enrolled AK's Name, but carries and is signed by another AK.
        let c2 = try await renewal.begin(host: "h1", akName: try akName(0))
        await #expect(throws: RegionError(.renewAKMismatch, "")) {
            try await renewal.complete(host: "h1", akName: try akName(0), proof: try otherAKProof(0, c2, claimedName: try akName(0)))
        }
        // Another host's genuine quote over h1's nonce.
        let c3 = try await renewal.begin(host: "h1", akName: try akName(0))
        await #expect(throws: RegionError(.renewAKMismatch, "")) { try await renewal.complete(host: "h1", akName: try akName(0), proof: try proof(1, c3)) }
        #expect(try renewed().isEmpty)
        #expect(try refusals("renew.ak-mismatch") == 3)
    }

    @Test func aRevokedHostOrAnOldCertificateIsRefused() async throws {
        let open = try await renewal.begin(host: "h1", akName: try akName(0))
        try store.revoke(host: "h1")
        await #expect(throws: RegionError(.revoked, "")) { try await renewal.complete(host: "h1", akName: try akName(0), proof: try proof(0, open)) }
        await #expect(throws: RegionError(.revoked, "")) { try await renewal.begin(host: "h1", akName: try akName(0)) }
        // A certificate naming an AK the host is no longer enrolled with.
        await #expect(throws: RegionError(.akChanged, "")) { try await renewal.begin(host: "h2", akName: "000b" + String(repeating: "ee", count: 32)) }
        #expect(try renewed().isEmpty)
    }

    @Test func aReplayedOrStaleAnswerIsRefused() async throws {
        let c = try await renewal.begin(host: "h2", akName: try akName(1))
        let good = try proof(1, c)
        _ = try await renewal.complete(host: "h2", akName: try akName(1), proof: good)
        await #expect(throws: RegionError(.renewUnknownChallenge, "")) { try await renewal.complete(host: "h2", akName: try akName(1), proof: good) }
        // A quote over another nonce than the open challenge's.
        let next = try await renewal.begin(host: "h2", akName: try akName(1))
        var wrong = next
        wrong.nonce = String(repeating: "ab", count: 32)
        await #expect(throws: RegionError(.renewQuoteRefused, "")) { try await renewal.complete(host: "h2", akName: try akName(1), proof: try proof(1, wrong)) }
        // An expired challenge.
        let old = try await renewal.begin(host: "h2", akName: try akName(1), now: Date().addingTimeInterval(-3600))
        await #expect(throws: RegionError(.renewUnknownChallenge, "")) { try await renewal.complete(host: "h2", akName: try akName(1), proof: try proof(1, old)) }
        #expect(try renewed().count == 1)
    }

    /// The agent renews once the configured fraction of the lifetime has passed (two thirds by default).
    @Test func renewalIsDueAtTheConfiguredFraction() {
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        let end = start.addingTimeInterval(90 * 86_400)
        let fraction = AgentConfig.defaultRenewAt
        #expect(!AgentRuntime.renewalDue(notBefore: start, notAfter: end, now: start.addingTimeInterval(59 * 86_400), fraction: fraction))
        #expect(AgentRuntime.renewalDue(notBefore: start, notAfter: end, now: start.addingTimeInterval(60 * 86_400), fraction: fraction))
        #expect(!AgentRuntime.renewalDue(notBefore: start, notAfter: end, now: start.addingTimeInterval(80 * 86_400), fraction: 0.9))
        #expect(AgentRuntime.renewalDue(notBefore: end, notAfter: start, now: start, fraction: fraction), "a certificate without a lifetime is due")
    }

    @Test func theEnrolledAKRenewsAndTheCertificateIsRecorded() async throws {
        let c = try await renewal.begin(host: "h1", akName: try akName(0))
        let issued = try await renewal.complete(host: "h1", akName: try akName(0), proof: try proof(0, c))
        let cert = try Certificate(pemEncoded: issued.certificate)
        let identity = try #require(RegionIdentity(certificate: cert))
        let expectedAK = try akName(0)
        #expect(identity.role == .agent && identity.name == "h1" && identity.akName == expectedAK)
        let expectedKey = try Certificate.PublicKey(pemEncoded: Self.tlsKey)
        #expect(cert.publicKey == expectedKey)
        let days = cert.notValidAfter.timeIntervalSinceNow / 86_400
        #expect(abs(days - 90) < 0.01, "\(days) days")
        let listed = try #require(try renewed().first)
        #expect(listed.host == "h1" && listed.current && listed.serial == Hex.encode(Array(cert.serialNumber.bytes)))
        #expect(try store.events(host: "h1").last?.kind == "certificate-renewed")
    }
}
