public import CodedError

/// The one error type of the `Policy` module.
///
/// Every error names the file, line and column it refers to (1-based, as an editor shows them) and, where it
/// helps, a hint. ``description`` has the shape compilers use, so editors can jump to it:
///
///     golden.yaml:12:7: error: unknown key 'sha265' (hint: did you mean 'sha256'?)
public struct PolicyError: CodedError {
    /// A stable, machine-readable error code. Tests and tools match on it; the message may change.
    public struct Code: ErrorCode {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The file could not be read.
        public static let unreadable = Code(rawValue: "policy.unreadable")
        /// The text is not well-formed YAML (scanner / parser error).
        public static let yamlSyntax = Code(rawValue: "policy.yaml-syntax")
        /// The file holds no document, or more than one.
        public static let documentCount = Code(rawValue: "policy.document-count")
        /// YAML anchors/aliases and custom tags are not accepted in policies.
        public static let unsupportedYAML = Code(rawValue: "policy.unsupported-yaml")
        /// The same key appears twice in one mapping.
        public static let duplicateKey = Code(rawValue: "policy.duplicate-key")
        /// A key that the schema does not know.
        public static let unknownKey = Code(rawValue: "policy.unknown-key")
        /// A key that the schema requires is absent.
        public static let missingKey = Code(rawValue: "policy.missing-key")
        /// A value of the wrong YAML type (e.g. a list where a string is expected).
        public static let wrongType = Code(rawValue: "policy.wrong-type")
        /// A digest that is not hexadecimal.
        public static let badDigest = Code(rawValue: "policy.bad-digest")
        /// A hexadecimal digest whose length does not fit its algorithm.
        public static let badDigestLength = Code(rawValue: "policy.bad-digest-length")
        /// A value out of its allowed range (a PCR index, a port, a duration).
        public static let outOfRange = Code(rawValue: "policy.out-of-range")
        /// A value that is not one of the allowed words.
        public static let badValue = Code(rawValue: "policy.bad-value")
        /// Two hosts with the same id (or the same address and port).
        public static let duplicateHost = Code(rawValue: "policy.duplicate-host")
        /// The same name listed twice in a list that must not repeat.
        public static let duplicateEntry = Code(rawValue: "policy.duplicate-entry")
        /// A reference to a host that is not declared.
        public static let unknownHost = Code(rawValue: "policy.unknown-host")
        /// The ring does not list every host exactly once.
        public static let badRing = Code(rawValue: "policy.bad-ring")
        /// The document's kind / schema version is not one this build understands.
        public static let unsupportedSchema = Code(rawValue: "policy.unsupported-schema")
        /// A number not in canonical decimal form (`00`, `+0`, `0x1`, `1_0`).
        public static let nonCanonicalNumber = Code(rawValue: "policy.non-canonical-number")
        /// A `golden:` path of a region file that is absolute (not allowed) or leaves the region file's directory.
        public static let pathOutsideRegion = Code(rawValue: "policy.path-outside-region")
        /// The file is larger than a policy may be.
        public static let tooLarge = Code(rawValue: "policy.too-large")
        /// An `on-state` action the RC-TCB does not carry out for that state (it would be parsed and ignored).
        public static let actionNotCarriedOut = Code(rawValue: "policy.action-not-carried-out")
        /// A rule that contradicts another one (e.g. freshness shorter than the challenge interval).
        public static let inconsistent = Code(rawValue: "policy.inconsistent")
    }

    public var code: Code
    public var file: String
    /// 1-based line, or 0 when the error concerns the whole file.
    public var line: Int
    /// 1-based column, or 0 when the error concerns the whole file.
    public var column: Int
    public var message: String
    public var hint: String?
    /// Further errors of the same file, found after this one (a check reports every independent error of a
    /// file, not just the first): this error is the first, in file order.
    public var others: [PolicyError] = []

    public init(_ code: Code, file: String, line: Int, column: Int, message: String, hint: String? = nil) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    /// This error and the ones found after it, one per line in `description`.
    public var all: [PolicyError] {
        var first = self
        first.others = []
        return [first] + others.flatMap(\.all)
    }

    /// The first of `errors` carrying the rest (nil when there are none).
    public static func combined(_ errors: [PolicyError]) -> PolicyError? {
        let flat = errors.flatMap(\.all)
        guard var first = flat.first else { return nil }
        first.others = Array(flat.dropFirst())
        return first
    }

    public var description: String {
        all.map { e in
            var text = "\(e.file):\(e.line):\(e.column): error: \(e.message)"
            if let hint = e.hint { text += " (hint: \(hint))" }
            return text
        }.joined(separator: "\n")
    }
}
