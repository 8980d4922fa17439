import Foundation
import Synchronization

/// The loopback ports a process hands to the servers it starts (swtpm, agents, RC-TCBs, PostgreSQL clusters), taken
/// from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by default) and never twice.
///
/// A port the system picked with bind(0) and gave back is free again at once: the next bind(0) anywhere on the
/// machine, or a QEMU or PostgreSQL started meanwhile, may take it. A server stopped and started again on its port
/// (an agent restarted after a TPM reset, PostgreSQL restarted) then finds it taken, or worse, its clients reach a
/// stranger on it. Ports below the ephemeral range are never chosen by bind(0) or for an outgoing connection, and this
/// process does not hand one out twice, so a port stays its server's for the life of the process.
package final class LoopbackPorts: Sendable {
    package static let shared = LoopbackPorts()

    /// Ports already handed out.
    private let handedOut = Mutex<Set<Int>>([])
    /// Where the pairs are chosen from (the first port of each pair).
    let range: ClosedRange<Int>

    init(range: ClosedRange<Int>? = nil) {
        self.range = range ?? Self.belowEphemeral()
    }

    /// A pair N, N+1 both free now (by `isFree`) and not handed out before; nil when none was found.
    package func reservePair(isFree: (Int) -> Bool) -> Int? {
        for _ in 0..<500 {
            let port = Int.random(in: range)
            let taken = handedOut.withLock { set in
                if set.contains(port) || set.contains(port + 1) { return true }
                set.formUnion([port, port + 1])
                return false
            }
            if taken { continue }
            if isFree(port), isFree(port + 1) { return port }
            // In use by someone else: leave it marked, it is not ours to give.
        }
        return nil
    }

    /// 20000 up to just below the ephemeral range's start (libvirt's migration ports and QEMU's VNC ports lie
    /// elsewhere). A machine whose ephemeral range starts below 21024 leaves no such room: there the ports above
    /// 49152, at best effort (the system may pick one of them too).
    static func belowEphemeral() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        let low = bounds.first ?? 32768
        if low - 2 >= 20000 + 1024 { return 20000...(low - 2) }
        return 49152...(65535 - 1)
    }
}
