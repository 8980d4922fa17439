public import Attestation
import Policy

/// One named measurement: the name the golden values look up, the SHA-256 of what was measured, and detail.
public struct NamedMeasurement: Sendable, Hashable {
    /// The source kind: `file`, `process-text`, `kernel-modules`, `xen`, `boot-log`.
    public var source: String
    /// Stable name, e.g. `file:/boot/xen.gz`, `process-text:/usr/bin/qemu-system-x86_64`, `xen:build-id`.
    public var name: String
    /// Distinguishes several measurements with one name (the PID for process text).
    public var instance: String?
    /// SHA-256 of the measured bytes (for self-reported values: of the value's UTF-8).
    public var sha256: [UInt8]
    /// The self-reported value, for sources that report one (Xen version, build-id, …).
    public var value: String?
    public var detail: String

    public init(source: String, name: String, instance: String? = nil, sha256: [UInt8], value: String? = nil,
                detail: String) {
        self.source = source
        self.name = name
        self.instance = instance
        self.sha256 = sha256
        self.value = value
        self.detail = detail
    }

    /// A measurement of a self-reported value: its digest is the SHA-256 of the value's UTF-8.
    public static func reported(source: String, name: String, value: String, detail: String) -> NamedMeasurement {
        NamedMeasurement(source: source, name: name, sha256: Digests.sha256(Array(value.utf8)), value: value, detail: detail)
    }

    /// Name plus instance: the key under which "unchanged since the last extend" is decided.
    public var key: String { instance.map { "\(name)#\($0)" } ?? name }

    /// The measurement-log content for this measurement.
    public var content: MeasurementRecord.Content {
        .init(source: source, name: name, instance: instance, measurement: Hex.encode(sha256), value: value,
              detail: detail)
    }
}

/// A source of named measurements. Sources are values; `measure()` does the I/O and may block.
public protocol MeasurementSource: Sendable {
    /// The source kind (`file`, `process-text`, …).
    var kind: String { get }
    /// Takes the measurements now.
    func measure() throws(MeasurementError) -> [NamedMeasurement]
}
