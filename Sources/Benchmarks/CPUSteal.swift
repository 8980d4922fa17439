import Foundation

/// Time the hypervisor under this machine ran other guests while this one had work (the `steal` column of
/// /proc/stat, all CPUs). Benchmarks report it beside their figures: on a shared host a run with much steal got
/// less CPU than the cores it counts, and its rates are low for that reason alone.
package enum CPUSteal {
    /// Steal seconds so far, summed over every CPU (nil where /proc/stat cannot be read or has no steal column).
    package static func seconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        // cpu user nice system idle iowait irq softirq steal …, in USER_HZ ticks.
        let fields = line.split(separator: " ")
        guard fields.count > 8, let ticks = Double(fields[8]) else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return hz > 0 ? ticks / hz : nil
    }
}
