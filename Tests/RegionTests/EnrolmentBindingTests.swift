import Crypto
import Foundation
import Policy
import RegionProtocol
import RegionTCB
import SwiftASN1
import Testing
import TPM
import TPMWire
import X509

/// A host id is bound to the EK it enrolled with, and enrolment answers strangers without keeping anything for
/// them. The attacker here has public data only (an enrolled host's EK certificate and AK public), or a TPM of
/// its own whose EK certificate chains to a CA the region trusts.
@Suite("Enrolment: host ids bound to EKs, floods of begin", .serialized)
struct EnrolmentBindingTests {
    /// What an attacker with public data sends: the victim's EK, EK certificate and AK, and its own TLS key.
    static func stranger(_ victim: EnrollingHost, host: String) -> EnrolmentRequest {
        var r = victim.request(host: host)
        r.tlsPublicKey = P256.Signing.PrivateKey().publicKey.pemRepresentation
        return r
    }

    static func enrol(_ h: EnrollingHost, as host: String, _ service: EnrolmentService) async throws -> EnrolmentCertificate {
        let c = try await service.begin(h.request(host: host))
        return try await service.complete(EnrolmentProof(challengeId: c.challengeId, credential: try h.activate(c)))
    }

    static func certificateHash(_ h: EnrollingHost) -> [UInt8] { Array(SHA256.hash(data: h.ekCertificate)) }

    @Test func floodOfBeginFromPublicDataCannotLockOutEnrolment() async throws {
        let one = try EnrollingHost(), two = try EnrollingHost()
        let (service, store) = try EnrolmentTests.service(anchors: one.caCertificates + two.caCertificates)
        _ = try await Self.enrol(one, as: "host-a", service)
        let eventsBefore = try store.events().count

        // More begins than the RC-TCB ever held open credentials for: an enrolled host's public EK and AK, and
        // host ids the region does not have. Each is refused with its code before any credential is made.
        // (At one time, so that however long the flood takes on a loaded machine, it falls in one aggregation window.)
        let floodAt = Date()
        for i in 0..<10_500 {
            let enrolled = await #expect(throws: RegionError.self) { try await service.begin(Self.stranger(one, host: "host-a"), now: floodAt) }
            #expect(enrolled?.code == .alreadyEnrolled)
            let unknown = await #expect(throws: RegionError.self) { try await service.begin(Self.stranger(one, host: "host-z\(i)"), now: floodAt) }
            #expect(unknown?.code == .unknownHost)
            if enrolled?.code != .alreadyEnrolled || unknown?.code != .unknownHost { break }
        }
        // host-a's EK cannot become host-b: one TPM is one host.
        let boundElsewhere = await #expect(throws: RegionError.self) { try await service.begin(Self.stranger(one, host: "host-b")) }
        #expect(boundElsewhere?.code == .ekBoundElsewhere)

        // host-b, not enrolled yet, begins; strangers replay its public EK and AK with their own TLS keys between
        // its begin and its complete. Each gets a credential it cannot answer; none displaces host-b's.
        // (All at one time: 200 credentials take minutes on a loaded machine, longer than a challenge lives.)
        let genuineAt = Date()
        let genuine = try await service.begin(two.request(host: "host-b"), now: genuineAt)
        var strangers: [EnrolmentChallenge] = []
        let started = ContinuousClock.now
        for _ in 0..<200 { strangers.append(try await service.begin(Self.stranger(two, host: "host-b"), now: genuineAt)) }
        print("200 begins that make a credential: \(ContinuousClock.now - started)")
        let issued = try await service.complete(EnrolmentProof(challengeId: genuine.challengeId, credential: try two.activate(genuine)),
                                                now: genuineAt)
        #expect(try Certificate(pemEncoded: issued.certificate).publicKey == Certificate.PublicKey(two.tlsKey.publicKey))
        // A stranger's credential, answered by guess, after host-b enrolled: refused, and host-b stays as it enrolled.
        let guess = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: strangers[0].challengeId, credential: Data(repeating: 7, count: 32).base64EncodedString()), now: genuineAt)
        }
        #expect(guess?.code == .activationFailed)
        #expect(try store.enrolment("host-b")?.akPublic == two.blob.publicBytes)
        // Refusals changed nothing but the audit trail, where the whole flood is four events: each host's refusals
        // by code, and one for every host id the region does not have, however many were sent.
        let added = try store.events().dropFirst(eventsBefore)
        #expect(added.map(\.kind) == ["enrol-refused", "enrol-refused", "enrol-refused", "enrolled", "enrol-refused"])
        let refusals = added.filter { $0.kind == "enrol-refused" }.map { "\($0.host ?? "-") \($0.code ?? "") \($0.count)" }
        #expect(refusals == ["host-a enrol.already-enrolled 10500", "- enrol.unknown-host 10500", "host-b enrol.ek-bound-elsewhere 1",
                             "host-b enrol.activation-failed 1"])
        #expect(added.first { $0.host == nil }?.detail?.contains("host-z10499") == true)
    }

    @Test func readmissionKeepsTheHostBoundToItsEK() async throws {
        let real = try EnrollingHost(), impostor = try EnrollingHost()
        let (service, store) = try EnrolmentTests.service(anchors: real.caCertificates + impostor.caCertificates)
        _ = try await Self.enrol(real, as: "host-a", service)
        try store.revoke(host: "host-a")

        // The default re-admission: the EK host-a enrolled with, and no other, may enrol as host-a.
        #expect(try store.readmit(host: "host-a") == .name(try real.ekPublic.name))
        let refused = await #expect(throws: RegionError.self) { try await service.begin(impostor.request(host: "host-a")) }
        #expect(refused?.code == .ekNotAllowed)
        _ = try await Self.enrol(real, as: "host-a", service)
        #expect(try store.enrolment("host-a")?.akPublic == real.blob.publicBytes)

        // The operator names the new TPM's EK certificate: only that EK may enrol.
        try store.readmit(host: "host-a", allowing: .certificateSHA256(Self.certificateHash(impostor)))
        let old = await #expect(throws: RegionError.self) { try await service.begin(real.request(host: "host-a")) }
        #expect(old?.code == .ekNotAllowed)
        _ = try await Self.enrol(impostor, as: "host-a", service)
        #expect(try store.enrolmentStanding("host-a")?.ekName == Hex.encode(try impostor.ekPublic.name))

        // Any EK, said explicitly: the first TPM certified by a trusted CA becomes host-a.
        try store.readmit(host: "host-a", allowing: .anyEK)
        _ = try await Self.enrol(real, as: "host-a", service)
        let kinds = try store.events().filter { $0.host == "host-a" && $0.kind == "readmitted" }.map { $0.detail ?? "" }
        #expect(kinds == ["may enrol with the EK named \(Hex.encode(try real.ekPublic.name))",
                          "may enrol with the EK whose certificate has sha256 \(Hex.encode(Self.certificateHash(impostor)))",
                          "may enrol with any EK certified by a trusted EK CA"])

        // A host that never enrolled has no EK to re-admit by default.
        let none = #expect(throws: RegionError.self) { try store.readmit(host: "host-b") }
        #expect(none?.code == .noEKBinding)
        #expect(try store.enrolmentStanding("host-b")?.readmission == nil)
    }

    @Test func aTicketIsCheckedAgainstTheIVTAsItIsAtComplete() async throws {
        let first = try EnrollingHost(), second = try EnrollingHost()
        let (service, store) = try EnrolmentTests.service(anchors: first.caCertificates + second.caCertificates)
        // Two TPMs begin as host-b (not enrolled, not pinned); the first to complete becomes host-b.
        let a = try await service.begin(first.request(host: "host-b"))
        let b = try await service.begin(second.request(host: "host-b"))
        _ = try await service.complete(EnrolmentProof(challengeId: a.challengeId, credential: try first.activate(a)))
        let late = await #expect(throws: RegionError.self) {
            try await service.complete(EnrolmentProof(challengeId: b.challengeId, credential: try second.activate(b)))
        }
        #expect(late?.code == .akChanged)
        #expect(try store.enrolment("host-b")?.akPublic == first.blob.publicBytes)
    }

    @Test(arguments: [false, true])
    func policyPinRefusesAnotherEKFromTheFirstEnrolment(byName: Bool) async throws {
        let real = try EnrollingHost(), impostor = try EnrollingHost()
        let pin = byName ? RegionPolicy.EKPin(name: try real.ekPublic.name) : RegionPolicy.EKPin(certificateSHA256: Self.certificateHash(real))
        let (service, store) = try EnrolmentTests.service(anchors: real.caCertificates + impostor.caCertificates, ekPins: ["host-a": pin])
        let first = await #expect(throws: RegionError.self) { try await service.begin(impostor.request(host: "host-a")) }
        #expect(first?.code == .ekNotPinned)
        #expect(try store.enrolment("host-a") == nil)
        _ = try await Self.enrol(real, as: "host-a", service)
        // The pin holds whatever the re-admission allows.
        try store.revoke(host: "host-a")
        try store.readmit(host: "host-a", allowing: .anyEK)
        let again = await #expect(throws: RegionError.self) { try await service.begin(impostor.request(host: "host-a")) }
        #expect(again?.code == .ekNotPinned)
        _ = try await Self.enrol(real, as: "host-a", service)
        // The unpinned host-b takes any certified EK at its first enrolment.
        _ = try await Self.enrol(impostor, as: "host-b", service)
    }
}
