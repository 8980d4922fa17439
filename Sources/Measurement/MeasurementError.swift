internal import CodedError

/// The error type of the `Measurement` module: a stable `code`, a reason, and the path (or PID) concerned.
package struct MeasurementError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        /// A file could not be opened or read (errno in the reason).
        package static let io = Code(rawValue: "measure.io")
        /// The process does not exist, exited while being measured, or its memory is not readable.
        package static let processUnavailable = Code(rawValue: "measure.process-unavailable")
        /// No running process has the requested executable.
        package static let noSuchProcess = Code(rawValue: "measure.no-such-process")
        /// A line of /proc/PID/maps or /proc/modules that does not parse.
        package static let malformedProcFile = Code(rawValue: "measure.malformed-proc-file")
        /// The kernel-modules source on a machine without `/proc/modules` (a kernel built without loadable
        /// modules, or no /proc mounted).
        package static let noKernelModules = Code(rawValue: "measure.no-kernel-modules")
        /// The Xen source runs outside a Xen dom0 (no /proc/xen, or libxenctrl cannot open the hypervisor).
        package static let notXenDom0 = Code(rawValue: "measure.not-xen-dom0")
        /// The xen source where libxenctrl / libxenhypfs cannot be opened (they are loaded only when it is used).
        package static let xenLibrariesMissing = Code(rawValue: "measure.xen-libraries-missing")
        /// A Xen call failed in a dom0.
        package static let xenCallFailed = Code(rawValue: "measure.xen-call-failed")
        /// The boot event log could not be read or parsed (see the wrapped event-log code in the reason).
        package static let bootLog = Code(rawValue: "measure.boot-log")
        /// A measurement source specification (`--source`) that does not parse.
        package static let badSourceSpec = Code(rawValue: "measure.bad-source-spec")
        /// The persisted measurement log is corrupt beyond a torn last line.
        package static let logCorrupt = Code(rawValue: "measure.log-corrupt")
        /// The persisted log and the TPM disagree in a way recovery cannot repair.
        package static let logDiverged = Code(rawValue: "measure.log-diverged")
        /// Extending or reading the PCR failed.
        package static let extendFailed = Code(rawValue: "measure.extend-failed")
    }

    package var code: Code
    package var reason: String
    /// The file, process or Xen call concerned.
    package var subject: String?
    /// Byte offset, for a corrupt log.
    package var offset: Int?

    package init(_ code: Code, _ reason: String, subject: String? = nil, offset: Int? = nil) {
        self.code = code
        self.reason = reason
        self.subject = subject
        self.offset = offset
    }

    package var description: String {
        var text = "\(code): \(reason)"
        if let subject { text += " [\(subject)]" }
        if let offset { text += " (at byte \(offset))" }
        return text
    }
}
