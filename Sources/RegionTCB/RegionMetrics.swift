import CoreMetrics
package import Foundation
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

/// The agent certificates' expiry as the RC-TCB sees it (recorded when /metrics is read): the fewest days any
/// current certificate has left, and how many expire within 30 days. No host ids: `rctcb certs` names them.
package struct CertificateMetrics: Sendable {
    package static let shared = CertificateMetrics()
    let minDays = Gauge(label: "smig_agent_certificate_min_days_to_expiry")
    let expiringSoon = Gauge(label: "smig_agent_certificates_expiring", dimensions: [("within", "30d")])

    package func record(_ issued: [IssuedCertificate], now: Date) {
        let current = issued.filter(\.current)
        if let fewest = current.map({ $0.daysToExpiry(now: now) }).min() { minDays.record(fewest) }
        expiringSoon.record(current.filter { $0.daysToExpiry(now: now) < 30 }.count)
    }
}
