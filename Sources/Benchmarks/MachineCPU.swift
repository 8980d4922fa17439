import Foundation

/// CPU time this machine spent on any process (user, nice, system, irq and softirq of /proc/stat, all CPUs). A
/// benchmark compares it with its own processes' CPU: the rest is other work on a shared machine, which steal does
/// not show (it counts only the hypervisor's other guests).
enum MachineCPU {
    /// Busy seconds so far, summed over every CPU (nil where /proc/stat cannot be read).
    static func busySeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        // cpu user nice system idle iowait irq softirq steal …, in USER_HZ ticks.
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count > 6 else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return hz > 0 ? (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / hz : nil
    }
}
