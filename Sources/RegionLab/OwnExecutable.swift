import Foundation

/// The path of the running executable (`/proc/self/exe`): the `smig-attest` binary the lab's and the
/// benchmarks' child processes (agents, the RC-TCB) are started from.
package enum OwnExecutable {
    package static var path: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
