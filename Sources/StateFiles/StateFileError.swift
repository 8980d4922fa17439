internal import CodedError

/// The error type of the `StateFiles` module: a stable code, the path concerned and one human line.
package struct StateFileError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        /// The path is a symbolic link (state files and directories are never followed through links).
        package static let symlink = Code(rawValue: "state.symlink")
        /// The path is not the kind of file expected (a directory where a file belongs, a FIFO, a device ...).
        package static let notRegular = Code(rawValue: "state.not-regular")
        /// The owner is neither root nor the user running the tool.
        package static let unsafeOwner = Code(rawValue: "state.unsafe-owner")
        /// Group or others may write it.
        package static let unsafeMode = Code(rawValue: "state.unsafe-mode")
        /// A system call failed (errno in the reason).
        package static let io = Code(rawValue: "state.io")
        /// The file is larger than its reader accepts.
        package static let tooLarge = Code(rawValue: "state.too-large")
    }

    package var code: Code
    package var path: String
    package var reason: String

    package init(_ code: Code, path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    package var description: String { "\(code): \(path): \(reason)" }
}
