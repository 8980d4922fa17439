import TPMWire
import Attestation
import Foundation
import SmigTestSupport
import Policy
import SyntheticBootLogs
import Testing

@testable import Measurement

/// Stands in for libxenctrl / libxenhypfs where no Xen dom0 runs.
struct XenControlTestDouble: XenControl {
    var major = 4, minor = 17
    var extra = ".7"
    var changesetText = "2445b30a44"
    var buildIDBytes: [UInt8] = Hex.decode("151b373fd64b321593bf987fd923cd10dabadac4") ?? []
    var commandLineText = "dom0_mem=4G,max:4G loglvl=all"
    var capabilitiesText = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_64"
    var patches: [XenLivepatch] = []
    var hypfs: [String: String]? = ["/buildinfo/config": "CONFIG_LIVEPATCH=y\nCONFIG_HYPFS=y\n",
                                    "/params/sched": "credit2", "/params/smt": "true"]

    func version() throws(MeasurementError) -> (major: Int, minor: Int) { (major, minor) }
    func extraVersion() throws(MeasurementError) -> String { extra }
    func changeset() throws(MeasurementError) -> String { changesetText }
    func buildID() throws(MeasurementError) -> [UInt8] { buildIDBytes }
    func commandLine() throws(MeasurementError) -> String { commandLineText }
    func capabilities() throws(MeasurementError) -> String { capabilitiesText }
    func livepatches() throws(MeasurementError) -> [XenLivepatch] { patches }
    func hypfsRead(_ path: String) throws(MeasurementError) -> String? { hypfs?[path] }
    func hypfsList(_ path: String) throws(MeasurementError) -> [String]? {
        guard let hypfs else { return nil }
        let prefix = path + "/"
        return hypfs.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
}

@Suite("Measurement sources")
struct SourceTests {
    @Test func fileDigestMatchesSHA256() throws {
        let directory = try TemporaryDirectory()
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = try directory.write("xen.gz", bytes)
        let measured = try FileSource(paths: [path]).measure()
        #expect(measured.count == 1)
        #expect(measured[0].name == "file:\(path)")
        #expect(measured[0].sha256 == Digests.sha256(bytes))
        #expect(measured[0].detail == "3000000 bytes")
        let error = #expect(throws: MeasurementError.self) { try FileSource(paths: ["/nonexistent"]).measure() }
        #expect(error?.code == .io)
    }

    @Test func xenThroughTheTestDouble() throws {
        let source = XenSource(control: XenControlTestDouble())
        let measured = try source.measure()
        let byName = Dictionary(uniqueKeysWithValues: measured.map { ($0.name, $0) })
        #expect(byName["xen:version"]?.value == "4.17.7")
        #expect(byName["xen:build-id"]?.value == "151b373fd64b321593bf987fd923cd10dabadac4")
        #expect(byName["xen:build-id"]?.sha256 == Digests.sha256(Array("151b373fd64b321593bf987fd923cd10dabadac4".utf8)))
        #expect(byName["xen:livepatches"]?.value == "none")
        #expect(byName["xen:hypfs:params"]?.sha256 == Digests.sha256(Array("sched=credit2\nsmt=true\n".utf8)))
        #expect(byName["xen:hypfs:buildinfo/config"] != nil)
        #expect(measured.allSatisfy { $0.source == "xen" })
    }

    @Test func xenLivepatchesAndMissingHypfs() throws {
        var double = XenControlTestDouble()
        double.patches = [XenLivepatch(name: "xsa-999", state: 2, rc: 0, metadata: "LIVEPATCH_RULEZ")]
        double.hypfs = nil
        let measured = try XenSource(control: double).measure()
        let byName = Dictionary(uniqueKeysWithValues: measured.map { ($0.name, $0) })
        #expect(byName["xen:livepatches"]?.value == "xsa-999 state=2 rc=0")
        #expect(byName["xen:livepatch:xsa-999"]?.detail == "applied")
        #expect(byName["xen:hypfs:params"]?.value == "absent")
    }

    @Test func xenEmptyBuildIDIsAnError() {
        var double = XenControlTestDouble()
        double.buildIDBytes = []
        let error = #expect(throws: MeasurementError.self) { try XenSource(control: double).measure() }
        #expect(error?.code == .xenCallFailed)
    }

    @Test func realXenOutsideDom0SaysSo() throws {
        let capabilities = (try? String(contentsOfFile: "/proc/xen/capabilities", encoding: .utf8)) ?? ""
        try #require(!capabilities.contains("control_d"), "this host is a Xen dom0; the test is for other hosts")
        let error = #expect(throws: MeasurementError.self) { try XenSource() }
        #expect(error?.code == .notXenDom0)
        #expect(error?.reason.hasPrefix("not a Xen dom0") == true)
    }

    @Test func kernelModulesFromAFixtureTree() throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("proc/modules", Array("""
            kvm_intel 380928 0 - Live 0x0000000000000000
            kvm 1142784 1 kvm_intel, Live 0x0000000000000000
            out_of_tree 16384 0 - Live 0x0000000000000000 (OE)

            """.utf8))
        _ = try directory.write("lib/modules.dep", Array("""
            kernel/arch/x86/kvm/kvm-intel.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz
            kernel/arch/x86/kvm/kvm.ko.xz:

            """.utf8))
        _ = try directory.write("lib/kernel/arch/x86/kvm/kvm-intel.ko.xz", Array("intel".utf8))
        _ = try directory.write("lib/kernel/arch/x86/kvm/kvm.ko.xz", Array("kvm".utf8))
        let source = KernelModulesSource(procRoot: "\(directory.path)/proc", modulesDirectory: "\(directory.path)/lib")
        let measured = try source.measure()
        #expect(measured.map(\.name) == ["kernel-modules", "kernel-module:kvm", "kernel-module:kvm_intel",
                                         "kernel-module:out_of_tree"])
        #expect(measured[2].sha256 == Digests.sha256(Array("intel".utf8)))
        #expect(measured[3].sha256 == Digests.sha256([]))
        #expect(measured[3].detail.hasPrefix("no file in modules.dep"))

        _ = try directory.write("proc/modules", Array("garbage\n".utf8))
        let error = #expect(throws: MeasurementError.self) { try source.measure() }
        #expect(error?.code == .malformedProcFile)
    }

    @Test func mapsParsing() throws {
        let maps = """
            55d0c0a00000-55d0c0a6c000 r--p 00000000 fd:01 1311 /usr/bin/qemu-system-x86_64
            55d0c0a6c000-55d0c1200000 r-xp 0006c000 fd:01 1311 /usr/bin/qemu-system-x86_64
            7f0000000000-7f0040000000 rwxp 00000000 00:00 0
            7ffd5c9f5000-7ffd5c9f7000 r-xp 00000000 00:00 0                          [vdso]
            7f1c2c400000-7f1c2c426000 r-xp 00028000 fd:01 2222 /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)

            """
        let mappings = try MemoryMapping.parse(maps: maps, subject: "test")
        #expect(mappings.count == 5)
        #expect(mappings.filter(\.isExecutable).count == 4)
        #expect(mappings.filter { $0.isExecutable && $0.isFileBacked }.map(\.path)
            == ["/usr/bin/qemu-system-x86_64", "/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)"])
        #expect(mappings[1].fileOffset == 0x6c000)
        let notHex = #expect(throws: MeasurementError.self) { try MemoryMapping.parse(maps: "zzzz-1 r-xp 0 0 0 /x", subject: "t") }
        #expect(notHex?.code == .malformedProcFile)
        let backwards = #expect(throws: MeasurementError.self) { try MemoryMapping.parse(maps: "2-1 r-xp 0 0 0 /x", subject: "t") }
        #expect(backwards?.code == .malformedProcFile)
    }

    @Test(arguments: [
        ("file:/boot/xen.gz", "file"), ("process-text:pid=1", "process-text"),
        ("process-text:exe=/usr/bin/qemu-system-x86_64", "process-text"), ("process-text:/usr/bin/x", "process-text"),
        ("kernel-modules", "kernel-modules"), ("boot-log", "boot-log"), ("boot-log:/tmp/log", "boot-log"),
    ])
    func sourceSpecs(_ text: String, _ kind: String) throws {
        #expect(try SourceSpec.parse(text).kind == kind)
    }

    @Test(arguments: ["file", "file:", "process-text:pid=x", "process-text:pid=-3", "process-text:relative/path",
                      "kernel-modules:x", "xen:x", "tpm"])
    func badSourceSpecs(_ text: String) {
        let error = #expect(throws: MeasurementError.self) { try SourceSpec.parse(text) }
        #expect(error?.code == .badSourceSpec)
    }

    @Test func bootLogSourceYieldsReplayedPCRs() throws {
        let bytes = BootEventLogBuilder.realistic().bytes()
        let directory = try TemporaryDirectory()
        let path = try directory.write("binary_bios_measurements", bytes)
        let measurements = try BootLogSource(path: path).measure()
        #expect(measurements.map(\.name) == ["boot-log"] + (0...9).map { "boot-log:pcr\($0)" })
        let replayed = try BootEventLog(bytes: bytes).replay()
        #expect(measurements[10].sha256 == replayed[.sha256, 9])

        let cut = try directory.write("cut", Array(bytes.dropLast(3)))
        let error = #expect(throws: MeasurementError.self) { try BootLogSource(path: cut).measure() }
        #expect(error?.code == .bootLog)
    }
}

@Suite("Pipelined reader")
struct PipelinedReaderTests {
    @Test func hashesRangesInOrderAcrossBuffers() throws {
        let directory = try TemporaryDirectory()
        let bytes = (0..<(3 * PipelinedReader.bufferSize + 123)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let path = try directory.write("data", bytes)
        let file = try POSIXFile(path: path)
        // Ranges of many sizes, some sharing a buffer, one spanning several.
        let cuts = [(0, 10), (10, 1), (11, PipelinedReader.bufferSize), (PipelinedReader.bufferSize + 11, 5000),
                    (5, 2 * PipelinedReader.bufferSize), (bytes.count - 1, 1)]
        var seen: [[UInt8]] = Array(repeating: [], count: cuts.count)
        try PipelinedReader().run(cuts.map { .init(file: file, offset: UInt64($0.0), length: UInt64($0.1)) },
                                  shortReadCode: .processUnavailable) { index, chunk in
            seen[index] += Array(chunk)
        }
        for (index, cut) in cuts.enumerated() {
            #expect(seen[index] == Array(bytes[cut.0..<(cut.0 + cut.1)]), "range \(index)")
        }
    }

    @Test func shortReadIsAnErrorWithTheGivenCode() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("data", [UInt8](repeating: 1, count: 1000))
        let file = try POSIXFile(path: path)
        let error = #expect(throws: MeasurementError.self) {
            try PipelinedReader().run([.init(file: file, offset: 0, length: 900), .init(file: file, offset: 500, length: 600)],
                                      shortReadCode: .processUnavailable) { _, _ in }
        }
        #expect(error?.code == .processUnavailable)
    }
}
