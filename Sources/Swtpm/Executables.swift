import Foundation

/// Finding the external programs the lab drives (swtpm, QEMU, tpm2-tools): the one `which` of the package.
package enum Executables {
    /// The executable `tool` names: itself when it is a path, else the first match on `$PATH` (then /usr/sbin,
    /// /sbin, /usr/bin, where Debian puts some of them); nil when there is none.
    package static func which(_ tool: String) -> String? {
        if tool.contains("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/bin"
        for dir in paths.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
