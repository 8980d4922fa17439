internal import CXen
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The real Xen calls, through libxenctrl and libxenhypfs — opened with dlopen on first use (``XenLibraries``), so
/// the binary starts on hosts without Xen. One owner per handle; `deinit` closes them.
final class LibXenControl: XenControl, @unchecked Sendable {
    // @unchecked Sendable: the handles are only used through libxenctrl/libxenhypfs calls, which are
    // thread-safe per handle (they serialise hypercalls internally); the pointers themselves never change.
    private let xch: OpaquePointer
    private let hypfs: OpaquePointer?
    private let libraries: XenLibraries

    private init(libraries: XenLibraries, xch: OpaquePointer, hypfs: OpaquePointer?) {
        self.libraries = libraries
        self.xch = xch
        self.hypfs = hypfs
    }

    deinit {
        _ = libraries.api.xc_interface_close(xch)
        if let hypfs { _ = libraries.api.xenhypfs_close(hypfs) }
    }

    static func open() throws(MeasurementError) -> LibXenControl {
        // A dom0 has /proc/xen/capabilities containing "control_d"; anything else is not a Xen dom0.
        let capabilities = (try? POSIXFile.readAll("/proc/xen/capabilities", limit: 4096)) ?? []
        guard String(decoding: capabilities, as: UTF8.self).contains("control_d") else {
            throw MeasurementError(.notXenDom0, "not a Xen dom0: /proc/xen/capabilities is absent or lacks control_d",
                                   subject: "xen")
        }
        let libraries = try XenLibraries.shared.get()
        guard let xch = libraries.api.xc_interface_open(nil, nil, 0) else {
            throw MeasurementError(.notXenDom0, "not a Xen dom0: xc_interface_open failed: \(POSIXFile.errnoText())",
                                   subject: "xen")
        }
        return LibXenControl(libraries: libraries, xch: xch, hypfs: libraries.api.xenhypfs_open(nil, 0))
    }

    private func text(_ command: Int32, _ name: String) throws(MeasurementError) -> String {
        var buffer = [CChar](repeating: 0, count: 1025)
        let count = withUnsafePointer(to: libraries.api) { CXen_version_text($0, xch, command, &buffer, buffer.count) }
        guard count >= 0 else { throw MeasurementError(.xenCallFailed, "rc \(count)", subject: name) }
        return String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func version() throws(MeasurementError) -> (major: Int, minor: Int) {
        let raw = withUnsafePointer(to: libraries.api) { CXen_version_number($0, xch) }
        guard raw >= 0 else { throw MeasurementError(.xenCallFailed, "rc \(raw)", subject: "XENVER_version") }
        return (Int(raw >> 16), Int(raw & 0xffff))
    }

    func extraVersion() throws(MeasurementError) -> String { try text(XENVER_extraversion, "XENVER_extraversion") }
    func changeset() throws(MeasurementError) -> String { try text(XENVER_changeset, "XENVER_changeset") }
    func commandLine() throws(MeasurementError) -> String { try text(XENVER_commandline, "XENVER_commandline") }
    func capabilities() throws(MeasurementError) -> String { try text(XENVER_capabilities, "XENVER_capabilities") }

    func buildID() throws(MeasurementError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = withUnsafePointer(to: libraries.api) { CXen_build_id($0, xch, &buffer, UInt32(buffer.count)) }
        guard count > 0 else { throw MeasurementError(.xenCallFailed, "rc \(count)", subject: "XENVER_build_id") }
        return Array(buffer[0..<Int(count)])
    }

    func livepatches() throws(MeasurementError) -> [XenLivepatch] {
        var buffer = [CChar](repeating: 0, count: 1 << 20)
        let count = withUnsafePointer(to: libraries.api) { CXen_livepatch_text($0, xch, &buffer, buffer.count) }
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
        guard let hypfs, let raw = libraries.api.xenhypfs_read(hypfs, path) else { return nil }
        defer { CXen_free(raw) }
        return String(cString: raw)
    }

    func hypfsList(_ path: String) throws(MeasurementError) -> [String]? {
        guard let hypfs else { return nil }
        var count: UInt32 = 0
        guard let entries = libraries.api.xenhypfs_readdir(hypfs, path, &count) else { return nil }
        defer { CXen_free(entries) }
        var names: [String] = []
        for index in 0..<Int(count) {
            if let name = entries[index].name { names.append(String(cString: name)) }
        }
        return names
    }
}

/// libxenctrl and libxenhypfs, opened once with dlopen: first the development link `libxenctrl.so` (the version the
/// binary was built against, where libxen-dev is installed), else the newest `libxenctrl.so.4.N` in the system's
/// library directories; libxenhypfs by its stable soname.
package final class XenLibraries: @unchecked Sendable {
    // @unchecked Sendable: `api` is written once, before the value is shared, and only read afterwards.
    let api: CXen_api

    private init(api: CXen_api) { self.api = api }

    /// The libraries, or `measure.xen-libraries-missing` — tried once per process.
    package static let shared: Result<XenLibraries, MeasurementError> = load()

    static func load() -> Result<XenLibraries, MeasurementError> {
        var reasons: [String] = []
        for control in controlCandidates() {
            var api = CXen_api()
            var error = [CChar](repeating: 0, count: 512)
            if CXen_load(&api, control, "libxenhypfs.so.1", &error, error.count) == 0 { return .success(XenLibraries(api: api)) }
            reasons.append(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .failure(MeasurementError(.xenLibrariesMissing, "the Xen toolstack libraries cannot be loaded (\(reasons.joined(separator: "; "))) "
                                         + "(hint: the xen source runs in a Xen dom0 with libxenctrl and libxenhypfs installed, e.g. Debian's libxenmisc4.17)"))
    }

    /// `libxenctrl.so`, then `libxenctrl.so.4.N` found in the library directories, newest first.
    package static func controlCandidates() -> [String] {
        let directories = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
        var versions: [(Int, Int, String)] = []
        for directory in directories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("libxenctrl.so.") {
                let parts = name.dropFirst("libxenctrl.so.".count).split(separator: ".")
                guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { continue }
                versions.append((major, minor, name))
            }
        }
        let sorted = versions.sorted { ($0.0, $0.1) > ($1.0, $1.1) }.map(\.2)
        var seen = Set<String>()
        return (["libxenctrl.so"] + sorted).filter { seen.insert($0).inserted }
    }
}
