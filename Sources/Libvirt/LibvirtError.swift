internal import CLibvirt

/// The one error type of the `Libvirt` module: a stable `code` (tests and callers match on it), and what libvirt
/// said — its error number (`virErrorNumber`), error domain (`virErrorDomain`) and message, from `virGetLastError`.
package struct LibvirtError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// libvirt (`libvirt.so.0`) is not installed on this host, or lacks a function this module calls.
        package static let libraryMissing = Code(rawValue: "libvirt.library-missing")
        /// `virConnectOpen` failed: no daemon at the URI, refused, unreachable, or the URI is malformed.
        package static let connectFailed = Code(rawValue: "libvirt.connect-failed")
        /// The host has no domain of that name or UUID (`VIR_ERR_NO_DOMAIN`), or it went away.
        package static let noDomain = Code(rawValue: "libvirt.no-domain")
        /// The migration failed (other than by an abort): the destination is unreachable, refused it, or the
        /// hypervisor reported a failure.
        package static let migrateFailed = Code(rawValue: "libvirt.migrate-failed")
        /// The job was aborted (`virDomainAbortJob`, `VIR_ERR_OPERATION_ABORTED`).
        package static let aborted = Code(rawValue: "libvirt.aborted")
        /// The domain is not in a state that allows the call (`VIR_ERR_OPERATION_INVALID`), e.g. resuming a
        /// domain that is not paused, aborting when no job runs.
        package static let operationInvalid = Code(rawValue: "libvirt.operation-invalid")
        /// An argument this module rejects before calling libvirt (a malformed UUID, a parameter out of range).
        package static let invalidArgument = Code(rawValue: "libvirt.invalid-argument")
        /// The connection was closed by its owner before the call.
        package static let closed = Code(rawValue: "libvirt.closed")
        /// Any other failure of a libvirt call (the function and libvirt's message say which).
        package static let callFailed = Code(rawValue: "libvirt.call-failed")
    }

    package let code: Code
    /// The libvirt function that failed, e.g. `virDomainMigrateToURI3`.
    package let function: String
    /// `virErrorNumber` (0 when libvirt recorded no error, or the error is this module's own).
    package let libvirtCode: Int32
    /// `virErrorDomain`: which part of libvirt raised it (0 when none).
    package let libvirtDomain: Int32
    /// libvirt's message, or this module's reason.
    package let message: String

    /// Errors are equal when their codes are (as swift-asn1's are): the function and message are for people.
    package static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    package func hash(into hasher: inout Hasher) { hasher.combine(code) }

    package init(_ code: Code, function: String, libvirtCode: Int32 = 0, libvirtDomain: Int32 = 0, message: String) {
        self.code = code
        self.function = function
        self.libvirtCode = libvirtCode
        self.libvirtDomain = libvirtDomain
        self.message = message
    }

    package var description: String { "\(code): \(function): \(message)" }

    /// The failure libvirt recorded for this thread (`virGetLastError`), coded: `VIR_ERR_NO_DOMAIN` is always
    /// `noDomain`, `VIR_ERR_OPERATION_ABORTED` always `aborted`, `VIR_ERR_OPERATION_INVALID` always
    /// `operationInvalid`; anything else gets `code`. Must run on the thread of the failed call.
    static func last(_ function: String, else code: Code) -> LibvirtError {
        guard let error = libvirt.virGetLastError() else {
            return LibvirtError(code, function: function, message: "failed without an error recorded by libvirt")
        }
        let number = error.pointee.code
        let message = error.pointee.message.map { String(cString: $0) } ?? "no message"
        let coded: Code
        switch number {
        case Int32(VIR_ERR_NO_DOMAIN.rawValue): coded = .noDomain
        case Int32(VIR_ERR_OPERATION_ABORTED.rawValue): coded = .aborted
        case Int32(VIR_ERR_OPERATION_INVALID.rawValue): coded = .operationInvalid
        default: coded = code
        }
        return LibvirtError(coded, function: function, libvirtCode: number, libvirtDomain: error.pointee.domain, message: message)
    }
}
