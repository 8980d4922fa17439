import ArgumentParser
import SmigAttestCLI
import Testing

/// `smig-attest demo`'s options: the lab, and the bounds that depend on it (refused before anything starts).
@Suite("demo options")
struct DemoOptionsTests {
    @Test(arguments: ["auto", "namespaces", "loopback"])
    func everyLabParses(_ lab: String) throws {
        _ = try DemoCommand.parse(["--lab", lab, "--hosts", "3", "--vms", "1"])
    }

    @Test(arguments: [["--lab", "xen"], ["--hosts", "10"], ["--lab", "namespaces", "--hosts", "12"], ["--hosts", "1"], ["--vms", "5"]])
    func outOfBoundsIsRefused(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try DemoCommand.parse(arguments) }
    }

    @Test func manyHostsOnLoopbackParse() throws {
        _ = try DemoCommand.parse(["--lab", "loopback", "--hosts", "12"])
    }
}
