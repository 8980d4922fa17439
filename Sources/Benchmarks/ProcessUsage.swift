import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// This process's resource use (getrusage).
enum ProcessUsage {
    /// Peak resident set, in MB.
    static func maxRSSMegabytes() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return (Double(u.ru_maxrss) / 1024).rounded()
    }

    /// User and system CPU seconds so far.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}
