import Foundation
package import Logging
import PostgresLab
import RegionStorePostgres
import RegionTCB

/// Where `bench region` keeps the benchmark region's state: the RC-TCB directory's SQLite IVT, or PostgreSQL.
package enum RegionBenchmarkStore: String, Sendable, Encodable, CaseIterable {
    case sqlite
    case postgresql
}

/// `bench region`: the RC-TCB under the ring duty of N simulated hosts (``SoftwareAgentDouble``), end to end over
/// HTTPS with mutual TLS and its store (the real `smig-attest rctcb serve` as a child process), against the
/// same work done in process, and the transport floor (the assignment request alone) in turns with it; per host count,
/// a row per store, so SQLite and PostgreSQL are measured by the same run on the same machine.
package enum RegionBenchmark {
    package struct Row: Encodable, Sendable {
        package var hosts: Int
        package var store: RegionBenchmarkStore
        package var endToEnd: RegionLoadResult
        package var inProcess: RegionLoadResult
        /// The transport floor: assignment requests alone (no evidence) over the same connections to the same
        /// RC-TCB process, in stretches taking turns with the end-to-end run's (its `attestations` count those round trips).
        package var transportFloor: RegionLoadResult
        /// End-to-end attestations/s over in-process attestations/s.
        package var ratio: Double
        /// End-to-end attestations/s over transport-floor round trips/s.
        package var ratioToFloor: Double
        /// The RC-TCB process during the end-to-end run: CPU seconds per second, peak RSS.
        package var rctcbCPUCores: Double
        package var rctcbMaxRSSMegabytes: Double
        /// CPU per end-to-end attestation, in microseconds: the RC-TCB process's and the load generator's. Less
        /// sensitive than the rates to CPU steal on a shared host.
        package var rctcbCPUMicrosecondsPerAttestation: Double
        package var loadGeneratorCPUMicrosecondsPerAttestation: Double
        /// CPU per floor round trip, in microseconds: the RC-TCB process's and the load generator's.
        package var floorRCTCBCPUMicrosecondsPerRoundTrip: Double
        package var floorLoadGeneratorCPUMicrosecondsPerRoundTrip: Double
        /// The PostgreSQL server's CPU per end-to-end attestation, in microseconds (its postmaster and backends):
        /// work SQLite does inside the RC-TCB process, PostgreSQL does in its own. Nil for sqlite rows and for a
        /// server given by --store-url (its processes are not this machine's to read).
        package var storeServerCPUMicrosecondsPerAttestation: Double?
        /// The RC-TCB's CPU per attestation over its CPU per floor round trip: what verification and the store
        /// cost on top of the transport.
        package var rctcbCPUPerAttestationOverFloor: Double
        /// The benchmark process (load generator, and the in-process baseline): peak RSS.
        package var benchMaxRSSMegabytes: Double
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "region"
        package var build: String
        package var concurrency: Int
        package var seconds: Double
        /// The PostgreSQL server of the postgresql rows (nil without them): a throwaway cluster the benchmark
        /// started, or the URL given (without its password).
        package var postgresql: String?
        package var rows: [Row]
        /// The targets the rows are checked against (``RegionBenchmarkTargets``).
        package var targets: [RegionBenchmarkTargets.Check]
    }

    /// One row per host count in `counts` and store in `stores`; `storeURL`: the PostgreSQL server to use (nil: a
    /// throwaway cluster started for the run and removed after it). `logger` is the in-process region's.
    package static func run(counts: [Int], stores: [RegionBenchmarkStore] = [.sqlite], storeURL: String? = nil, seconds: Double,
                            concurrency: Int, logger: Logger) async throws -> Report {
        guard stores.contains(.postgresql) else {
            return try await run(counts: counts, stores: stores, url: nil, server: nil, serverPID: nil, seconds: seconds, concurrency: concurrency,
                                 logger: logger)
        }
        if let storeURL {
            return try await run(counts: counts, stores: stores, url: storeURL, server: try PostgresStoreURL(storeURL).description,
                                 serverPID: nil, seconds: seconds, concurrency: concurrency, logger: logger)
        }
        let cluster: PostgresCluster
        do { cluster = try await PostgresCluster.start(durable: true) } catch {
            throw BenchmarkError(.postgresqlDidNotStart, "bench region: cannot start a throwaway PostgreSQL cluster: \(error) "
                                 + "(hint: install postgresql-15 with scripts/install-deps, or give --store-url postgresql://… of a server)")
        }
        do {
            let report = try await run(counts: counts, stores: stores, url: cluster.url,
                                       server: "a throwaway PostgreSQL 15 cluster on 127.0.0.1:\(cluster.port) (fsync on), removed after the run",
                                       serverPID: cluster.serverPID, seconds: seconds, concurrency: concurrency, logger: logger)
            await cluster.destroy()
            return report
        } catch {
            await cluster.destroy()
            throw error
        }
    }

    /// `serverPID`: the PostgreSQL server's process when it is this machine's (its CPU is read), else nil.
    static func run(counts: [Int], stores: [RegionBenchmarkStore], url: String?, server: String?, serverPID: Int32?, seconds: Double,
                    concurrency: Int, logger: Logger) async throws -> Report {
        var rows: [Row] = []
        // One client connection per simulated host in this process (the RC-TCB process holds the other ends).
        let needed = (counts.max() ?? 0) + 1024
        let limit = DescriptorLimit.raise(toAtLeast: needed)
        guard limit >= needed else {
            throw BenchmarkError(.tooFewDescriptors, "bench region: \(counts.max() ?? 0) hosts need \(needed) open files (a connection per host); the limit is \(limit) (raise it with ulimit -n)")
        }
        for n in counts {
            for store in stores {
                let postgresql = store == .postgresql
                rows.append(try await row(hosts: n, store: store, url: postgresql ? url : nil, serverPID: postgresql ? serverPID : nil,
                                          seconds: seconds, concurrency: concurrency, logger: logger))
            }
        }
        return Report(build: BenchmarkBuild.name, concurrency: concurrency, seconds: seconds, postgresql: server, rows: rows,
                      targets: RegionBenchmarkTargets.check(rows))
    }

    /// One host count on one store: a benchmark region of `n` doubles, its RC-TCB process end to end and the floor,
    /// then the same ring duty in process.
    static func row(hosts n: Int, store: RegionBenchmarkStore, url: String?, serverPID: Int32?, seconds: Double, concurrency: Int,
                    logger: Logger) async throws -> Row {
        let bench = try await BenchmarkRegion.open(hosts: n, storeURL: url, logger: logger)
        do {
            let row = try await row(bench, store: store, serverPID: serverPID, seconds: seconds, concurrency: concurrency)
            await bench.close()
            return row
        } catch {
            await bench.close()
            throw error
        }
    }

    static func row(_ bench: BenchmarkRegion, store: RegionBenchmarkStore, serverPID: Int32?, seconds: Double, concurrency: Int) async throws -> Row {
        let n = bench.doubles.count
        let rctcbCPU = PhaseCPU()
        let serverCPU = PhaseCPU()
        let readServer: @Sendable () -> Double? = { serverPID.flatMap(ProcStat.treeCPUSeconds) }
        try await bench.warmUp()
        let regionFile = try bench.writePolicy()
        let rctcb = try await BenchmarkRCTCBProcess(region: regionFile, directory: bench.directory.path, store: bench.storeURL)
        let url = "https://127.0.0.1:\(rctcb.port)"
        let run: RegionLoadGenerator.EndToEnd
        do {
            run = try await RegionLoadGenerator.endToEnd(bench, url: url, concurrency: concurrency, seconds: seconds,
                                                         slices: RegionLoadGenerator.slices(forSeconds: seconds),
                                                         onSlice: { phase, starting in
                                                             rctcbCPU.mark(phase, starting: starting, rctcb.cpuSeconds)
                                                             if serverPID != nil { serverCPU.mark(phase, starting: starting, readServer()) }
                                                         })
        } catch {
            await rctcb.stop()
            throw error
        }
        guard rctcb.process.isRunning else {
            throw BenchmarkError(.rctcbExited, "bench region: the RC-TCB process (\(store.rawValue), \(n) hosts) exited during the run: \(rctcb.logTail)")
        }
        let e2e = run.attestations
        let floor = run.floor
        let rctcbCores = e2e.seconds > 0 ? (rctcbCPU.total(.attestations) / e2e.seconds * 100).rounded() / 100 : 0
        let floorCores = floor.seconds > 0 ? rctcbCPU.total(.floor) / floor.seconds : 0
        let rss = rctcb.maxRSSMegabytes
        await rctcb.stop()
        let local = await RegionLoadGenerator.inProcess(bench, concurrency: concurrency, seconds: seconds)
        let rctcbPerAttestation = cpuMicroseconds(rctcbCores, e2e.perSecond)
        let serverCores = serverPID != nil && e2e.seconds > 0 ? serverCPU.total(.attestations) / e2e.seconds : nil
        let floorPerRoundTrip = cpuMicroseconds(floorCores, floor.perSecond)
        return Row(hosts: n, store: store, endToEnd: e2e, inProcess: local, transportFloor: floor,
                   ratio: local.perSecond > 0 ? (e2e.perSecond / local.perSecond * 1000).rounded() / 1000 : 0,
                   ratioToFloor: floor.perSecond > 0 ? (e2e.perSecond / floor.perSecond * 1000).rounded() / 1000 : 0,
                   rctcbCPUCores: rctcbCores, rctcbMaxRSSMegabytes: rss,
                   rctcbCPUMicrosecondsPerAttestation: rctcbPerAttestation,
                   loadGeneratorCPUMicrosecondsPerAttestation: cpuMicroseconds(e2e.processCPUCores, e2e.perSecond),
                   floorRCTCBCPUMicrosecondsPerRoundTrip: floorPerRoundTrip,
                   floorLoadGeneratorCPUMicrosecondsPerRoundTrip: cpuMicroseconds(floor.processCPUCores, floor.perSecond),
                   storeServerCPUMicrosecondsPerAttestation: serverCores.map { cpuMicroseconds($0, e2e.perSecond) },
                   rctcbCPUPerAttestationOverFloor: floorPerRoundTrip > 0 ? (rctcbPerAttestation / floorPerRoundTrip * 100).rounded() / 100 : 0,
                   benchMaxRSSMegabytes: ProcessUsage.maxRSSMegabytes())
    }

    /// CPU microseconds per event (an attestation, a round trip) from cores used and events per second.
    static func cpuMicroseconds(_ cores: Double, _ perSecond: Double) -> Double {
        perSecond > 0 ? (cores / perSecond * 1_000_000).rounded() : 0
    }
}
