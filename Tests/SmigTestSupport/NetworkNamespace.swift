public import Foundation

/// One host's own network: a network namespace joined to the root namespace by a veth pair on a private /30.
/// Bringing the root-side link down cuts the host off. Namespace and links are removed by ``destroy()`` (also on
/// deinit), so a failing test leaves nothing behind. Needs root and iproute2's `ip`; a test fails without them.
public final class NetworkNamespace: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; `destroyed` is only touched by destroy(), from one test.
    public let ip: String
    public let name: String
    public let rootLink: String
    public let nsLink: String
    public let rootAddress: String
    public let nsAddress: String
    var destroyed = false

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init() throws {
        guard let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure(description: "iproute2's `ip` is required (scripts/install-deps installs it); never skipped")
        }
        self.ip = ip
        let tag = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
        name = "smig-\(tag)"
        rootLink = "smr\(tag)"
        nsLink = "smn\(tag)"
        // A /30 in 10.254.0.0/16 chosen at random: network .4k, root side .4k+1, namespace side .4k+2.
        let a = Int.random(in: 0...255), b = 4 * Int.random(in: 0...63)
        rootAddress = "10.254.\(a).\(b + 1)"
        nsAddress = "10.254.\(a).\(b + 2)"
        do {
            try run(["netns", "add", name])
            try run(["link", "add", rootLink, "type", "veth", "peer", "name", nsLink])
            try run(["link", "set", nsLink, "netns", name])
            try run(["addr", "add", "\(rootAddress)/30", "dev", rootLink])
            try run(["link", "set", rootLink, "up"])
            try run(["netns", "exec", name, ip, "addr", "add", "\(nsAddress)/30", "dev", nsLink])
            try run(["netns", "exec", name, ip, "link", "set", nsLink, "up"])
            try run(["netns", "exec", name, ip, "link", "set", "lo", "up"])
        } catch {
            destroy()
            throw error
        }
    }

    deinit { destroy() }

    /// Prefix that runs a program inside the namespace.
    public var exec: [String] { [ip, "netns", "exec", name] }

    public func run(_ args: [String]) throws {
        let r = try ToolRun.run(ip, args)
        guard r.status == 0 else { throw Failure(description: "ip \(args.joined(separator: " ")) failed (\(r.status)): \(r.output)") }
    }

    /// Cuts the host's network (the root-side link down: its peer loses carrier).
    public func cut() throws { try run(["link", "set", rootLink, "down"]) }

    /// Silences one service for the host alone (iptables inside the namespace): every TCP packet to or from `port`
    /// is dropped, so the host's connections to it wait rather than fail, while the rest of its network works.
    public func dropTCP(port: Int) throws {
        guard let iptables = ["/usr/sbin/iptables", "/sbin/iptables"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure(description: "iptables is required (scripts/install-deps installs it); never skipped")
        }
        try run(["netns", "exec", name, iptables, "-A", "OUTPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
        try run(["netns", "exec", name, iptables, "-A", "INPUT", "-p", "tcp", "--sport", "\(port)", "-j", "DROP"])
    }

    public func restore() throws { try run(["link", "set", rootLink, "up"]) }

    /// Removes the veth pair (both ends) and the namespace. Safe to call twice.
    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        _ = try? ToolRun.run(ip, ["link", "del", rootLink])
        _ = try? ToolRun.run(ip, ["netns", "del", name])
    }

    /// Whether the namespace still exists (for the clean-up check).
    public var exists: Bool { ((try? ToolRun.run(ip, ["netns", "list"]))?.output ?? "").contains(name) }
}
