internal import CLibvirt

/// libvirt, opened once with dlopen by its soname (`libvirt.so.0`, Debian's libvirt0) the first time a call is
/// made: the binary does not link it, so a host whose agent uses another VM manager (a Xen dom0) need not have it.
///
/// Every libvirt call goes through ``api``, and every call runs through ``OffPool/run(_:_:)``, which fails with
/// `libvirt.library-missing` before its body runs when the library could not be loaded; so ``api`` is read only
/// after a successful load.
package final class LibvirtLibrary: @unchecked Sendable {
    // @unchecked Sendable: `api` is written once, before the value is shared, and only read afterwards.
    let api: CLibvirt_api

    private init(api: CLibvirt_api) { self.api = api }

    /// The library's soname.
    static let soname = "libvirt.so.0"

    /// The library with `virInitialize` called and libvirt's default error printer silenced, or
    /// `libvirt.library-missing` — tried once per process.
    static let shared: Result<LibvirtLibrary, LibvirtError> = load(soname)

    /// Opens the library at `path` (a soname or a file); `libvirt.library-missing` with dlopen's reason when it is
    /// not there or lacks one of the functions.
    package static func load(_ path: String) -> Result<LibvirtLibrary, LibvirtError> {
        var api = CLibvirt_api()
        var error = [CChar](repeating: 0, count: 512)
        guard CLibvirt_load(&api, path, &error, error.count) == 0 else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(LibvirtError(.libraryMissing, function: "dlopen",
                                         message: "\(path) cannot be loaded (\(reason)) (hint: install libvirt0, "
                                             + "or give this host's agent another VM manager)"))
        }
        // virInitialize is required before libvirt is used from several threads; should it fail, the calls
        // themselves fail and say why.
        _ = api.virInitialize()
        CLibvirt_silenceDefaultErrorHandler(&api)
        return .success(LibvirtLibrary(api: api))
    }
}

/// The loaded library's functions. Read only inside an ``OffPool`` body (see ``LibvirtLibrary``).
var libvirt: CLibvirt_api {
    switch LibvirtLibrary.shared {
    case .success(let library): library.api
    case .failure: CLibvirt_api()  // unreachable: OffPool.run refused to run the body
    }
}
