import Swtpm
package import Foundation
import Measurement
import Migration

/// Compromising a host of a loopback region as an attacker with root on it could, and bringing it back.
extension LoopbackRegion {
    /// Writes into the code of `host`'s hypervisor process (the last 64 bytes of QEMU's executable mapping,
    /// through /proc/PID/mem, as an attacker with root on that host could). Returns when it was written.
    @discardableResult
    package func compromise(_ index: Int) throws -> Date {
        let pid = try hypervisorPID(index)
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        guard let line = maps.split(separator: "\n").first(where: { $0.contains(" r-xp ") && $0.hasSuffix(exe) }),
              let range = line.split(separator: " ").first, let dash = range.firstIndex(of: "-"),
              let end = UInt64(range[range.index(after: dash)...], radix: 16) else {
            throw Failure(description: "no executable mapping of \(exe) in process \(pid)")
        }
        let fd = open("/proc/\(pid)/mem", O_RDWR)
        guard fd >= 0 else { throw Failure(description: "cannot open /proc/\(pid)/mem: errno \(errno)") }
        defer { close(fd) }
        let bytes = [UInt8](repeating: 0xCC, count: 64)
        let at = Date()
        guard pwrite(fd, bytes, bytes.count, off_t(end - 64)) == bytes.count else { throw Failure(description: "cannot write into process \(pid): errno \(errno)") }
        return at
    }

    /// Brings a compromised host back as a freshly booted one: a new hypervisor process, a TPM reset
    /// (orderly shutdown, then startup-clear), a new measurement log, the agent restarted. The RC-TCB sees
    /// the reset (`rebooted`) and re-attests it.
    package func repair(_ index: Int) async throws {
        stopAgent(index)
        if let old = hosts[index].hypervisorProcess { try? await QEMUDriver().stop(old) }
        hosts[index].hypervisorProcess = try await startHypervisor(hosts[index].id)
        // An orderly TPM2_Shutdown(CLEAR) first, so the TPM's clock stays `safe` across the reset.
        _ = try? run(["-T", hosts[index].swtpm.tcti, "-c"], tool: "/usr/bin/tpm2_shutdown")
        hosts[index].swtpm.stop()
        try hosts[index].swtpm.start()
        hosts[index].tcti = hosts[index].swtpm.tcti  // a restarted swtpm listens on a new port
        try boot(hosts[index].swtpm, host: hosts[index].id)
        try? FileManager.default.removeItem(atPath: MeasurementLog.path(inStateDirectory: hosts[index].stateDirectory))
        try writeAgentConfig(index, rctcb: url)
        try startAgent(index)
    }

    /// The "firmware" of a software TPM after a reset (``RegionProcesses/boot(tcti:host:in:)``).
    func boot(_ swtpm: SoftwareTPM, host: String) throws {
        try processes.boot(tcti: swtpm.tcti, host: host)
    }

    /// Restarts every agent with pushes on or off.
    package func setPush(_ push: Bool) throws {
        for i in hosts.indices {
            stopAgent(i)
            var c = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hosts[i].agentConfig))) as? [String: Any]) ?? [:]
            c["push"] = push
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: hosts[i].agentConfig))
            try startAgent(i)
        }
    }
}
