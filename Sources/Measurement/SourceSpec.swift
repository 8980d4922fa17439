package import Policy

/// A measurement source written as text, as on the command line and in agent configuration:
///
/// - `file:PATH`
/// - `process-text:pid=PID`, `process-text:exe=PATH` (or `process-text:PATH`)
/// - `kernel-modules`
/// - `xen`
/// - `boot-log` or `boot-log:PATH`
package enum SourceSpec {
    package static let syntax = "file:PATH | process-text:pid=N | process-text:exe=PATH | kernel-modules | xen | boot-log[:PATH]"

    package static func parse(_ text: String) throws(MeasurementError) -> any MeasurementSource {
        let (kind, argument): (Substring, Substring?) = {
            guard let colon = text.firstIndex(of: ":") else { return (Substring(text), nil) }
            return (text[..<colon], text[text.index(after: colon)...])
        }()
        func bad(_ why: String) -> MeasurementError {
            MeasurementError(.badSourceSpec, "\(why); expected \(syntax)", subject: text)
        }
        switch kind {
        case "file":
            guard let argument, !argument.isEmpty else { throw bad("file needs a path") }
            return FileSource(paths: [String(argument)])
        case "process-text":
            guard let argument, !argument.isEmpty else { throw bad("process-text needs pid=N or exe=PATH") }
            if argument.hasPrefix("pid=") {
                guard let pid = Int32(argument.dropFirst(4)), pid > 0 else { throw bad("bad PID") }
                return ProcessTextSource(.pid(pid))
            }
            let path = argument.hasPrefix("exe=") ? argument.dropFirst(4) : argument
            guard path.hasPrefix("/") else { throw bad("the executable must be an absolute path") }
            return ProcessTextSource(.executable(String(path)))
        case "kernel-modules":
            guard argument == nil else { throw bad("kernel-modules takes no argument") }
            return KernelModulesSource()
        case "xen":
            guard argument == nil else { throw bad("xen takes no argument") }
            return try XenSource()
        case "boot-log":
            if let argument, !argument.isEmpty { return BootLogSource(path: String(argument)) }
            return BootLogSource()
        default:
            throw bad("unknown source '\(kind)'")
        }
    }

    /// The sources a golden file's entries imply: `file:PATH` and `process-text:EXE` entries (not patterns) are
    /// measured by path, `xen:*` by the xen source, `kernel-module*` by kernel-modules, `boot-log*` by boot-log.
    package static func sources(impliedBy golden: GoldenValues) throws(MeasurementError) -> [any MeasurementSource] {
        var files: [String] = []
        var executables: [String] = []
        var kinds: [String] = []
        for entry in golden.entries {
            let name = entry.name
            if name.hasPrefix("file:"), !entry.isPattern {
                files.append(String(name.dropFirst(5)))
            } else if name.hasPrefix("process-text:"), !entry.isPattern {
                executables.append(String(name.dropFirst(13)))
            } else if name.hasPrefix("xen:") {
                kinds.append("xen")
            } else if name.hasPrefix("kernel-module") {
                kinds.append("kernel-modules")
            } else if name.hasPrefix("boot-log") {
                kinds.append("boot-log")
            }
        }
        var out: [any MeasurementSource] = []
        if !files.isEmpty { out.append(FileSource(paths: files)) }
        for executable in executables { out.append(ProcessTextSource(.executable(executable))) }
        var seen: Set<String> = []
        for kind in kinds where seen.insert(kind).inserted { out.append(try parse(kind)) }
        return out
    }
}
