package import Foundation

/// The lab's counting guest as a libvirt domain: a 512-byte boot sector on a read-only floppy that fills 1 to
/// 60 MiB of its RAM with 0xA5A5A5A5, prints "BOOT" on COM1, then once a second checks all of that memory, prints
/// "tick N mem-ok" (N in hex, counting from 1; "MEM-BAD" if the check failed) and dirties 4 MiB again. Its serial
/// log is the host's own (`Host.serialLog(of:)`), appended to, so the ticks of every host it ran on add up.
extension LibvirtHosts {
    /// The boot sector (base64).
    static let countingBootSector = """
        +jHAjtiO0LwAfPzoxQBmvwAAEABmuQAA7ABmuKWlpaXzZmerZjHt6I0AuvkDMMDuuvsDsIDuuvgD
        sAHuuvkDMMDuuvsDsAPuvj596L4AZkW+RX3otgBmiejolQD66HMAvkt9Zr8AABAAZrilpaWlZoH/
        AABQAHMFZmeNRf8mZmc5B3UhJmZngb/8DwAApaWlpXUSZoHHABAAAGaB/wAAwANyxusDvlV96AwA
        ++hdALkSAPTi/euXZr8AABAAJmZniS9mgccAEAAAZoH/AABQAHLrww8BFjh9DyDADAEPIsDrALsI
        AI7DJP4PIsAx247Dw7kIAGbBwARmUCQPBDA8OXYCBAfoEABmWOLpw6wIwHQF6AMA6/bDUlC6/QPs
        qCB0+1i6+APuWsMAAAAAAAAAAP//AAAAks8ADwAofQAAQk9PVA0KAHRpY2sgACBtZW0tb2sNCgAg
        TUVNLUJBRA0KAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAVao=
        """

    /// Writes the guest's floppy image (once) and returns its path.
    private func guestImage() throws -> String {
        let path = directory.appendingPathComponent("guest/counter.img").path
        if FileManager.default.fileExists(atPath: path) { return path }
        guard let sector = Data(base64Encoded: Self.countingBootSector, options: .ignoreUnknownCharacters), sector.count == 512 else {
            throw LabSpawn.Failure(description: "the counting guest's boot sector does not decode to 512 bytes")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try (sector + Data(count: 1_474_560 - sector.count)).write(to: URL(fileURLWithPath: path))  // a 1.44 MB floppy
        return path
    }

    /// Defines a QEMU/TCG domain `name` booting the counting guest on `host` with `virsh define` (libvirt's, not
    /// smig-attest's: nothing of smig-attest starts it), and starts it unless `start` is false. The floppy is read-only
    /// (no complaint about cache modes or shared storage when it migrates).
    package func defineCountingGuest(_ name: String, uuid: UUID = UUID(), memoryMiB: Int = 64, vcpus: Int = 1,
                                     on host: Host, start: Bool = true) async throws {
        let xml = """
            <domain type='qemu'>
              <name>\(name)</name>
              <uuid>\(uuid.uuidString.lowercased())</uuid>
              <memory unit='MiB'>\(memoryMiB)</memory>
              <vcpu>\(vcpus)</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
              <on_poweroff>destroy</on_poweroff>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <disk type='file' device='floppy'>
                  <driver name='qemu' type='raw'/>
                  <source file='\(try guestImage())'/>
                  <target dev='fda' bus='fdc'/>
                  <readonly/>
                </disk>
                <controller type='usb' model='none'/>
                <serial type='file'>
                  <source path='/var/log/libvirt/qemu/\(name)-serial.log' append='on'/>
                  <target port='0'/>
                </serial>
                <video><model type='none'/></video>
                <memballoon model='none'/>
              </devices>
            </domain>
            """
        let file = directory.appendingPathComponent("guest/\(name).xml")
        try xml.write(to: file, atomically: true, encoding: .utf8)
        try await virsh(host, "define", file.path)
        if start { try await virsh(host, "start", name) }
    }

    /// What the counting guest `name` printed on every host so far.
    package func ticks(of name: String) -> GuestTicks {
        GuestTicks(logs: hosts.map { (try? Data(contentsOf: $0.serialLog(of: name))) ?? Data() })
    }
}

/// The counting guest's serial output, read from the logs of every host it ran on.
///
/// Only complete lines count: a line the guest was printing when a log was read, or when the guest moved to the
/// other host, is neither a tick nor a duplicate.
package struct GuestTicks: Sendable, CustomStringConvertible {
    /// "BOOT" lines: one unless the guest started over.
    package let boots: Int
    /// Every "tick N" seen, in log order (host by host).
    package let ticks: [UInt32]
    /// "MEM-BAD" lines: the guest found its memory changed.
    package let memoryErrors: Int

    package init(logs: [Data]) {
        var boots = 0, memoryErrors = 0
        var ticks: [UInt32] = []
        for log in logs {
            // Split as bytes: the guest ends its lines with CR LF, one Character in a Swift String.
            let complete = log.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()  // the rest: partial
            for raw in complete {
                let line = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if line == "BOOT" { boots += 1 }
                if line.hasSuffix("MEM-BAD") { memoryErrors += 1 }
                let fields = line.split(separator: " ")
                if fields.count == 3, fields[0] == "tick", fields[2] == "mem-ok", fields[1].count == 8, let n = UInt32(fields[1], radix: 16) {
                    ticks.append(n)
                }
            }
        }
        self.boots = boots
        self.ticks = ticks
        self.memoryErrors = memoryErrors
    }

    /// The highest tick, 0 before the first.
    package var latest: UInt32 { ticks.max() ?? 0 }

    /// Ticks printed more than once (the guest ran on from an older state somewhere).
    package var duplicates: Int { ticks.count - Set(ticks).count }

    /// Ticks between the first and the latest that no complete line shows.
    package var gaps: Int {
        guard let low = ticks.min() else { return 0 }
        return Int(latest - low + 1) - Set(ticks).count
    }

    package var description: String {
        "BOOT lines \(boots), ticks \(ticks.count) up to \(latest), duplicates \(duplicates), gaps \(gaps), MEM-BAD \(memoryErrors)"
    }
}
