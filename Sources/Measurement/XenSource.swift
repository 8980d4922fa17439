import Attestation
import TPMWire
import Policy

/// The Xen calls the `xen` source makes, behind a protocol so a test double can stand in where no Xen dom0
/// runs. The real implementation (``LibXenControl``) is the only code that touches `CXen`.
package protocol XenControl: Sendable {
    /// (major, minor) from XENVER_version.
    func version() throws(MeasurementError) -> (major: Int, minor: Int)
    func extraVersion() throws(MeasurementError) -> String
    func changeset() throws(MeasurementError) -> String
    /// The hypervisor's GNU build-id (XENVER_build_id).
    func buildID() throws(MeasurementError) -> [UInt8]
    func commandLine() throws(MeasurementError) -> String
    func capabilities() throws(MeasurementError) -> String
    /// Loaded livepatches: name, state (1 checked, 2 applied), rc, metadata.
    func livepatches() throws(MeasurementError) -> [XenLivepatch]
    /// A hypfs entry's content, nil if hypfs or the entry is absent.
    func hypfsRead(_ path: String) throws(MeasurementError) -> String?
    /// The names in a hypfs directory, nil if hypfs or the directory is absent.
    func hypfsList(_ path: String) throws(MeasurementError) -> [String]?
}

package struct XenLivepatch: Sendable, Hashable {
    package var name: String
    package var state: Int
    package var rc: Int
    package var metadata: String
    package init(name: String, state: Int, rc: Int, metadata: String) {
        self.name = name
        self.state = state
        self.rc = rc
        self.metadata = metadata
    }
}

/// `xen`: what the Xen hypervisor reports about itself, through libxenctrl and libxenhypfs.
///
/// This is self-reported: Xen offers dom0 no way to read hypervisor text. The values are measured so the
/// golden values can pin them, and the boot PCRs (which measured the Xen image) are the cross-check.
///
/// Measurements: `xen:version` (`4.17.7`-style: major.minor + extraversion), `xen:changeset`, `xen:build-id`,
/// `xen:commandline`, `xen:capabilities`, `xen:livepatches` (the list; `none` when empty) and one
/// `xen:livepatch:NAME` per payload, `xen:hypfs:buildinfo/config` (the build .config, as digest),
/// `xen:hypfs:params` (every runtime parameter, `name=value` lines, as digest).
package struct XenSource: MeasurementSource {
    package let kind = "xen"
    let control: any XenControl

    /// Opens the real hypervisor interfaces. Throws ``MeasurementError/Code/notXenDom0`` outside a Xen dom0.
    package init() throws(MeasurementError) {
        self.control = try LibXenControl.open()
    }

    /// Uses `control` instead of the real hypervisor (a test double in tests).
    package init(control: any XenControl) {
        self.control = control
    }

    package func measure() throws(MeasurementError) -> [NamedMeasurement] {
        var out: [NamedMeasurement] = []
        func reported(_ name: String, _ value: String, _ detail: String) {
            out.append(.reported(source: kind, name: "xen:\(name)", value: value, detail: detail))
        }
        let (major, minor) = try control.version()
        let extra = try control.extraVersion()
        reported("version", "\(major).\(minor)\(extra)", "XENVER_version + XENVER_extraversion")
        reported("changeset", try control.changeset(), "XENVER_changeset")
        let buildID = try control.buildID()
        guard !buildID.isEmpty else {
            throw MeasurementError(.xenCallFailed, "the hypervisor reports an empty build-id", subject: "XENVER_build_id")
        }
        reported("build-id", Hex.encode(buildID), "XENVER_build_id (GNU build-id of the hypervisor image)")
        reported("commandline", try control.commandLine(), "XENVER_commandline")
        reported("capabilities", try control.capabilities(), "XENVER_capabilities")

        let patches = try control.livepatches().sorted { $0.name < $1.name }
        let list = patches.map { "\($0.name) state=\($0.state) rc=\($0.rc)" }.joined(separator: "\n")
        reported("livepatches", patches.isEmpty ? "none" : list, "\(patches.count) livepatch payloads")
        for patch in patches {
            reported("livepatch:\(patch.name)", "state=\(patch.state) rc=\(patch.rc) \(patch.metadata)",
                     patch.state == 2 ? "applied" : "loaded, not applied")
        }

        if let config = try control.hypfsRead("/buildinfo/config") {
            out.append(NamedMeasurement(source: kind, name: "xen:hypfs:buildinfo/config",
                                   sha256: Digests.sha256(Array(config.utf8)),
                                   detail: "hypfs /buildinfo/config, \(config.utf8.count) bytes"))
        } else {
            reported("hypfs:buildinfo/config", "absent", "hypfs not available or built without CONFIG_HYPFS_CONFIG")
        }
        if let names = try control.hypfsList("/params") {
            var text = ""
            for name in names.sorted() {
                text += "\(name)=\(try control.hypfsRead("/params/\(name)") ?? "")\n"
            }
            out.append(NamedMeasurement(source: kind, name: "xen:hypfs:params", sha256: Digests.sha256(Array(text.utf8)),
                                   detail: "\(names.count) runtime parameters from hypfs /params"))
        } else {
            reported("hypfs:params", "absent", "hypfs not available")
        }
        return out
    }
}
