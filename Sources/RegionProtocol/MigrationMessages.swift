/// The operator's gated migration request (`POST /v1/migrations`, admin certificate): the RC-TCB moves `vm`
/// to `target` only if `target` is trusted with a fresh quote, passes a challenge now, and attests again
/// after the transfer, before the VM resumes there.
package struct MigrationRequest: Codable, Sendable, Hashable {
    package var vm: String
    package var target: String

    package init(vm: String, target: String) {
        self.vm = vm
        self.target = target
    }
}

/// One VM of the RC-TCB's inventory (`GET /v1/vms`).
package struct VMPlacement: Codable, Sendable, Hashable {
    package var vm: String
    package var host: String
    /// `running`, `paused`, `migrating`, `stopped` or `lost`.
    package var state: String
    package var memoryMiB: Int

    package init(vm: String, host: String, state: String, memoryMiB: Int) {
        self.vm = vm
        self.host = host
        self.state = state
        self.memoryMiB = memoryMiB
    }
}
