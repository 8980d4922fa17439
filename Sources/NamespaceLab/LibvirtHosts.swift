#if canImport(Glibc)
import Glibc
#endif
package import Foundation

/// libvirt hosts on this machine, each in its own network, mount and UTS namespace with its own address, libvirtd
/// and virtlogd, private /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /run, and a
/// distinct host_uuid; all joined by a bridge in the root namespace (`PREFIX.254`), so a program there (the RC-TCB,
/// a test) reaches every host at `PREFIX.N` and the migration stream between two hosts crosses both their links.
/// The addresses are a /24 of 10.0.0.0/8 no interface or route of this machine uses. Everything lives under a
/// directory of its own; ``down()`` removes it all (domains destroyed, every process of the hosts' namespaces
/// killed, bridge deleted). The embedded `namespace-lab.sh` does the work. Needs root, util-linux's `unshare` and
/// `nsenter`, iproute2's `ip` and libvirt-daemon-system.
package final class LibvirtHosts: Sendable {
    /// One host of the lab.
    package struct Host: Sendable {
        /// "A", "B", "C", …
        package let name: String
        /// Its address on the lab's bridge.
        package let address: String
        /// Its directory in the lab (its /etc/libvirt, /var/log/libvirt, … and the pid file of its namespace holder).
        package let directory: URL
        /// The URI programs on this machine use, inside or outside the host's namespaces: libvirtd's Unix socket in
        /// the lab directory.
        package var localURI: String { "qemu+unix:///system?socket=\(directory.path)/sock/libvirt-sock" }
        /// The URI another host's libvirtd reaches this one at: `qemu+tcp://ADDRESS/system` (no TLS: a lab).
        package var tcpURI: String { "qemu+tcp://\(address)/system" }
        /// Where another host's QEMU sends memory to: `tcp://ADDRESS`.
        package var migrateURI: String { "tcp://\(address)" }
        /// The host's /var/log/libvirt, seen from outside.
        package var logDirectory: URL { directory.appendingPathComponent("log") }

        /// The serial log of a counting guest called `domain` while it ran on this host (appended, never truncated).
        package func serialLog(of domain: String) -> URL {
            logDirectory.appendingPathComponent("qemu/\(domain)-serial.log")
        }

        /// The pid of the process that holds the host's namespaces.
        package func holder() throws -> Int32 {
            let file = directory.appendingPathComponent("ns.pid")
            guard let text = try? String(contentsOf: file, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw LabSpawn.Failure(description: "host \(name) has no namespace holder (\(file.path))")
            }
            return pid
        }

        /// The command prefix that runs a program inside the host's network, mount and UTS namespaces.
        package func enter() throws -> [String] {
            [LibvirtHosts.nsenter, "-t", "\(try holder())", "-n", "-m", "-u", "--"]
        }
    }

    package let directory: URL
    /// The lab's /24, e.g. "10.123.45": host N (from 1) is `PREFIX.N`, the root namespace `PREFIX.254`.
    package let prefix: String
    package let hosts: [Host]

    /// The root namespace's address on the lab's bridge: where the hosts reach programs outside their namespaces.
    package var rootAddress: String { "\(prefix).254" }

    /// A libvirt URI on the lab's network where nobody answers (no host has the address).
    package var unreachableURI: String { "qemu+tcp://\(prefix).\(hosts.count + 1)/system" }

    static let nsenter = "/usr/bin/nsenter"
    /// Lab directories are `TMPDIR/smig-libvirt-XXXXXXXX`.
    package static let directoryPrefix = "smig-libvirt-"

    private init(directory: URL, prefix: String, count: Int) {
        self.directory = directory
        self.prefix = prefix
        hosts = (0..<count).map { i in
            let name = String(UnicodeScalar(UInt8(ascii: "A") + UInt8(i)))
            return Host(name: name, address: "\(prefix).\(i + 1)", directory: directory.appendingPathComponent(name))
        }
    }

    /// What the lab needs that is missing on this machine (empty when it can be made): root, the tools, libvirtd.
    package static func missingRequirements() -> [String] {
        var missing: [String] = []
        if geteuid() != 0 { missing.append("root") }
        for tool in ["/usr/bin/unshare", nsenter, "/usr/sbin/libvirtd", "/usr/sbin/virtlogd", "/usr/bin/virsh", "/usr/bin/qemu-system-x86_64"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            missing.append(tool)
        }
        if !["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            missing.append("ip (iproute2)")
        }
        return missing
    }

    /// Makes `count` hosts (1-9) and waits until every libvirtd answers. Tears down what it made when it fails.
    /// Labs left behind by processes that died first (their owner pid gone) are removed before.
    package static func up(count: Int) async throws -> LibvirtHosts {
        guard (1...9).contains(count) else { throw LabSpawn.Failure(description: "a namespace lab has 1-9 hosts, not \(count)") }
        let missing = missingRequirements()
        guard missing.isEmpty else { throw LabSpawn.Failure(description: "the namespace lab needs \(missing.joined(separator: ", "))") }
        await removeAbandoned()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(directoryPrefix)\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try String(getpid()).write(to: directory.appendingPathComponent("owner.pid"), atomically: true, encoding: .utf8)
        let lab = LibvirtHosts(directory: directory, prefix: try await freePrefix(), count: count)
        do {
            try await lab.script("up", directory.path, lab.prefix, "\(count)")
            return lab
        } catch {
            try? await lab.down()
            throw error
        }
    }

    /// Removes everything ``up(count:)`` made, and the lab's directory.
    package func down() async throws {
        try await script("down", directory.path)
        try? FileManager.default.removeItem(at: directory)
    }

    /// A /24 of 10.0.0.0/8 that no address or route of this machine touches, picked at random.
    static func freePrefix() async throws -> String {
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "ip"
        let used = try await LabSpawn.check("ip addr", ip, ["-4", "-o", "addr"]) + (try await LabSpawn.check("ip route", ip, ["-4", "route", "show", "table", "all"]))
        for _ in 0..<100 {
            let prefix = "10.\(Int.random(in: 100...250)).\(Int.random(in: 0...255))"
            if !used.contains("\(prefix).") { return prefix }
        }
        throw LabSpawn.Failure(description: "no free /24 in 10.100.0.0-10.250.255.0 for the namespace lab")
    }

    /// Tears down the labs of processes that died before they could (killed, crashed): those whose owner process is
    /// gone. A lab whose owner still runs is left alone.
    package static func removeAbandoned() async {
        let temporary = FileManager.default.temporaryDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names where name.hasPrefix(directoryPrefix) {
            let directory = temporary.appendingPathComponent(name)
            guard let text = try? String(contentsOf: directory.appendingPathComponent("owner.pid"), encoding: .utf8),
                  let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(owner, 0) != 0, errno == ESRCH
            else { continue }
            try? await LibvirtHosts(directory: directory, prefix: "", count: 0).down()
        }
    }

    private func script(_ args: String...) async throws {
        let path = try NamespaceLabScript.write(into: directory)
        try await LabSpawn.check("namespace-lab.sh \(args.first ?? "")", "/bin/bash", [path] + args, seconds: 300)
    }

    /// Runs `virsh -c HOST args…` inside the host's namespaces and returns its output; throws when it fails.
    @discardableResult
    package func virsh(_ host: Host, _ args: String...) async throws -> String {
        try await virsh(host, args)
    }

    @discardableResult
    package func virsh(_ host: Host, _ args: [String]) async throws -> String {
        let enter = try host.enter()
        return try await LabSpawn.check("virsh \(args.joined(separator: " ")) on host \(host.name)", enter[0],
                                        Array(enter.dropFirst()) + ["/usr/bin/virsh", "-c", host.localURI] + args, seconds: 120)
    }

    /// The domains of `host` with their state, from one `virsh list --all` (one snapshot: a domain that a migration
    /// undefines meanwhile cannot vanish between listing it and asking its state).
    package func domains(_ host: Host) async throws -> [String: String] {
        var out: [String: String] = [:]
        // " Id   Name        State" / "----" / " 3    counter-1   running" / " -    other       shut off"
        for line in try await virsh(host, "list", "--all").split(separator: "\n").dropFirst(2) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 3 else { continue }
            out[String(words[1])] = words.dropFirst(2).joined(separator: " ")
        }
        return out
    }
}

extension LibvirtHosts {
    /// ``down()`` without suspending: blocks the calling thread until the hosts are gone (a signal handler, a
    /// synchronous `stop`). Failures are ignored: what can be removed is.
    package func downNow() {
        guard let path = try? NamespaceLabScript.write(into: directory) else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [path, "down", directory.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return }
        p.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}
