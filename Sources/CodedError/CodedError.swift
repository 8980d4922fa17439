/// A stable error code: a dotted word (`wire.truncated`, `enrol.ak-changed`) that programs, scripts and tests match on;
/// it prints as itself. Each module's error type nests one as `Code`, with its codes as static members.
public protocol ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible where RawValue == String {}

extension ErrorCode {
    public var description: String { rawValue }
}

/// A module's error: a stable ``ErrorCode`` and, beside it, words for people (a reason, a place, a hint). Like
/// swift-asn1's `ASN1Error`, two errors are equal when their codes are: the rest is for people, and tests assert on
/// the code. Conforming types write only their codes, their stored words and their `description`.
public protocol CodedError: Error, Hashable, Sendable, CustomStringConvertible {
    associatedtype Code: ErrorCode
    var code: Code { get }
}

extension CodedError {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
