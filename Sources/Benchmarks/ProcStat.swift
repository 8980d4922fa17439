import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Another process's CPU time, from /proc/PID/stat: the benchmark's RC-TCB process, and the PostgreSQL server of
/// the postgresql rows (its postmaster and the backends it forked).
enum ProcStat {
    /// The fields after "(comm)" of /proc/PID/stat: the state (field 3 of the line) first.
    static func fields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// User + system CPU seconds of `pid` so far; with `reapedChildren`, also those of its children that ended
    /// and were waited for (cutime, cstime).
    static func cpuSeconds(_ pid: Int32, reapedChildren: Bool = false) -> Double? {
        // After "(comm)": utime is field 14, stime 15, cutime 16, cstime 17 (1-based over the whole line).
        guard let f = fields(pid), f.count > 14, let user = Double(f[11]), let system = Double(f[12]),
              let childUser = Double(f[13]), let childSystem = Double(f[14]) else { return nil }
        return (user + system + (reapedChildren ? childUser + childSystem : 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of `pid` and every child it forked, running or ended (a server and its workers); nil when
    /// `pid` does not run.
    static func treeCPUSeconds(_ pid: Int32) -> Double? {
        guard let own = cpuSeconds(pid, reapedChildren: true) else { return nil }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let children = entries.compactMap { Int32($0) }.filter { p in fields(p).flatMap { $0.count > 1 ? Int32($0[1]) : nil } == pid }
        return own + children.compactMap { cpuSeconds($0) }.reduce(0, +)
    }
}
