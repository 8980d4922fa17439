import DurationUnits
import Foundation

/// What one stretch of load counted, before it is summed up as a ``RegionLoadResult``: the latencies themselves,
/// so the stretches of one phase (``RegionLoadGenerator/endToEnd(_:url:concurrency:seconds:slices:onSlice:)``
/// alternates its two) give one result with the percentiles of all of them.
struct RegionLoadTally: Sendable {
    var latencies: [Duration] = []
    var errors = 0
    var firstError: String?
    var seconds: Double = 0
    /// CPU seconds of this whole process over the stretch.
    var cpuSeconds: Double = 0
    /// The machine's steal and busy CPU seconds over the stretch; nil where /proc/stat cannot be read.
    var stealSeconds: Double?
    var busySeconds: Double?

    /// The stretches of one phase as one: counts, seconds and CPU added, latencies pooled.
    static func merged(_ parts: [Self]) -> Self {
        var all = Self()
        for (i, p) in parts.enumerated() {
            all.latencies += p.latencies
            all.errors += p.errors
            all.firstError = all.firstError ?? p.firstError
            all.seconds += p.seconds
            all.cpuSeconds += p.cpuSeconds
            all.stealSeconds = i == 0 ? p.stealSeconds : all.stealSeconds.flatMap { s in p.stealSeconds.map { s + $0 } }
            all.busySeconds = i == 0 ? p.busySeconds : all.busySeconds.flatMap { b in p.busySeconds.map { b + $0 } }
        }
        return all
    }

    /// Rates per second of the stretches' summed time; percentiles of every latency.
    var result: RegionLoadResult {
        let sorted = latencies.sorted()
        func ms(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))].inMilliseconds.rounded(toPlaces: 2)
        }
        let secs = seconds > 0 ? seconds : 1
        return RegionLoadResult(attestations: sorted.count, errors: errors, seconds: seconds,
                                perSecond: (Double(sorted.count) / secs).rounded(), p50Milliseconds: ms(0.5), p99Milliseconds: ms(0.99),
                                firstError: firstError, processCPUCores: (cpuSeconds / secs).rounded(toPlaces: 2),
                                stealCores: stealSeconds.map { ($0 / secs).rounded(toPlaces: 2) },
                                machineBusyCores: busySeconds.map { ($0 / secs).rounded(toPlaces: 2) })
    }
}

extension Double {
    func rounded(toPlaces n: Int) -> Double {
        let f = pow(10, Double(n))
        return (self * f).rounded() / f
    }
}
