package import Attestation
package import Foundation

/// What the region's decision path needs from the database that keeps the IVT's host rows and the audit trail, on
/// either backend: ``IVTStore`` (SQLite, one region per file, the default) and the PostgreSQL store (several regions
/// in one database, each seeing only its own rows). Every change of a row goes through ``HostTransition`` inside one
/// database transaction together with its audit event, on both.
///
/// The SQLite store's synchronous methods are its witnesses, so nothing that holds an ``IVTStore`` changes.
package protocol RegionStore: Sendable {
    /// Adds the hosts that are not in the table yet (state `unknown`, audited `host-added`) and updates addresses.
    func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String, now: Date) async throws(RegionError)
    /// Every host row, ordered by host id.
    func rows() async throws(RegionError) -> [IVTRow]
    func row(_ host: String) async throws(RegionError) -> IVTRow?
    /// Applies a verdict by ``HostTransition`` in one transaction: the old row is read (and held against other
    /// writers), the new row and its audit event are written. Nil for a host that is not in the table.
    func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?, evidence: EvidenceBundle?,
                    now: Date) async throws(RegionError) -> IVTStore.Applied?
    /// Records an audit event on its own.
    func audit(host: String?, kind: String, code: String?, detail: String?, now: Date) async throws(RegionError)
    /// The audit events after `seq`, oldest first, at most `limit`; with `host`, only that host's.
    func events(since seq: Int64, host: String?, limit: Int) async throws(RegionError) -> [IVTEvent]
}

extension IVTStore: RegionStore {}

