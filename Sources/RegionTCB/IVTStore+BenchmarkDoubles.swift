package import Foundation
import GRDB
import TPMWire
import Policy

extension IVTStore {
    /// The EK "certificate" recorded for a benchmark double: it says what the host is, in every IVT listing.
    package static let benchmarkDoubleMarker = "BENCHMARK DOUBLE: software key, not a TPM"
    /// The policy name of every benchmark-only region: ``enrolBenchmarkDoubles(_:now:)`` writes only into an IVT
    /// created for a region of this name.
    package static let benchmarkRegionName = "benchmark-only-software-keys"

    /// A benchmark double as the IVT records it: a host whose attestation key is a software key, not a TPM's.
    package struct BenchmarkDoubleKey: Sendable {
        package var hostId: String
        /// TPM2B_PUBLIC of the software key and its TPM Name.
        package var akPublic: [UInt8]
        package var akName: [UInt8]

        package init(hostId: String, akPublic: [UInt8], akName: [UInt8]) {
            self.hostId = hostId
            self.akPublic = akPublic
            self.akName = akName
        }
    }

    /// BENCHMARK ONLY — the one seam the benchmarks (the `Benchmarks` target, outside the RC-TCB) need: records
    /// software-key doubles as enrolled hosts of a throwaway benchmark IVT, in one transaction (each with its audit
    /// event). This bypasses enrolment — no EK certificate, no TPM2_ActivateCredential — so it refuses
    /// (`auth.forbidden`, nothing written) any IVT but one whose region policy is named ``benchmarkRegionName``.
    package func enrolBenchmarkDoubles(_ doubles: [BenchmarkDoubleKey], now: Date = Date()) throws(RegionError) {
        try write(durable: false) { db in
            guard let name = try String.fetchOne(db, sql: "SELECT policy_name FROM host LIMIT 1"), name == Self.benchmarkRegionName else {
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
