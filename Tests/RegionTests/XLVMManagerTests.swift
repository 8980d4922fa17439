import Agent
import Foundation
import Migration
import RegionProtocol
import Testing

/// The agent's xl VM manager (Xen dom0): what it reads from xl and the command lines it runs. xl cannot run on this
/// build machine (no Xen); the outputs below were captured from a real Xen 4.17.5 dom0 of the Xen lab (scripts/xen-lab),
/// where scripts/xen-lab-test runs the manager for real.
@Suite("The xl VM manager")
struct XLVMManagerTests {
    /// `xl list -l` on dom0 A with the counting PV guest running (xl.conf's default output format, JSON).
    static let listLong = #"""
[
    {
        "domid": 0,
        "config": {
            "c_info": {
                "type": "pv",
                "name": "Domain-0"
            },
            "b_info": {
                "max_memkb": 1048576,
                "target_memkb": 1048575,
                "sched_params": {
                    "sched": "credit2",
                    "weight": 256,
                    "cap": 0
                },
                "type.pv": {

                },
                "arch_arm": {

                },
                "arch_x86": {

                }
            }
        }
    },
    {
        "domid": 1,
        "config": {
            "c_info": {
                "type": "pv",
                "name": "counter",
                "domid": 4294967295,
                "uuid": "681996c0-1519-40f7-ac7f-cf49fc01f73d",
                "run_hotplug_scripts": "True"
            },
            "b_info": {
                "max_vcpus": 1,
                "avail_vcpus": [
                    0
                ],
                "max_memkb": 98304,
                "target_memkb": 98304,
                "video_memkb": 0,
                "sched_params": {
                    "sched": "credit2",
                    "weight": 256,
                    "cap": 0
                },
                "claim_mode": "True",
                "kernel": "/lab/guest/vmlinuz",
                "cmdline": "console=hvc0 quiet",
                "ramdisk": "/lab/guest/initrd.gz",
                "type.pv": {

                },
                "arch_arm": {

                },
                "arch_x86": {
                    "msr_relaxed": "False"
                }
            },
            "on_reboot": "restart",
            "on_soft_reset": "soft_reset"
        }
    }
]

"""#

    /// `xl list` on dom0 A at the same moment (tab-separated header, as xl writes it).
    static let list = #"""
Name                                        ID   Mem VCPUs	State	Time(s)
Domain-0                                     0  1024     1     r-----      76.0
counter                                      1    96     1     ------       4.1
"""#

    /// `xl list` on dom0 B after the guest arrived and was unpaused.
    static let listB = #"""
Name                                        ID   Mem VCPUs	State	Time(s)
Domain-0                                     0  1024     1     r-----     255.2
counter                                      1    96     1     -b----       1.1
"""#

    /// `xl -vvv migrate -s TRANSPORT -p counter 10.77.0.12` on dom0 A (A → B, live), each line with the time it was
    /// read in the lab (a slow reader: the times are what that capture saw, not xl's own).
    static let migration: [XLMigrationLog.Line] = [
        .init(at: .milliseconds(0), text: "libxl: debug: libxl_domain.c:2293:libxl_retrieve_domain_configuration: Domain 2:ao 0x5640a9bd68c0: create: how=(nil) callback=(nil) poller=0x5640a9bd6960"),
        .init(at: .milliseconds(670), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vbd from xenstore"),
        .init(at: .milliseconds(1110), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vif from xenstore"),
        .init(at: .milliseconds(1353), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vtpm from xenstore"),
        .init(at: .milliseconds(2024), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vusb from xenstore"),
        .init(at: .milliseconds(2665), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vusb from xenstore"),
        .init(at: .milliseconds(3396), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No pci from xenstore"),
        .init(at: .milliseconds(4054), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vdispl from xenstore"),
        .init(at: .milliseconds(4677), text: "libxl: debug: libxl_domain.c:2585:retrieve_domain_configuration_end: Domain 2:No vsnd from xenstore"),
        .init(at: .milliseconds(5068), text: "libxl: debug: libxl_qmp.c:1920:libxl__ev_qmp_dispose: Domain 2: ev 0x5640a9bd6a30"),
        .init(at: .milliseconds(5248), text: "libxl: debug: libxl_event.c:2067:libxl__ao_complete: ao 0x5640a9bd68c0: complete, rc=0"),
        .init(at: .milliseconds(5501), text: "libxl: debug: libxl_domain.c:2309:libxl_retrieve_domain_configuration: Domain 2:ao 0x5640a9bd68c0: inprogress: poller=0x5640a9bd6960, flags=ic"),
        .init(at: .milliseconds(5953), text: "libxl: debug: libxl_event.c:2036:libxl__ao__destroy: ao 0x5640a9bd68c0: destroy"),
        .init(at: .milliseconds(6594), text: "Saving to migration stream new xl format (info 0x3/0x0/824)"),
        .init(at: .milliseconds(7445), text: "libxl: debug: libxl_domain.c:512:libxl_domain_suspend: Domain 2:ao 0x5640a9bd8a50: create: how=(nil) callback=(nil) poller=0x5640a9bd6960"),
        .init(at: .milliseconds(8085), text: "libxl: debug: libxl.c:771:libxl__fd_flags_modify_save: fnctl F_GETFL flags for fd 15 are 0x1"),
        .init(at: .milliseconds(8594), text: "libxl: debug: libxl.c:779:libxl__fd_flags_modify_save: fnctl F_SETFL of fd 15 to 0x1"),
        .init(at: .milliseconds(9112), text: "libxl: debug: libxl_domain.c:540:libxl_domain_suspend: Domain 2:ao 0x5640a9bd8a50: inprogress: poller=0x5640a9bd6960, flags=i"),
        .init(at: .milliseconds(9623), text: "libxl-save-helper: debug: starting save: Success"),
        .init(at: .milliseconds(10101), text: "xc: detail: fd 15, dom 2, flags 1, hvm 0"),
        .init(at: .milliseconds(10615), text: "xc: info: Saving domain 2, type x86 PV"),
        .init(at: .milliseconds(11177), text: "xc: detail: 64 bits, 4 levels"),
        .init(at: .milliseconds(11745), text: "xc: detail: max_mfn 0x9fef4"),
        .init(at: .milliseconds(12291), text: "xc: detail: p2m list from 0xffffc90000000000 to 0xffffc9000002ffff, root at 0x96810"),
        .init(at: .milliseconds(12872), text: "xc: detail: max_pfn 0x5fff, p2m_frames 48"),
        .init(at: .milliseconds(208536), text: "libxl: debug: libxl_dom_suspend.c:203:domain_suspend_callback_common: Domain 2:issuing PV suspend request via XenBus control node"),
        .init(at: .milliseconds(209211), text: "libxl: debug: libxl_event.c:812:libxl__ev_xswatch_register: watch w=0x5640a9bd9368 wpath=/local/domain/2/control/shutdown token=3/0: register slotnum=3"),
        .init(at: .milliseconds(209819), text: "libxl: debug: libxl_event.c:750:watchfd_callback: watch w=0x5640a9bd9368 wpath=/local/domain/2/control/shutdown token=3/0: event epath=/local/domain/2/control/shutdown"),
        .init(at: .milliseconds(210540), text: "libxl: debug: libxl_event.c:849:libxl__ev_xswatch_deregister: watch w=0x5640a9bd9368 wpath=/local/domain/2/control/shutdown token=3/0: deregister slotnum=3"),
        .init(at: .milliseconds(211177), text: "libxl: debug: libxl_dom_suspend.c:281:domain_suspend_common_pvcontrol_suspending: Domain 2:guest acknowledged suspend request"),
        .init(at: .milliseconds(211749), text: "libxl: debug: libxl_dom_suspend.c:300:domain_suspend_common_wait_guest: Domain 2:wait for the guest to suspend"),
        .init(at: .milliseconds(212428), text: "libxl: debug: libxl_event.c:812:libxl__ev_xswatch_register: watch w=0x5640a9bd9380 wpath=@releaseDomain token=3/1: register slotnum=3"),
        .init(at: .milliseconds(213024), text: "libxl: debug: libxl_event.c:750:watchfd_callback: watch w=0x5640a9bd9380 wpath=@releaseDomain token=3/1: event epath=@releaseDomain"),
        .init(at: .milliseconds(213868), text: "libxl: debug: libxl_dom_suspend.c:358:suspend_common_wait_guest_check: Domain 2:guest has suspended"),
        .init(at: .milliseconds(214194), text: "libxl: debug: libxl_event.c:849:libxl__ev_xswatch_deregister: watch w=0x5640a9bd9380 wpath=@releaseDomain token=3/1: deregister slotnum=3"),
        .init(at: .milliseconds(214472), text: "libxl: debug: libxl_event.c:863:libxl__ev_xswatch_deregister: watch w=0x5640a9bd9368: deregister unregistered"),
        .init(at: .milliseconds(214790), text: "libxl: debug: libxl_event.c:863:libxl__ev_xswatch_deregister: watch w=0x5640a9bd9380: deregister unregistered"),
        .init(at: .milliseconds(215128), text: "libxl: debug: libxl_qmp.c:1920:libxl__ev_qmp_dispose:  ev 0x5640a9bd93f8"),
        .init(at: .milliseconds(215235), text: "libxl-save-helper: debug: complete r=0: Success"),
        .init(at: .milliseconds(215489), text: "libxl: debug: libxl.c:798:libxl__fd_flags_restore: fnctl F_SETFL of fd 15 to 0x1"),
        .init(at: .milliseconds(215759), text: "libxl: debug: libxl_event.c:2067:libxl__ao_complete: ao 0x5640a9bd8a50: complete, rc=0"),
        .init(at: .milliseconds(215980), text: "libxl: debug: libxl_event.c:2036:libxl__ao__destroy: ao 0x5640a9bd8a50: destroy"),
        .init(at: .milliseconds(218595), text: "migration sender: Target has acknowledged transfer."),
        .init(at: .milliseconds(218987), text: "migration sender: Giving target permission to start."),
        .init(at: .milliseconds(219385), text: "migration sender: Target reports successful startup."),
        .init(at: .milliseconds(219613), text: "libxl: debug: libxl_domain.c:1046:libxl_domain_destroy: Domain 2:ao 0x5640a9bd76f0: create: how=(nil) callback=(nil) poller=0x5640a9bd6960"),
        .init(at: .milliseconds(219832), text: "libxl: debug: libxl_domain.c:1597:devices_destroy_cb: Domain 2:Forked pid 601 for destroy of domain"),
        .init(at: .milliseconds(220103), text: "libxl: debug: libxl_domain.c:1055:libxl_domain_destroy: Domain 2:ao 0x5640a9bd76f0: inprogress: poller=0x5640a9bd6960, flags=i"),
        .init(at: .milliseconds(220301), text: "libxl: debug: libxl_event.c:2067:libxl__ao_complete: ao 0x5640a9bd76f0: complete, rc=0"),
        .init(at: .milliseconds(220503), text: "libxl: debug: libxl_event.c:2036:libxl__ao__destroy: ao 0x5640a9bd76f0: destroy"),
        .init(at: .milliseconds(220640), text: "Migration successful."),
        .init(at: .milliseconds(220812), text: "xencall:buffer: debug: total allocations:75 total releases:75"),
        .init(at: .milliseconds(220937), text: "xencall:buffer: debug: current allocations:0 maximum allocations:2"),
        .init(at: .milliseconds(221148), text: "xencall:buffer: debug: cache current size:2"),
        .init(at: .milliseconds(221321), text: "xencall:buffer: debug: cache hits:57 misses:2 toobig:16"),
        .init(at: .milliseconds(221541), text: "xencall:buffer: debug: total allocations:0 total releases:0"),
        .init(at: .milliseconds(221768), text: "xencall:buffer: debug: current allocations:0 maximum allocations:0"),
        .init(at: .milliseconds(221921), text: "xencall:buffer: debug: cache current size:0"),
        .init(at: .milliseconds(222057), text: "xencall:buffer: debug: cache hits:0 misses:0 toobig:0")
    ]

    @Test func domainsAreReadFromXLListLongJoinedWithTheStateFlags() throws {
        let vms = try XLDomains.parse(json: Self.listLong, table: Self.list)
        #expect(vms == [HostVM(name: "counter", uuid: UUID(uuidString: "681996c0-1519-40f7-ac7f-cf49fc01f73d"), vcpus: 1, memoryMiB: 96,
                                state: "running", persistent: false)])
        let onB = try XLDomains.parse(json: "", table: Self.listB)
        #expect(onB.map(\.state) == ["blocked"] && onB.first?.uuid == nil)
    }

    @Test(arguments: [("--p---", "paused"), ("-b----", "blocked"), ("r-----", "running"), ("------", "running"), ("---s--", "shutting-down"),
                      ("----c-", "crashed"), ("-----d", "shutting-down")])
    func stateFlagsBecomeTheWordsTheRCTCBReads(flags: String, word: String) {
        #expect(XLDomains.state(flags: flags) == word)
    }

    @Test func theTwoHalvesOfAMigrationInFlightAndADomainBeingBuiltAreNotVMs() throws {
        let table = Self.list + "\ncounter--incoming                            3    96     1     --p---       0.0\n"
            + "web--migratedaway                            4    64     1     --p---       2.0\n"
            + "building                                     5     0     1     --p---       0.0\n"
        #expect(try XLDomains.parse(json: Self.listLong, table: table).map(\.name) == ["counter"])
    }

    @Test func textThatIsNotXLsIsACodedErrorNamingTheCommand() {
        let json = #expect(throws: MigrationOrderError.self) { try XLDomains.parse(json: "{\"domid\": 1}", table: Self.list) }
        #expect(json?.code == .failed && json?.message.contains("xl list -l") == true, "\(String(describing: json))")
        let table = #expect(throws: MigrationOrderError.self) { try XLDomains.parse(json: Self.listLong, table: "counter 1 96") }
        #expect(table?.code == .failed && table?.message.hasPrefix("xl list:") == true, "\(String(describing: table))")
    }

    @Test func theMigrationLogGivesTheDowntimeFromTheSuspendRequestToTheTargetsAcknowledgement() throws {
        let log = XLMigrationLog(Self.migration)
        #expect(log.succeeded)
        let suspended = try #require(log.suspended)
        #expect(suspended.text.contains("issuing PV suspend request"))
        let acknowledged = try #require(log.acknowledged)
        #expect(log.downtimeMs == UInt64((acknowledged.at - suspended.at).components.seconds * 1000
                                          + (acknowledged.at - suspended.at).components.attoseconds / 1_000_000_000_000_000))
        let done = log.progress(status: "completed", totalTimeMs: 12_000)
        #expect(done.status == "completed" && done.totalTimeMs == 12_000 && done.downtimeMs == log.downtimeMs)
        // While it runs there is no downtime to report yet; a log without xl's success line is not a success.
        #expect(log.progress(status: "active").downtimeMs == nil)
        let failed = XLMigrationLog(Array(Self.migration.prefix(20)) + [.init(at: .seconds(30), text: "migration sender: libxl_domain_suspend failed (rc=-3)")])
        #expect(!failed.succeeded && failed.lastMessage == "migration sender: libxl_domain_suspend failed (rc=-3)" && failed.downtimeMs == nil)
        // A failure's reason is xl's error lines, not the buffer statistics xl prints last.
        let suspendFailed = XLMigrationLog([
            .init(at: .seconds(1), text: "libxl: error: libxl_stream_write.c:347:libxl__xc_domain_save_done: Domain 1:saving domain: domain did not respond to suspend request: Numerical result out of range"),
            .init(at: .seconds(1), text: "migration sender: libxl_domain_suspend failed (rc=-8)"),
            .init(at: .seconds(1), text: "Migration failed, failed to suspend at sender."),
            .init(at: .seconds(1), text: "xencall:buffer: debug: cache hits:0 misses:0 toobig:0"),
        ])
        #expect(suspendFailed.failure?.hasPrefix("libxl: error:") == true && suspendFailed.failure?.hasSuffix("failed to suspend at sender.") == true)
    }

    @Test func theMigrateCommandLineQuotesTheTransportAndCarriesNoToken() throws {
        let manager = XLVMManager(xl: "/usr/sbin/xl", incomingHost: "10.77.0.11", helper: "/lab/bin/smig-attest", logDirectory: "/tmp")
        let target = try XLStream.Address(parsing: "xl-stream://10.77.0.12:40123/" + String(repeating: "ab", count: 32))
        #expect(manager.migrateArguments("counter", to: target)
                == ["/usr/sbin/xl", "-vvv", "migrate", "-s", "'/lab/bin/smig-attest' agent xl-stream connect", "-p", "counter", "'xl-stream://10.77.0.12:40123'"])
        #expect(manager.acceptArguments() == ["/lab/bin/smig-attest", "agent", "xl-stream", "accept", "--xl", "/usr/sbin/xl", "--window", "600"])
        #expect(manager.listArguments(long: true) == ["/usr/sbin/xl", "list", "-l"])
        let odd = XLVMManager(xl: "xl", incomingHost: "h", helper: "/opt/it's here/smig-attest", logDirectory: "/tmp")
        #expect(odd.migrateArguments("v", to: target)[4] == #"'/opt/it'\''s here/smig-attest' agent xl-stream connect"#)
    }

    @Test(arguments: ["xl-stream://10.0.0.1", "xl-stream://10.0.0.1:0", "xl-stream://:80", "qemu+tcp://10.0.0.1/system",
                      "xl-stream://10.0.0.1:80/short", "xl-stream://a;b:80", "xl-stream://-x:80"])
    func aMigrationAddressThatIsNotXLStreamIsMalformed(text: String) {
        let error = #expect(throws: MigrationOrderError.self) { try XLStream.Address(parsing: text) }
        #expect(error?.code == .malformed)
    }

    @Test func addressesRoundTripWithTheirTokenAndIPv6InBrackets() throws {
        let token = String(repeating: "0f", count: 32)
        let v6 = try XLStream.Address(parsing: "xl-stream://[fd00::12]:5555/\(token)")
        #expect(v6 == XLStream.Address(host: "fd00::12", port: 5555, token: token))
        #expect(v6.description == "xl-stream://[fd00::12]:5555/\(token)" && v6.withoutToken == "xl-stream://[fd00::12]:5555")
    }

    /// Over real loopback sockets: a connection with another token is closed, the one with the token is taken.
    @Test func theReceiverTakesOnlyTheConnectionThatPresentsTheToken() throws {
        let listener = try XLStream.listen(host: "127.0.0.1")
        defer { close(listener.fd) }
        let token = XLStream.newToken()
        let address = XLStream.Address(host: "127.0.0.1", port: listener.port)
        let wrong = try XLStream.connect(address, token: XLStream.newToken())
        defer { close(wrong) }
        let right = try XLStream.connect(address, token: token)
        defer { close(right) }
        let taken = try XLStream.acceptPresenting(token, on: listener.fd, until: .now + .seconds(60))
        defer { close(taken) }
        // The wrong one was closed: reading it ends.
        var byte: UInt8 = 0
        #expect(read(wrong, &byte, 1) == 0)
        // What the right one sends arrives whole on the taken connection.
        let payload = Array("xl stream bytes\n".utf8)
        #expect(write(right, payload, payload.count) == payload.count)
        var got = [UInt8](repeating: 0, count: payload.count)
        #expect(read(taken, &got, got.count) == payload.count && got == payload)
    }

    /// xl learns from SIGCHLD that its save/restore helper ended: started from a thread of the concurrency pool (which
    /// blocks every signal) without resetting the mask, `xl migrate` and `xl migrate-receive` both waited forever in
    /// the lab. A process the agent starts has no signal blocked, and neither SIGCHLD nor SIGPIPE ignored.
    @Test func aProcessStartedFromTheConcurrencyPoolHasNoSignalBlocked() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("smig-sigmask-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let pid = try ProcessSupport.start(["/bin/sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"], stdin: .file("/dev/null", O_RDONLY),
                                           stdout: .file(out, O_WRONLY | O_CREAT | O_TRUNC), stderr: .file("/dev/null", O_WRONLY))
        #expect(await ProcessSupport.exitStatus(of: pid) == 0)
        let status = try String(contentsOfFile: out, encoding: .utf8)
        #expect(status.contains("SigBlk:\t0000000000000000"), "\(status)")
        let ignored = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
        let sigchld: UInt64 = 1 << (17 - 1), sigpipe: UInt64 = 1 << (13 - 1)
        #expect(ignored.map { $0 & (sigchld | sigpipe) == 0 } == true, "\(status)")
    }

    @Test func agentJSONNamesXLWithThisDom0sMigrationAddress() throws {
        var config = AgentConfig(hostId: "host-a", rctcb: "https://10.77.0.1:8443", stateDirectory: "/var/lib/smig-attest",
                                 vmManager: "xl", vmManagerURI: "/usr/sbin/xl", migrationAddress: "10.77.0.11")
        let manager = try #require(try config.hostVMManager() as? XLVMManager)
        #expect(manager.kind == "xl" && manager.listArguments(long: true) == ["/usr/sbin/xl", "list", "-l"])
        config.vmManager = "xm"
        let unknown = #expect(throws: AgentEnrolment.Failure.self) { try config.hostVMManager() }
        #expect(unknown?.code == "agent.config-bad-value" && unknown?.message.contains("libvirt, qemu, xl") == true, "\(String(describing: unknown))")
        config.vmManager = "xl"
        config.migrationAddress = nil
        let noAddress = #expect(throws: AgentEnrolment.Failure.self) { try config.hostVMManager() }
        #expect(noAddress?.code == "agent.config-bad-value")
    }
}
