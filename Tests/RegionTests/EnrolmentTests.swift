import Attestation
import Swtpm
import Crypto
import Foundation
import Logging
import Policy
import RegionProtocol
import RegionTCB
import Testing
import TPM
import TPMWire
import X509
import SwiftASN1

/// A software TPM with an AK, as a host brings it to enrolment.
final class EnrollingHost: @unchecked Sendable {
    // @unchecked Sendable: used by one test at a time.
    let swtpm: SoftwareTPM
    let device: TPMDevice
    let blob: AttestationKeyBlob
    let ekPublic: Public
    let ekCertificate: [UInt8]
    let tlsKey = P256.Signing.PrivateKey()

    init(ak: AKType = .eccP256, ek: EKType = .rsa2048) throws {
        guard SoftwareTPM.isAvailable else { throw RegionFixtureFailure(description: "swtpm is required (apt-get install swtpm swtpm-tools); never skipped") }
        swtpm = try SoftwareTPM()
        try swtpm.start()
        device = try TPMDevice(tcti: swtpm.tcti)
        blob = try device.createAttestationKey(ak, under: ek)
        ekPublic = try device.withEndorsementKey(ek) { $0.publicKey }
        guard let cert = try device.endorsementCertificate(ek) else { throw RegionFixtureFailure(description: "swtpm has no EK certificate") }
        ekCertificate = cert
    }

    deinit { swtpm.destroy() }

    /// The local CA that certified this TPM's EK (root and issuing CA).
    var caFiles: [String] {
        let ca = swtpm.root.appendingPathComponent("localca")
        return [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
    }

    var caCertificates: [[UInt8]] { caFiles.compactMap { FileManager.default.contents(atPath: $0).map { [UInt8]($0) } } }

    func request(host: String, ek: Public? = nil, ekCertificate: [UInt8]? = nil, akPublic: [UInt8]? = nil) -> EnrolmentRequest {
        EnrolmentRequest(hostId: host, ekPublic: Data((ek ?? ekPublic).wireBytes).base64EncodedString(),
                         ekCertificate: Data(ekCertificate ?? self.ekCertificate).base64EncodedString(), platformCertificate: nil,
                         akPublic: Data(akPublic ?? blob.publicBytes).base64EncodedString(), tlsPublicKey: tlsKey.publicKey.pemRepresentation)
    }

    func activate(_ c: EnrolmentChallenge) throws -> String {
        let secret = try device.activateCredential(ak: blob, idObject: [UInt8](Data(base64Encoded: c.idObject)!),
                                                   encryptedSecret: [UInt8](Data(base64Encoded: c.encryptedSecret)!))
        return Data(secret).base64EncodedString()
    }
}

struct RegionFixtureFailure: Error, CustomStringConvertible {
    let description: String
}

/// The RC-TCB side of enrolment with real swtpm TPMs: the genuine path and every attack, each refused with its
/// own code and nothing recorded.
@Suite("Enrolment", .serialized)
struct EnrolmentTests {
    static func service(anchors: [[UInt8]], hosts: [String] = ["host-a", "host-b"], ekPins: [String: RegionPolicy.EKPin] = [:]) throws -> (EnrolmentService, IVTStore) {
        let (store, _) = try IVTStoreTests.store(hosts: hosts)
        let service = EnrolmentService(store: store, ca: try RegionCA.create(region: "test"), ekAuthorities: anchors, ekPins: ekPins, logger: Logger(label: "test"))
        return (service, store)
    }

    @Test(arguments: [(AKType.eccP256, EKType.rsa2048), (.rsa2048, .eccP384), (.eccP256, .eccP384)])
    func genuineHostEnrols(ak: AKType, ek: EKType) async throws {
        let h = try EnrollingHost(ak: ak, ek: ek)
        // swtpm certifies the RSA-2048 and P-384 EKs (its low-range P-256 EK has no certificate).
        let (service, store) = try Self.service(anchors: h.caCertificates)
        let challenge = try await service.begin(h.request(host: "host-a"))
        let issued = try await service.complete(EnrolmentProof(challengeId: challenge.challengeId, credential: try h.activate(challenge)))
        let akName = Hex.encode(try h.blob.akPublic.name)
        #expect(issued.akName == akName)
        let cert = try Certificate(pemEncoded: issued.certificate)
        #expect(RegionIdentity(certificate: cert) == RegionIdentity(role: .agent, name: "host-a", akName: akName))
        #expect(cert.publicKey == Certificate.PublicKey(h.tlsKey.publicKey))
        let e = try #require(try store.enrolment("host-a"))
        #expect(e.akPublic == h.blob.publicBytes && !e.revoked)
        #expect(try store.events().contains { $0.kind == "enrolled" && $0.host == "host-a" })
        // The credential is single-use.
        let error = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: challenge.challengeId, credential: try h.activate(challenge)))
        }
        #expect(error?.code == .unknownChallenge)
        // An enrolled host does not enrol again, with this AK or another, until the operator re-admits it.
        let again = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-a")) }
        #expect(again?.code == .alreadyEnrolled)
        // The host is bound to its EK: its Name and its certificate's hash are recorded.
        let standing = try #require(try store.enrolmentStanding("host-a"))
        #expect(standing.ekName == Hex.encode(try h.ekPublic.name))
        #expect(standing.ekCertificateSHA256 == Hex.encode(Array(SHA256.hash(data: h.ekCertificate))))
        #expect(standing.readmission == nil)
    }

    @Test func softwareKeyPosingAsAnAKCannotActivate() async throws {
        let h = try EnrollingHost()
        let (service, store) = try Self.service(anchors: h.caCertificates)
        // A software P-256 key wrapped in a TPM2B_PUBLIC with the AK's attributes.
        let genuine = try h.blob.akPublic
        let soft = P256.Signing.PrivateKey()
        let point = [UInt8](soft.publicKey.x963Representation)
        guard case .ecc(let sym, let scheme, let curve, let kdf, _, _) = genuine.publicArea.parameters else { Issue.record("not ECC"); return }
        let fake = Public(PublicArea(nameAlg: genuine.publicArea.nameAlg, objectAttributes: genuine.publicArea.objectAttributes, authPolicy: [],
                                     parameters: .ecc(symmetric: sym, scheme: scheme, curve: curve, kdf: kdf, x: Array(point[1..<33]), y: Array(point[33..<65]))))
        let challenge = try await service.begin(h.request(host: "host-a", akPublic: fake.wireBytes))
        // The real TPM cannot recover a credential bound to another Name; a guess is refused.
        let guess = #expect(throws: TPMDeviceError.self) { try h.activate(challenge) }
        #expect(guess?.code == .credentialRejected)
        let error = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: challenge.challengeId, credential: Data(repeating: 0, count: 32).base64EncodedString()))
        }
        #expect(error?.code == .activationFailed)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func anAKOfOneTPMWithTheEKOfAnother() async throws {
        let one = try EnrollingHost(), two = try EnrollingHost()
        let (service, store) = try Self.service(anchors: one.caCertificates + two.caCertificates)
        // TPM 2's AK presented with TPM 1's EK and certificate: the credential is encrypted to TPM 1's EK.
        let challenge = try await service.begin(two.request(host: "host-a", ek: one.ekPublic, ekCertificate: one.ekCertificate))
        let guess = #expect(throws: TPMDeviceError.self) { try two.activate(challenge) }
        #expect(guess?.code == .credentialRejected)
        let error = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: challenge.challengeId, credential: Data(repeating: 1, count: 32).base64EncodedString()))
        }
        #expect(error?.code == .activationFailed)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func ekCertificateFromAnUnknownCA() async throws {
        let one = try EnrollingHost(), two = try EnrollingHost()
        let (service, store) = try Self.service(anchors: one.caCertificates)
        let unknownCA = await #expect(throws: RegionError.self) { try await service.begin(two.request(host: "host-a")) }
        #expect(unknownCA?.code == .ekCertificateUntrusted)
        let (none, _) = try Self.service(anchors: [])
        let noAnchors = await #expect(throws: RegionError.self) { try await none.begin(one.request(host: "host-a")) }
        #expect(noAnchors?.code == .ekCertificateUntrusted)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func ekCertificateOfAnotherEK() async throws {
        let one = try EnrollingHost(), two = try EnrollingHost()
        let (service, store) = try Self.service(anchors: one.caCertificates + two.caCertificates)
        let error = await #expect(throws: RegionError.self) { try await service.begin(two.request(host: "host-a", ekCertificate: one.ekCertificate)) }
        #expect(error?.code == .ekCertificateMismatch)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func akThatIsNotRestrictedOrCanDecrypt() async throws {
        let h = try EnrollingHost()
        let (service, store) = try Self.service(anchors: h.caCertificates)
        let area = try h.blob.akPublic.publicArea
        for attributes in [area.objectAttributes.subtracting(.restricted), area.objectAttributes.union(.decrypt), area.objectAttributes.subtracting(.fixedTPM)] {
            let altered = Public(PublicArea(nameAlg: area.nameAlg, objectAttributes: attributes, authPolicy: area.authPolicy, parameters: area.parameters))
            let akAttributes = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-a", akPublic: altered.wireBytes)) }
            #expect(akAttributes?.code == .akAttributes)
        }
        // A non-EK key (wrong template) in the EK's place.
        let notEK = Public(PublicArea(nameAlg: .sha256, objectAttributes: h.ekPublic.publicArea.objectAttributes.subtracting(.adminWithPolicy),
                                      authPolicy: [], parameters: h.ekPublic.publicArea.parameters))
        let ekTemplate = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-a", ek: notEK)) }
        #expect(ekTemplate?.code == .ekTemplate)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func expiredAndReplayedActivations() async throws {
        let h = try EnrollingHost()
        let (service, store) = try Self.service(anchors: h.caCertificates)
        let t0 = Date()
        let c = try await service.begin(h.request(host: "host-a"), now: t0)
        let answer = try h.activate(c)
        let challengeExpired = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: c.challengeId, credential: answer), now: t0.addingTimeInterval(service.challengeLifetime + 1))
        }
        #expect(challengeExpired?.code == .challengeExpired)
        let unknownChallenge = await #expect(throws: RegionError.self) { try await service.complete(EnrolmentProof(challengeId: c.challengeId, credential: answer), now: t0) }
        #expect(unknownChallenge?.code == .unknownChallenge)
        // A challenge id is sealed by the RC-TCB: an altered one is no challenge at all.
        let fresh = try await service.begin(h.request(host: "host-a"), now: t0)
        let parts = fresh.challengeId.split(separator: ".")
        let flipped = String(parts[0].dropLast()) + (parts[0].last == "A" ? "B" : "A") + "." + parts[1]
        for forged in [flipped, "x" + fresh.challengeId, String(parts[0]), ""] {
            let altered = await #expect(throws: RegionError.self) {
                try await service.complete(EnrolmentProof(challengeId: forged, credential: try h.activate(fresh)), now: t0)
            }
            #expect(altered?.code == .unknownChallenge)
        }
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func secondEnrolmentWithAnotherAKNeedsReadmission() async throws {
        let h = try EnrollingHost()
        let (service, store) = try Self.service(anchors: h.caCertificates)
        let c = try await service.begin(h.request(host: "host-a"))
        _ = try await service.complete(EnrolmentProof(challengeId: c.challengeId, credential: try h.activate(c)))
        let other = try h.device.createAttestationKey(.eccP256, under: .rsa2048)
        let akChanged = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-a", akPublic: other.publicBytes)) }
        #expect(akChanged?.code == .akChanged)
        #expect(try store.enrolment("host-a")?.akPublic == h.blob.publicBytes)
        // Revoked hosts are refused until the operator re-admits them; then the new AK enrols.
        try store.revoke(host: "host-a")
        let revoked = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-a")) }
        #expect(revoked?.code == .revoked)
        try store.readmit(host: "host-a")
        let c2 = try await service.begin(h.request(host: "host-a", akPublic: other.publicBytes))
        #expect(!c2.challengeId.isEmpty)
    }

    @Test func unknownHostsAndMalformedRequests() async throws {
        let h = try EnrollingHost()
        let (service, store) = try Self.service(anchors: h.caCertificates)
        let unknownHost = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "host-z")) }
        #expect(unknownHost?.code == .unknownHost)
        let badHostId = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "../etc")) }
        #expect(badHostId?.code == .badHostId)
        let escapes = await #expect(throws: RegionError.self) { try await service.begin(h.request(host: "\u{1B}[2J\u{202E}evil")) }
        #expect(escapes?.code == .badHostId)
        var bad = h.request(host: "host-a")
        bad.akPublic = "%%"
        let badAK = await #expect(throws: RegionError.self) { try await service.begin(bad) }
        #expect(badAK?.code == .malformedRequest)
        bad = h.request(host: "host-a")
        bad.ekPublic = Data([0, 5, 1, 2]).base64EncodedString()
        let badEK = await #expect(throws: RegionError.self) { try await service.begin(bad) }
        #expect(badEK?.code == .malformedRequest)
        bad = h.request(host: "host-a")
        bad.tlsPublicKey = "not a key"
        let badTLSKey = await #expect(throws: RegionError.self) { try await service.begin(bad) }
        #expect(badTLSKey?.code == .malformedRequest)
        #expect(try store.enrolment("host-a") == nil)
        // Each refusal is audited: the region's host by its id, the others under no host (their ids are the
        // requester's to choose); the three malformed requests of host-a are one event.
        let refusals = try store.events().filter { $0.kind == "enrol-refused" }.map { "\($0.host ?? "-") \($0.code ?? "") \($0.count)" }
        #expect(refusals == ["- enrol.unknown-host 1", "- enrol.bad-host-id 2", "host-a enrol.malformed-request 3"])
        // The latest bad id is in the detail, without the escape and direction characters it carried.
        let detail = try #require(try store.events().first { $0.code == "enrol.bad-host-id" }?.detail)
        #expect(detail.contains("?[2J?evil") && !detail.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E }, "\(detail)")
        #expect(try store.events(host: "host-a").filter { $0.kind == "enrol-refused" }.count == 1)
    }
}
