package import Foundation
import PostgresNIO
package import RegionTCB
import TPMWire

/// BENCHMARK ONLY — the PostgreSQL side of the one seam the benchmarks need (``IVTStore/enrolBenchmarkDoubles(_:now:)``
/// on SQLite): `bench region --store postgresql` records its software-key doubles as enrolled hosts of the
/// benchmark-only region, and clears that region's rows before a run. Both refuse (`auth.forbidden`, nothing
/// written) any region but one named ``IVTStore/benchmarkRegionName``, so no real region's hosts are touched.
extension PostgresRegionStore {
    /// Records software-key doubles as enrolled hosts of the benchmark-only region, in one transaction, each with its
    /// audit event. This bypasses enrolment (no EK certificate, no TPM2_ActivateCredential).
    package func enrolBenchmarkDoubles(_ doubles: [IVTStore.BenchmarkDoubleKey], now: Date = Date()) async throws(RegionError) {
        try requireBenchmarkRegion()
        try await transaction { c in
            for d in doubles {
                let updated = try await c.query("""
                    UPDATE host SET ak_public = \(Data(d.akPublic)), ak_name = \(Hex.encode(d.akName)),
                        ek_certificate = \(IVTStore.benchmarkDoubleMarker), enrolled_at = \(now.timeIntervalSince1970), revoked = false,
                        state = 'unknown', version = version + 1, updated_at = \(now.timeIntervalSince1970)
                    WHERE region = \(self.region) AND id = \(d.hostId) RETURNING id
                    """, logger: self.logger)
                guard try await Self.first(updated) != nil else { throw RegionError(.unknownHost, "host \(d.hostId) is not in the IVT") }
                try await self.audit(c, now, host: d.hostId, kind: "benchmark-double-enrolled", old: nil, new: nil, code: nil,
                                     detail: IVTStore.benchmarkDoubleMarker)
            }
        }
    }

    /// Deletes every row of the benchmark-only region, in every table of the schema that keys on `region` (an
    /// earlier run's hosts, events, evidence and lease), in one transaction.
    package func clearBenchmarkRegion() async throws(RegionError) {
        try requireBenchmarkRegion()
        try await transaction { c in
            let tables = try await c.query("""
                SELECT table_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND column_name = 'region' ORDER BY table_name
                """, logger: self.logger)
            var names: [String] = []
            for try await name in tables.decode(String.self) { names.append(name) }
            for name in names {
                let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                try await c.query("DELETE FROM \(unescaped: quoted) WHERE region = \(self.region)", logger: self.logger)
            }
        }
    }

    func requireBenchmarkRegion() throws(RegionError) {
        guard region == IVTStore.benchmarkRegionName else {
            throw RegionError(.forbidden, "software-key doubles are written only into the benchmark-only region \(IVTStore.benchmarkRegionName), not \(region)")
        }
    }
}
