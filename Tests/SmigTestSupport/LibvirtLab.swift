public import Foundation

/// Two libvirt hosts on this machine for a test (`libvirt-lab.sh` beside this file makes them): A and B, each in
/// its own network, mount and UTS namespace with its own libvirtd and virtlogd, joined by a veth pair on a /24 of
/// 10.0.0.0/8 picked at random, all under a temporary directory of its own. ``run(_:)`` tears it all down
/// (domains destroyed, daemons, QEMU and namespace holders killed, directory removed) however the test ends.
/// Needs root.
public final class LibvirtLab: Sendable {
    /// One of the two hosts.
    public struct Host: Sendable {
        /// "A" or "B".
        public let name: String
        /// Its address on the veth pair.
        public let address: String
        /// The URI this test process uses: libvirtd's Unix socket in the lab directory (the host's network exists
        /// only inside its namespace).
        public let localURI: String
        /// The URI the other host's libvirtd reaches this one at: `qemu+tcp://ADDRESS/system`.
        public let tcpURI: String
        /// Where the other host's QEMU sends memory to: `tcp://ADDRESS`.
        public let migrateURI: String
        /// The host's /var/log/libvirt, seen from outside.
        let logDirectory: URL

        /// The serial log of a counting guest called `domain` while it ran on this host (appended, never truncated).
        public func serialLog(of domain: String) -> URL {
            logDirectory.appendingPathComponent("qemu/\(domain)-serial.log")
        }
    }

    public let directory: URL
    public let a: Host
    public let b: Host
    /// The lab's /24, e.g. "10.123.45" (A is .1, B is .2).
    public let prefix: String

    /// A libvirt URI on the lab's network where nobody answers (no host has the address).
    public var unreachableURI: String { "qemu+tcp://\(prefix).3/system" }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("libvirt-lab.sh").path

    private init(directory: URL, prefix: String) {
        self.directory = directory
        self.prefix = prefix
        func host(_ name: String, _ n: Int) -> Host {
            let address = "\(prefix).\(n)"
            return Host(name: name, address: address,
                        localURI: "qemu+unix:///system?socket=\(directory.path)/\(name)/sock/libvirt-sock",
                        tcpURI: "qemu+tcp://\(address)/system", migrateURI: "tcp://\(address)",
                        logDirectory: directory.appendingPathComponent("\(name)/log"))
        }
        a = host("A", 1)
        b = host("B", 2)
    }

    /// Brings the two hosts up, runs `body`, and tears everything down whether `body` returns or throws. Takes one
    /// of the ``LiveScenarioSlots`` meanwhile: two libvirt daemons and a TCG guest are a heavy scenario.
    public static func run<T>(_ body: (LibvirtLab) async throws -> T) async throws -> T {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        await removeAbandonedLabs()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(directoryPrefix)\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try String(getpid()).write(to: directory.appendingPathComponent("owner.pid"), atomically: true, encoding: .utf8)
        let lab = LibvirtLab(directory: directory, prefix: "10.\(Int.random(in: 100...250)).\(Int.random(in: 0...255))")
        do {
            try await lab.script("up", directory.path, lab.prefix)
            let result = try await body(lab)
            try await lab.tearDown()
            return result
        } catch {
            try? await lab.tearDown()
            throw error
        }
    }

    static let directoryPrefix = "smig-libvirt-"

    /// Tears down the labs of test processes that died before they could (killed, crashed): those whose owner
    /// process is gone. A lab of a test process that still runs is left alone.
    private static func removeAbandonedLabs() async {
        let temporary = FileManager.default.temporaryDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names where name.hasPrefix(directoryPrefix) {
            let directory = temporary.appendingPathComponent(name)
            guard let text = try? String(contentsOf: directory.appendingPathComponent("owner.pid"), encoding: .utf8),
                  let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(owner, 0) != 0, errno == ESRCH
            else { continue }
            try? await LibvirtLab(directory: directory, prefix: "").tearDown()
        }
    }

    private func tearDown() async throws {
        try await script("down", directory.path)
        try? FileManager.default.removeItem(at: directory)
    }

    private func script(_ args: String...) async throws {
        let result = try await Spawn.run("/bin/bash", [Self.script] + args, seconds: 300)
        guard result.status == 0 else {
            throw DaemonFailure(description: "libvirt-lab.sh \(args.first ?? "") failed (\(result.status)): \(result.output)")
        }
    }

    /// Runs `virsh -c HOST args…` and returns its output; throws when it fails.
    @discardableResult
    public func virsh(_ host: Host, _ args: String...) async throws -> String {
        let result = try await Spawn.run("/usr/bin/virsh", ["-c", host.localURI] + args, seconds: 120)
        guard result.status == 0 else {
            throw DaemonFailure(description: "virsh \(args.joined(separator: " ")) on host \(host.name) failed (\(result.status)): \(result.output)")
        }
        return result.output
    }

    // MARK: - The counting guest

    /// The boot sector of the lab's counting guest (512 bytes, base64): it fills
    /// 1 to 60 MiB of its RAM with 0xA5A5A5A5, prints "BOOT" on COM1, then once a second checks all of that memory,
    /// prints "tick N mem-ok" (N in hex, counting from 1; "MEM-BAD" if the check failed) and dirties 4 MiB again.
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
            throw DaemonFailure(description: "the counting guest's boot sector does not decode to 512 bytes")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try (sector + Data(count: 1_474_560 - sector.count)).write(to: URL(fileURLWithPath: path))  // a 1.44 MB floppy
        return path
    }

    /// Defines a QEMU/TCG domain `name` booting the counting guest on `host`, and starts it unless `start` is false.
    /// The floppy is read-only (no complaint about cache modes or shared storage when it migrates); the serial log is
    /// the host's own (`Host.serialLog(of:)`), appended to.
    public func defineCountingGuest(_ name: String, uuid: UUID = UUID(), memoryMiB: Int = 64, vcpus: Int = 1,
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

    /// What the counting guest `name` printed on both hosts so far.
    public func ticks(of name: String) -> GuestTicks {
        GuestTicks(logs: [a, b].map { (try? Data(contentsOf: $0.serialLog(of: name))) ?? Data() })
    }
}

/// The counting guest's serial output, read from the logs of every host it ran on.
///
/// Only complete lines count: a line the guest was printing when a log was read, or when the guest moved to the
/// other host, is neither a tick nor a duplicate.
public struct GuestTicks: Sendable, CustomStringConvertible {
    /// "BOOT" lines: one unless the guest started over.
    public let boots: Int
    /// Every "tick N" seen, in log order (host by host).
    public let ticks: [UInt32]
    /// "MEM-BAD" lines: the guest found its memory changed.
    public let memoryErrors: Int

    init(logs: [Data]) {
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
    public var latest: UInt32 { ticks.max() ?? 0 }

    /// Ticks printed more than once (the guest ran on from an older state somewhere).
    public var duplicates: Int { ticks.count - Set(ticks).count }

    /// Ticks between the first and the latest that no complete line shows.
    public var gaps: Int {
        guard let low = ticks.min() else { return 0 }
        return Int(latest - low + 1) - Set(ticks).count
    }

    public var description: String {
        "BOOT lines \(boots), ticks \(ticks.count) up to \(latest), duplicates \(duplicates), gaps \(gaps), MEM-BAD \(memoryErrors)"
    }
}
