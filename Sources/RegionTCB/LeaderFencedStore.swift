package import Attestation
package import Foundation
import Synchronization

/// The store an RC-TCB of a region with several RC-TCBs works through: it reads the shared rows at any time, and
/// writes only while it leads, through the view fenced by its lease (``RegionLeases/fenced(by:)``), so the database
/// refuses every write of a leader whose lease has passed to another (`store.fenced`). A follower's write is
/// `store.fenced` at once, without a round trip.
package final class LeaderFencedStore: RegionStore {
    let base: any RegionLeases
    let region: String
    /// The view fenced by the lease this RC-TCB holds; nil while it follows.
    let view = Mutex<(any RegionStore)?>(nil)

    package init(base: any RegionLeases, region: String) {
        (self.base, self.region) = (base, region)
    }

    package var location: String { base.location }

    /// Writes go through `lease`'s fenced view from now on; nil: this RC-TCB follows, and writes are refused.
    package func lead(_ lease: LeaderLease?) throws(RegionError) {
        let fenced = try lease.map { l throws(RegionError) in try base.fenced(by: l) }
        view.withLock { $0 = fenced }
    }

    func writer() throws(RegionError) -> any RegionStore {
        guard let v = view.withLock({ $0 }) else {
            throw RegionError(.storeFenced, "this RC-TCB follows region \(region)'s leader and writes nothing",
                              hint: "send the request to the leader (its address is in GET /v1/health)")
        }
        return v
    }

    // MARK: Reads: the shared rows

    package nonisolated(nonsending) func rows() async throws(RegionError) -> [IVTRow] { try await base.rows() }
    package nonisolated(nonsending) func row(_ host: String) async throws(RegionError) -> IVTRow? { try await base.row(host) }
    package func events(since seq: Int64, host: String?, limit: Int) async throws(RegionError) -> [IVTEvent] {
        try await base.events(since: seq, host: host, limit: limit)
    }
    package nonisolated(nonsending) func lastEventSeq() async throws(RegionError) -> Int64 { try await base.lastEventSeq() }
    package func recentEvents(host: String, limit: Int) async throws(RegionError) -> [IVTEvent] { try await base.recentEvents(host: host, limit: limit) }
    package func evidence(host: String, bundles: Bool) async throws(RegionError) -> [KeptEvidence] { try await base.evidence(host: host, bundles: bundles) }
    package nonisolated(nonsending) func enrolment(_ host: String) async throws(RegionError) -> Enrolment? { try await base.enrolment(host) }
    package func enrolmentStanding(_ host: String) async throws(RegionError) -> EnrolmentStanding? { try await base.enrolmentStanding(host) }
    package func host(enrolledWithEK ekName: String, other host: String) async throws(RegionError) -> String? {
        try await base.host(enrolledWithEK: ekName, other: host)
    }
    package func certificates() async throws(RegionError) -> [IssuedCertificate] { try await base.certificates() }
    package func currentEvacuation(host: String) async throws(RegionError) -> EvacuationRecord? { try await base.currentEvacuation(host: host) }
    package func evacuations(limit: Int) async throws(RegionError) -> [EvacuationRecord] { try await base.evacuations(limit: limit) }

    // MARK: Writes: the leader's, fenced

    /// Seeding adds missing hosts and updates addresses, the same whoever does it: every RC-TCB seeds at start.
    package func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String, now: Date) async throws(RegionError) {
        try await base.seed(hosts: hosts, policyName: policyName, policyDigest: policyDigest, now: now)
    }
    package nonisolated(nonsending) func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?, judged: JudgedEvidence?,
                            now: Date) async throws(RegionError) -> IVTStore.Applied? {
        try await writer().transition(verdict, host: host, judgedUnder: policyDigest, judged: judged, now: now)
    }
    package func audit(host: String?, kind: String, code: String?, detail: String?, now: Date) async throws(RegionError) {
        try await writer().audit(host: host, kind: kind, code: code, detail: detail, now: now)
    }
    package func audit(host: String?, kind: String, code: String?, detail: String?, evacuation: EvacuationFields,
                       now: Date) async throws(RegionError) {
        try await writer().audit(host: host, kind: kind, code: code, detail: detail, evacuation: evacuation, now: now)
    }
    package func auditAggregated(host: String?, kind: String, code: String, detail: String, window: TimeInterval, now: Date) async throws(RegionError) {
        try await writer().auditAggregated(host: host, kind: kind, code: code, detail: detail, window: window, now: now)
    }
    package func setVMs(_ placement: [String: [String]], now: Date) async throws(RegionError) { try await writer().setVMs(placement, now: now) }
    package func acceptReboot(host: String, reason: String, now: Date) async throws(RegionError) -> RebootAcceptanceAnswer {
        try await writer().acceptReboot(host: host, reason: reason, now: now)
    }
    package func recordEnrolment(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, ekName: String?,
                                 ekCertificateSHA256: String?, now: Date) async throws(RegionError) {
        try await writer().recordEnrolment(host: host, akPublic: akPublic, akName: akName, ekCertificate: ekCertificate, ekName: ekName,
                                           ekCertificateSHA256: ekCertificateSHA256, now: now)
    }
    package func revoke(host: String, now: Date) async throws(RegionError) { try await writer().revoke(host: host, now: now) }
    package func readmit(host: String, allowing: EKAllowance, now: Date) async throws(RegionError) -> EKAllowance {
        try await writer().readmit(host: host, allowing: allowing, now: now)
    }
    package func recordCertificate(_ c: IssuedCertificate, audit kind: String?, now: Date) async throws(RegionError) {
        try await writer().recordCertificate(c, audit: kind, now: now)
    }
    package func openEvacuation(host: String, state: HostState, code: String?, detail: String?, now: Date) async throws(RegionError) -> EvacuationRecord {
        try await writer().openEvacuation(host: host, state: state, code: code, detail: detail, now: now)
    }
    package func closeEvacuation(host: String, outcome: String, detail: String, now: Date) async throws(RegionError) {
        try await writer().closeEvacuation(host: host, outcome: outcome, detail: detail, now: now)
    }
}

extension LeaderFencedStore {
    /// The lease's fenced view as the store of shared ring nonces (``RegionLeases/recordNonce(_:reporter:target:expires:now:carried:)``).
    func nonceWriter() throws(RegionError) -> any RegionLeases {
        guard let v = try writer() as? any RegionLeases else {
            throw RegionError(.storeFailed, "store \(location): its fenced view keeps no ring nonces")
        }
        return v
    }
}
