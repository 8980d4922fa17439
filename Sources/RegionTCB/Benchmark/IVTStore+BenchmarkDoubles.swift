package import Foundation
import GRDB
import TPMWire
import Policy

extension IVTStore {
    /// The EK "certificate" recorded for a benchmark double: it says what the host is, in every IVT listing.
    package static let benchmarkDoubleMarker = "BENCHMARK DOUBLE: software key, not a TPM"

    /// BENCHMARK ONLY: records software-key doubles as enrolled hosts of a throwaway benchmark IVT, in one
    /// transaction (each with its audit event). This bypasses enrolment — no EK certificate, no
    /// TPM2_ActivateCredential — which is why only ``BenchmarkRegion`` calls it, on a database it created itself
    /// in a temporary directory, for a region whose policy name is ``BenchmarkRegion/regionName``.
    package func enrolBenchmarkDoubles(_ doubles: [SoftwareAgentDouble], now: Date = Date()) throws(RegionError) {
        try write { db in
            guard let name = try String.fetchOne(db, sql: "SELECT policy_name FROM host LIMIT 1"), name == BenchmarkRegion.regionName else {
                throw RegionError(.forbidden, "software-key doubles are written only into a benchmark-only IVT")
            }
            for d in doubles {
                try db.execute(sql: """
                    UPDATE host SET ak_public = ?, ak_name = ?, ek_certificate = ?, enrolled_at = ?, revoked = 0,
                        state = 'unknown', version = version + 1, updated_at = ? WHERE id = ?
                    """, arguments: [Data(d.akPublic), Hex.encode(d.akName), Self.benchmarkDoubleMarker, now.timeIntervalSince1970,
                                     now.timeIntervalSince1970, d.hostId])
                guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(d.hostId) is not in the IVT") }
                try Self.audit(db, now, host: d.hostId, kind: "benchmark-double-enrolled", old: nil, new: nil, code: nil,
                               detail: Self.benchmarkDoubleMarker)
            }
        }
    }
}
