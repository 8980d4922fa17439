package import Attestation
package import Foundation

/// What the RC-TCB keeps in its database, on either backend: ``IVTStore`` (SQLite, one region per file, the
/// default) and the PostgreSQL store (several regions, and several RC-TCBs of a region, in one database, each region
/// seeing only its own rows). The host rows, the audit trail, enrolments and the certificates issued, the evidence
/// kept with verdicts, the VMs each host runs and the evacuation records. Every change of a row goes through
/// ``HostTransition`` inside one database transaction together with its audit event, on both.
///
/// The SQLite store's synchronous methods are its witnesses, so nothing that holds an ``IVTStore`` changes. The
/// RC-TCB's parts (``RegionState``, ``Evacuator``, ``EnrolmentService``, ``CertificateRenewal``,
/// ``WebhookNotifier``) hold `any RegionStore`, so `rctcb serve --store` chooses the backend.
///
/// What every report asks of the store (`rows`, `row`, `lastEventSeq`, `enrolment`, `transition`) is
/// `nonisolated(nonsending)`: it runs on the caller's executor (``RegionState``'s), so the SQLite store's synchronous
/// witnesses cost no hop to another executor and back.
package protocol RegionStore: Sendable {
    /// Where the store is, for messages (a file path, or a database URL without its password).
    var location: String { get }

    // MARK: Hosts and the audit trail

    /// Adds the hosts that are not in the table yet (state `unknown`, audited `host-added`) and updates addresses.
    func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String, now: Date) async throws(RegionError)
    /// Every host row, ordered by host id.
    nonisolated(nonsending) func rows() async throws(RegionError) -> [IVTRow]
    nonisolated(nonsending) func row(_ host: String) async throws(RegionError) -> IVTRow?
    /// Applies a verdict by ``HostTransition`` in one transaction: the old row is read (and held against other
    /// writers), the new row and its audit event are written, and the evidence it was reached on is kept with it
    /// (``EvidenceRetention``). Nil for a host that is not in the table.
    nonisolated(nonsending) func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?, judged: JudgedEvidence?,
                    now: Date) async throws(RegionError) -> IVTStore.Applied?
    /// Records an audit event on its own.
    func audit(host: String?, kind: String, code: String?, detail: String?, now: Date) async throws(RegionError)
    /// Records an evacuation step's audit event with its typed fields (``EvacuationFields``).
    func audit(host: String?, kind: String, code: String?, detail: String?, evacuation: EvacuationFields, now: Date) async throws(RegionError)
    /// Records a refusal, aggregated per host, kind and code within `window` (``IVTStore/auditAggregated``).
    func auditAggregated(host: String?, kind: String, code: String, detail: String, window: TimeInterval, now: Date) async throws(RegionError)
    /// The audit events after `seq`, oldest first, at most `limit`; with `host`, only that host's.
    func events(since seq: Int64, host: String?, limit: Int) async throws(RegionError) -> [IVTEvent]
    /// The newest audit event's number (0 when there is none).
    nonisolated(nonsending) func lastEventSeq() async throws(RegionError) -> Int64
    /// The newest `limit` audit events of `host`, oldest first.
    func recentEvents(host: String, limit: Int) async throws(RegionError) -> [IVTEvent]
    /// The evidence kept for `host`, newest first; with `bundles`, each with its bundle.
    func evidence(host: String, bundles: Bool) async throws(RegionError) -> [KeptEvidence]
    /// Records which VMs run on each host (the `vms` column); not an audited state change.
    func setVMs(_ placement: [String: [String]], now: Date) async throws(RegionError)
    /// The operator's acceptance of a pending reboot (``RebootAcceptance``).
    func acceptReboot(host: String, reason: String, now: Date) async throws(RegionError) -> RebootAcceptanceAnswer

    // MARK: Enrolment and certificates

    nonisolated(nonsending) func enrolment(_ host: String) async throws(RegionError) -> Enrolment?
    func enrolmentStanding(_ host: String) async throws(RegionError) -> EnrolmentStanding?
    /// Another host enrolled (revoked or not) with the EK named `ekName`, if any.
    func host(enrolledWithEK ekName: String, other host: String) async throws(RegionError) -> String?
    func recordEnrolment(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, ekName: String?,
                         ekCertificateSHA256: String?, now: Date) async throws(RegionError)
    func revoke(host: String, now: Date) async throws(RegionError)
    func readmit(host: String, allowing: EKAllowance, now: Date) async throws(RegionError) -> EKAllowance
    func recordCertificate(_ c: IssuedCertificate, audit kind: String?, now: Date) async throws(RegionError)
    func certificates() async throws(RegionError) -> [IssuedCertificate]

    // MARK: Evacuation records (``EvacuationRecords``)

    /// The host's open evacuation, or a new one caused by `state`/`code`/`detail`.
    func openEvacuation(host: String, state: HostState, code: String?, detail: String?, now: Date) async throws(RegionError) -> EvacuationRecord
    func currentEvacuation(host: String) async throws(RegionError) -> EvacuationRecord?
    func closeEvacuation(host: String, outcome: String, detail: String, now: Date) async throws(RegionError)
    /// Every evacuation, newest first.
    func evacuations(limit: Int) async throws(RegionError) -> [EvacuationRecord]
}

extension RegionStore {
    /// ``transition(_:host:judgedUnder:judged:now:)`` with the bundle not yet encoded.
    package func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String? = nil, evidence: EvidenceBundle? = nil,
                            now: Date = Date()) async throws(RegionError) -> IVTStore.Applied? {
        try await transition(verdict, host: host, judgedUnder: policyDigest, judged: evidence.map { JudgedEvidence($0) }, now: now)
    }
}

extension IVTStore: RegionStore {
    package var location: String { path }
}
