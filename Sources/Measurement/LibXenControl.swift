internal import CXen
#if canImport(Glibc)
import Glibc
#endif

/// The real Xen calls, through libxenctrl and libxenhypfs. One owner per handle; `deinit` closes them.
final class LibXenControl: XenControl, @unchecked Sendable {
    // @unchecked Sendable: the handles are only used through libxenctrl/libxenhypfs calls, which are
    // thread-safe per handle (they serialise hypercalls internally); the pointers themselves never change.
    private let xch: OpaquePointer
    private let hypfs: OpaquePointer?

    private init(xch: OpaquePointer, hypfs: OpaquePointer?) {
        self.xch = xch
        self.hypfs = hypfs
    }

    deinit {
        xc_interface_close(xch)
        if let hypfs { xenhypfs_close(hypfs) }
    }

    static func open() throws(MeasurementError) -> LibXenControl {
        // A dom0 has /proc/xen/capabilities containing "control_d"; anything else is not a Xen dom0.
        let capabilities = (try? POSIXFile.readAll("/proc/xen/capabilities", limit: 4096)) ?? []
        guard String(decoding: capabilities, as: UTF8.self).contains("control_d") else {
            throw MeasurementError(.notXenDom0, "not a Xen dom0: /proc/xen/capabilities is absent or lacks control_d",
                                   subject: "xen")
        }
        guard let xch = xc_interface_open(nil, nil, 0) else {
            throw MeasurementError(.notXenDom0, "not a Xen dom0: xc_interface_open failed: \(POSIXFile.errnoText())",
                                   subject: "xen")
        }
        return LibXenControl(xch: xch, hypfs: xenhypfs_open(nil, 0))
    }

    private func text(_ command: Int32, _ name: String) throws(MeasurementError) -> String {
        var buffer = [CChar](repeating: 0, count: 1025)
        let count = CXen_version_text(xch, command, &buffer, buffer.count)
        guard count >= 0 else { throw MeasurementError(.xenCallFailed, "rc \(count)", subject: name) }
        return String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func version() throws(MeasurementError) -> (major: Int, minor: Int) {
        let raw = CXen_version_number(xch)
        guard raw >= 0 else { throw MeasurementError(.xenCallFailed, "rc \(raw)", subject: "XENVER_version") }
        return (Int(raw >> 16), Int(raw & 0xffff))
    }

    func extraVersion() throws(MeasurementError) -> String { try text(XENVER_extraversion, "XENVER_extraversion") }
    func changeset() throws(MeasurementError) -> String { try text(XENVER_changeset, "XENVER_changeset") }
    func commandLine() throws(MeasurementError) -> String { try text(XENVER_commandline, "XENVER_commandline") }
    func capabilities() throws(MeasurementError) -> String { try text(XENVER_capabilities, "XENVER_capabilities") }

    func buildID() throws(MeasurementError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = CXen_build_id(xch, &buffer, UInt32(buffer.count))
        guard count > 0 else { throw MeasurementError(.xenCallFailed, "rc \(count)", subject: "XENVER_build_id") }
        return Array(buffer[0..<Int(count)])
    }

    func livepatches() throws(MeasurementError) -> [XenLivepatch] {
        var buffer = [CChar](repeating: 0, count: 1 << 20)
        let count = CXen_livepatch_text(xch, &buffer, buffer.count)
        guard count >= 0 else {
            // -ENOSYS / -EOPNOTSUPP: built without CONFIG_LIVEPATCH — report none rather than fail.
            if count == -38 || count == -95 { return [] }
            throw MeasurementError(.xenCallFailed, "rc \(count)", subject: "xc_livepatch_list")
        }
        let text = String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, let state = Int(fields[1]), let rc = Int(fields[2]) else { return nil }
            return XenLivepatch(name: String(fields[0]), state: state, rc: rc, metadata: String(fields[3]))
        }
    }

    func hypfsRead(_ path: String) throws(MeasurementError) -> String? {
        guard let hypfs, let raw = xenhypfs_read(hypfs, path) else { return nil }
        defer { CXen_free(raw) }
        return String(cString: raw)
    }

    func hypfsList(_ path: String) throws(MeasurementError) -> [String]? {
        guard let hypfs else { return nil }
        var count: UInt32 = 0
        guard let entries = xenhypfs_readdir(hypfs, path, &count) else { return nil }
        defer { CXen_free(entries) }
        var names: [String] = []
        for index in 0..<Int(count) {
            if let name = entries[index].name { names.append(String(cString: name)) }
        }
        return names
    }
}
