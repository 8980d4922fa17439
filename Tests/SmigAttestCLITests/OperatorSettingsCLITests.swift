import Foundation
import SmigTestSupport
import Testing

/// The operator's commands take the RC-TCB's URL and the admin identity from a flag, else an environment variable,
/// else the config file — through the real binary against a real RC-TCB.
@Suite("Operator settings: flag, environment, config file", .serialized)
struct OperatorSettingsCLITests {
    @Test func flagBeatsEnvironmentBeatsConfigFile() throws {
        let r = try RegionFixture()
        let (server, url) = try r.serve("server")
        defer { server.stop() }
        let other = try RegionFixture()
        // ~/.config/smig-attest/config.yaml, with the directory relative to the file.
        let home = r.path("home")
        try FileManager.default.createDirectory(atPath: "\(home)/.config/smig-attest", withIntermediateDirectories: true)
        try Data("rctcb: \(url)\ndir: ../../../rctcb\n".utf8).write(to: URL(fileURLWithPath: "\(home)/.config/smig-attest/config.yaml"))
        let env = ["HOME": home, "XDG_CONFIG_HOME": ""]

        let fromFile = try Run.smig(["ivt", "--json"], env: env)
        #expect(fromFile.status == 0, "the file alone: \(fromFile.output)")
        // The environment wins over the file: another URL, another directory.
        let deadURL = OperatorErrorCLITests.errorOf(try Run.smig(["ivt", "--json"], env: env.merging(["SMIG_ATTEST_RCTCB": "https://127.0.0.1:1"]) { $1 }))
        #expect(deadURL?["code"] == "transport.unreachable", "\(String(describing: deadURL))")
        let otherDir = try OperatorErrorCLITests.error(["ivt"], env: env.merging(["SMIG_ATTEST_DIR": other.dir]) { $1 }, status: 2)
        #expect(otherDir["code"] == "tls.server-not-trusted" && otherDir["message"]?.contains(other.dir) == true, "\(otherDir)")
        // A flag wins over the environment.
        let flag = try Run.smig(["ivt", "--rctcb", url, "--json"], env: env.merging(["SMIG_ATTEST_RCTCB": "https://127.0.0.1:1"]) { $1 })
        #expect(flag.status == 0, "\(flag.output)")
        // The admin files one by one, without a directory.
        let files = try Run.smig(["ring", "--rctcb", url, "--ca", "\(r.dir)/region-ca.pem", "--cert", "\(r.dir)/admin.pem", "--key", "\(r.dir)/admin.key", "--json"],
                                 env: ["HOME": r.path("nowhere"), "XDG_CONFIG_HOME": ""])
        #expect(files.status == 0, "\(files.output)")
        let help = try Run.smig(["ivt", "--help"])
        #expect(help.output.contains("$SMIG_ATTEST_RCTCB") && help.output.contains("$SMIG_ATTEST_DIR"), "\(help.output)")
    }

    @Test func aConfigFileThatIsWrongOrMissing() throws {
        let r = try RegionFixture()
        let file = r.path("config.yaml")
        try Data("rctcb: https://127.0.0.1:8443\ndirr: /tmp\n".utf8).write(to: URL(fileURLWithPath: file))
        let misspelt = try OperatorErrorCLITests.error(["ivt"], env: ["SMIG_ATTEST_CONFIG": file], status: 2)
        #expect(misspelt["code"] == "config.unknown-key" && misspelt["message"]?.contains("\(file):2:1:") == true, "\(misspelt)")
        #expect(misspelt["hint"] == "did you mean 'dir'?", "\(misspelt)")
        try Data("rctcb: [https://127.0.0.1:8443]\n".utf8).write(to: URL(fileURLWithPath: file))
        let list = try OperatorErrorCLITests.error(["ivt"], env: ["SMIG_ATTEST_CONFIG": file], status: 2)
        #expect(list["code"] == "config.wrong-type" && list["message"]?.contains("\(file):1:8:") == true, "\(list)")
        let missing = try OperatorErrorCLITests.error(["ivt"], env: ["SMIG_ATTEST_CONFIG": r.path("absent.yaml")], status: 2)
        #expect(missing["code"] == "config.unreadable", "\(missing)")
        try Data("rctcb: https://127.0.0.1:8443\n".utf8).write(to: URL(fileURLWithPath: file))
        let noDirectory = try OperatorErrorCLITests.error(["events"], env: ["SMIG_ATTEST_CONFIG": file], status: 2)
        #expect(noDirectory["code"] == "config.no-directory" && noDirectory["message"]?.contains(file) == true, "\(noDirectory)")
    }
}
