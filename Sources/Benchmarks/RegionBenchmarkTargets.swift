import Foundation

/// The figures `bench region` is held to, checked on the rows of one run: PostgreSQL's RC-TCB CPU per attestation
/// within ``postgresqlOverSQLite`` of SQLite's at the same host count, SQLite's within ``sqliteOverFloor`` of the
/// transport floor's RC-TCB CPU per round trip, and the end-to-end p99 under ``p99Milliseconds`` at
/// ``p99Hosts`` hosts. A target the run cannot check (no row for it) is reported as not measured, never as met;
/// a missed one says what was measured beside it, so the reader can tell a slow path from a starved machine.
package enum RegionBenchmarkTargets {
    package static let postgresqlOverSQLite = 1.5
    package static let sqliteOverFloor = 2.5
    package static let p99Milliseconds = 100.0
    package static let p99Hosts = 10_000

    /// One target at one host count: the measured value (nil: not measured), the limit, and whether it was met.
    package struct Check: Encodable, Sendable {
        package var target: String
        package var hosts: Int
        package var value: Double?
        package var limit: Double
        package var met: Bool?
        package var detail: String
    }

    package static func check(_ rows: [RegionBenchmark.Row]) -> [Check] {
        var checks: [Check] = []
        for n in Set(rows.map(\.hosts)).sorted() {
            let sqlite = rows.first { $0.hosts == n && $0.store == .sqlite }
            let postgresql = rows.first { $0.hosts == n && $0.store == .postgresql }
            if let sqlite, let postgresql, sqlite.rctcbCPUMicrosecondsPerAttestation > 0 {
                let ratio = rounded(postgresql.rctcbCPUMicrosecondsPerAttestation / sqlite.rctcbCPUMicrosecondsPerAttestation)
                var detail = String(format: "%.0f µs (postgresql) / %.0f µs (sqlite) of RC-TCB CPU per attestation",
                                    postgresql.rctcbCPUMicrosecondsPerAttestation, sqlite.rctcbCPUMicrosecondsPerAttestation)
                if ratio > postgresqlOverSQLite {
                    detail += String(format: "; the floor costs the RC-TCB %.0f / %.0f µs per round trip, so the extra %.0f µs is the store's client work; %@",
                                     postgresql.floorRCTCBCPUMicrosecondsPerRoundTrip, sqlite.floorRCTCBCPUMicrosecondsPerRoundTrip,
                                     postgresql.rctcbCPUMicrosecondsPerAttestation - sqlite.rctcbCPUMicrosecondsPerAttestation,
                                     machine(postgresql.endToEnd, rctcbCores: postgresql.rctcbCPUCores))
                }
                checks.append(Check(target: "rctcb-cpu-postgresql-over-sqlite", hosts: n, value: ratio, limit: postgresqlOverSQLite,
                                    met: ratio <= postgresqlOverSQLite, detail: detail))
            }
            if let sqlite {
                let ratio = sqlite.rctcbCPUPerAttestationOverFloor
                var detail = String(format: "%.0f µs of RC-TCB CPU per attestation / %.0f µs per floor round trip",
                                    sqlite.rctcbCPUMicrosecondsPerAttestation, sqlite.floorRCTCBCPUMicrosecondsPerRoundTrip)
                if ratio > sqliteOverFloor { detail += "; " + machine(sqlite.endToEnd, rctcbCores: sqlite.rctcbCPUCores) }
                checks.append(Check(target: "rctcb-cpu-sqlite-over-floor", hosts: n, value: ratio > 0 ? ratio : nil, limit: sqliteOverFloor,
                                    met: ratio > 0 ? ratio <= sqliteOverFloor : nil, detail: ratio > 0 ? detail : "no floor round trips measured"))
            }
        }
        let large = rows.filter { $0.hosts == p99Hosts }
        if large.isEmpty {
            checks.append(Check(target: "p99-milliseconds", hosts: p99Hosts, value: nil, limit: p99Milliseconds, met: nil,
                                detail: "not measured: the run has no \(p99Hosts)-host row"))
        }
        for r in large {
            let p99 = r.endToEnd.p99Milliseconds
            var detail = "\(r.store.rawValue): end-to-end p99"
            if p99 >= p99Milliseconds {
                // With a fixed number of duties in flight, each waits about (in flight) / (rate): a CPU-bound rate is a long wait.
                detail += String(format: " %.1f ms, p50 %.1f ms at %.0f att/s; in process p99 %.1f ms; %@", p99, r.endToEnd.p50Milliseconds,
                                 r.endToEnd.perSecond, r.inProcess.p99Milliseconds, machine(r.endToEnd, rctcbCores: r.rctcbCPUCores))
            }
            checks.append(Check(target: "p99-milliseconds", hosts: r.hosts, value: p99, limit: p99Milliseconds, met: p99 < p99Milliseconds,
                                detail: detail))
        }
        return checks
    }

    /// How busy the machine was during an end-to-end run: the RC-TCB's and the load generator's cores, of how many,
    /// the machine's busy cores in all (the rest is other work on this shared machine) and the steal. When the
    /// machine was busy near all its cores, the run was CPU-bound here, not waiting on the path.
    static func machine(_ run: RegionLoadResult, rctcbCores: Double) -> String {
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let ours = rctcbCores + run.processCPUCores
        let busy = run.machineBusyCores
        let steal = run.stealCores.map { String(format: "%.2f", $0) } ?? "unknown"
        let others = busy.map { String(format: "%.2f", max(0, $0 - ours)) } ?? "unknown"
        let bound = (busy ?? ours) + (run.stealCores ?? 0) >= cores * 0.85
            ? "CPU-bound: this machine's cores were taken" : "not CPU-bound"
        return String(format: "RC-TCB %.2f + load generator %.2f + other processes %@ of %.0f cores, steal %@ cores (%@)", rctcbCores,
                      run.processCPUCores, others, cores, steal, bound)
    }

    static func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}
