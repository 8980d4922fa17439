#if canImport(Glibc)
import Glibc
import TPMWire
#elseif canImport(Musl)
import Musl
#endif
import Attestation
import Policy

/// `kernel-modules`: each loaded module (from `/proc/modules`) with the SHA-256 of its file (found through
/// `modules.dep`), plus one summary measurement over the sorted list so that a module appearing or vanishing
/// changes a single, stable name.
package struct KernelModulesSource: MeasurementSource {
    package let kind = "kernel-modules"
    package var procRoot: String
    /// The module tree, `/lib/modules/<release>`; nil means "from the running kernel's release".
    package var modulesDirectory: String?

    package init(procRoot: String = "/proc", modulesDirectory: String? = nil) {
        self.procRoot = procRoot
        self.modulesDirectory = modulesDirectory
    }

    /// Module names in `/proc/modules` (first field of each line), strictly parsed.
    package static func parseLoaded(_ text: String) throws(MeasurementError) -> [String] {
        var names: [String] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, UInt64(fields[1]) != nil,
                  fields[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw MeasurementError(.malformedProcFile, "/proc/modules line \(number + 1) does not parse")
            }
            names.append(String(fields[0]))
        }
        return names
    }

    /// `modules.dep`: module name (with '-' as '_') → path relative to the module tree.
    package static func parseModulesDep(_ text: String) -> [String: String] {
        var table: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            var base = Substring(path.split(separator: "/").last ?? "")
            for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) { base = base.dropLast(suffix.count) }
            guard base.hasSuffix(".ko") else { continue }
            let name = String(base.dropLast(3)).replacingDashes()
            table[name] = path
        }
        return table
    }

    package func measure() throws(MeasurementError) -> [NamedMeasurement] {
        let list = "\(procRoot)/modules"
        guard access(list, F_OK) == 0 || errno != ENOENT else {
            throw MeasurementError(.noKernelModules, "\(list) does not exist: this kernel lists no loadable modules (built without "
                                   + "CONFIG_MODULES) or /proc is not mounted (hint: leave kernel-modules out of the sources here; "
                                   + "with no loadable modules, the kernel image itself is what to measure, e.g. file:/boot/vmlinuz-…)")
        }
        let loaded = try Self.parseLoaded(String(decoding: try POSIXFile.readAll(list), as: UTF8.self))
        let directory: String
        if let modulesDirectory {
            directory = modulesDirectory
        } else {
            let release = String(decoding: try POSIXFile.readAll("\(procRoot)/sys/kernel/osrelease"), as: UTF8.self)
            directory = "/lib/modules/" + release.trimmingSpaces()
        }
        let dep = Self.parseModulesDep(String(decoding: (try? POSIXFile.readAll("\(directory)/modules.dep")) ?? [],
                                              as: UTF8.self))
        var out: [NamedMeasurement] = []
        var summary = ""
        for name in loaded.sorted() {
            let measurement: NamedMeasurement
            if let relative = dep[name.replacingDashes()] {
                let path = relative.hasPrefix("/") ? relative : "\(directory)/\(relative)"
                do {
                    let (digest, bytes) = try StreamingSHA256.file(path)
                    measurement = NamedMeasurement(source: kind, name: "kernel-module:\(name)", sha256: digest,
                                              detail: "\(path), \(bytes) bytes")
                } catch {
                    measurement = NamedMeasurement(source: kind, name: "kernel-module:\(name)", sha256: Digests.sha256([]),
                                              detail: "module file unreadable: \(error.reason)")
                }
            } else {
                measurement = NamedMeasurement(source: kind, name: "kernel-module:\(name)", sha256: Digests.sha256([]),
                                          detail: "no file in modules.dep (out-of-tree or built from elsewhere)")
            }
            summary += "\(name) \(Hex.encode(measurement.sha256))\n"
            out.append(measurement)
        }
        out.insert(NamedMeasurement(source: kind, name: "kernel-modules", sha256: Digests.sha256(Array(summary.utf8)),
                               detail: "\(loaded.count) loaded modules"), at: 0)
        return out
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
    func trimmingSpaces() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
