package import Attestation
import Policy

/// One named measurement: the name the golden values look up, the SHA-256 of what was measured (or a
/// self-reported value), and detail. The same type the measurement log stores (`MeasurementRecord.Content`):
/// what a source measures is what the log records and what the verifier judges.
package typealias NamedMeasurement = MeasurementRecord.Content

/// A source of named measurements. Sources are values; `measure()` does the I/O and may block.
package protocol MeasurementSource: Sendable {
    /// The source kind (`file`, `process-text`, …).
    var kind: String { get }
    /// Takes the measurements now.
    func measure() throws(MeasurementError) -> [NamedMeasurement]
}
