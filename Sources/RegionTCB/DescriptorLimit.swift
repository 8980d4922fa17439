#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit. Every agent keeps one TLS connection to the RC-TCB, so a region of N hosts needs N
/// descriptors and some; `bench region` holds both ends of each connection in one process (2N).
package enum DescriptorLimit {
    /// Raises this process's RLIMIT_NOFILE to at least `needed` (up to what the system allows); returns the
    /// soft limit in force afterwards.
    @discardableResult
    package static func raise(toAtLeast needed: Int) -> Int {
        var current = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0 else { return 0 }
        let want = rlim_t(needed)
        if current.rlim_cur >= want { return Int(current.rlim_cur) }
        var next = current
        next.rlim_cur = want
        if next.rlim_max < want { next.rlim_max = want }   // root may raise the hard limit up to fs.nr_open
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &next) != 0 {
            next.rlim_cur = current.rlim_max
            next.rlim_max = current.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &next)
        }
        var after = rlimit()
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &after)
        return Int(after.rlim_cur)
    }
}
