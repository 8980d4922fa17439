internal import CTSS2
internal import CodedError

/// A failure reported by tpm2-tss or the TPM: the TSS2_RC, the ESYS function, and Tss2_RC_Decode's text.
package struct TSS2Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// TSS2_RC as returned (layer in the top byte, TPM_RC or TSS error below).
    package let rc: UInt32
    package let function: String
    package let decoded: String

    init(rc: TSS2_RC, function: String) {
        self.rc = rc
        self.function = function
        if let text = Tss2_RC_Decode(rc) {
            self.decoded = String(cString: text)
        } else {
            self.decoded = "unknown response code"
        }
    }

    /// The TPM response code without the TSS layer byte (e.g. 0x902 TPM_RC_OBJECT_MEMORY).
    package var tpmRC: UInt32 { rc & 0xFFFF }

    /// TPM_RC_HANDLE and friends: the handle or NV index does not exist.
    package var isHandleNotFound: Bool {
        let base = rc & 0xFFFF
        // TPM_RC_HANDLE (0x8B) in format-one responses carries parameter/handle bits in 0xF00.
        return (base & 0x0BF) == 0x08B
    }

    package var description: String {
        "\(function) failed: 0x" + String(rc, radix: 16) + " (\(decoded))"
    }
}

/// Errors of this module that are not a TSS2 response code.
package struct TPMDeviceError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        /// The TCTI string is malformed or its library cannot be loaded.
        package static let tctiUnavailable = Code(rawValue: "tpm.tcti-unavailable")
        /// The TPM returned bytes this project cannot decode.
        package static let unexpectedResponse = Code(rawValue: "tpm.unexpected-response")
        /// A saved key blob is missing, unreadable or does not load.
        package static let keyState = Code(rawValue: "tpm.key-state")
        /// An argument out of range (PCR index, digest length, nonce size).
        package static let badArgument = Code(rawValue: "tpm.bad-argument")
        /// The EK the TPM made does not match its certificate.
        package static let ekMismatch = Code(rawValue: "tpm.ek-certificate-mismatch")
    }

    package let code: Code
    package let reason: String

    package init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    package var description: String { "\(code): \(reason)" }
}

@inline(__always)
func check(_ rc: TSS2_RC, _ function: @autoclosure () -> String) throws(TSS2Error) {
    if rc != TSS2_RC_SUCCESS { throw TSS2Error(rc: rc, function: function()) }
}
