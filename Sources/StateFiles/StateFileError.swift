/// The error type of the `StateFiles` module: a stable code, the path concerned and one human line.
public struct StateFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The path is a symbolic link (state files and directories are never followed through links).
        public static let symlink = Code(rawValue: "state.symlink")
        /// The path is not the kind of file expected (a directory where a file belongs, a FIFO, a device ...).
        public static let notRegular = Code(rawValue: "state.not-regular")
        /// The owner is neither root nor the user running the tool.
        public static let unsafeOwner = Code(rawValue: "state.unsafe-owner")
        /// Group or others may write it.
        public static let unsafeMode = Code(rawValue: "state.unsafe-mode")
        /// A system call failed (errno in the reason).
        public static let io = Code(rawValue: "state.io")
        /// The file is larger than its reader accepts.
        public static let tooLarge = Code(rawValue: "state.too-large")
    }

    public var code: Code
    public var path: String
    public var reason: String

    public init(_ code: Code, path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(code): \(path): \(reason)" }
}
