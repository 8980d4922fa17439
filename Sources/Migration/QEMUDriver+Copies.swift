extension QEMUDriver {
    /// Every host of `hosts` on which `vm` has a QEMU process, with its run state: a VM that runs exactly once has
    /// one entry, `.running` (what the evacuation and failover tests hold a region to).
    package func copies(of vm: String, on hosts: [MigrationHost]) async -> [String: VMRunState] {
        var out: [String: VMRunState] = [:]
        for h in hosts {
            let st = await state(of: instance(of: vm, on: h, port: nil))
            if st.hasProcess { out[h.name] = st }
        }
        return out
    }
}
