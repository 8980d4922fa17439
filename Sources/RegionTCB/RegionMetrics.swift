import CoreMetrics
import Foundation
import Metrics

/// The RC-TCB's metrics, created once (swift-metrics; the executable chooses the backend — Prometheus for
/// `rctcb serve`, served at /metrics). Labels have low cardinality: results, error codes and states, never host ids.
struct RegionMetrics: Sendable {
    let verified = Counter(label: "smig_attestations_total", dimensions: [("result", "ok")])
    let refused = Counter(label: "smig_attestations_total", dimensions: [("result", "fail")])
    let latency = Metrics.Timer(label: "smig_attestation_duration_seconds")
    let ringLinks = Gauge(label: "smig_ring_links")
    let states: [HostState: Gauge] = Dictionary(uniqueKeysWithValues: HostState.allCases.map {
        ($0, Gauge(label: "smig_hosts", dimensions: [("state", $0.rawValue)]))
    })

    /// Failures by code: the set of codes is small and fixed by the code base.
    func failure(_ code: String) {
        Counter(label: "smig_attestation_failures_total", dimensions: [("code", code)]).increment()
    }

    func record(counts: [HostState: Int]) {
        for (state, gauge) in states { gauge.record(counts[state] ?? 0) }
    }
}
