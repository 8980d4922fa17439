import Attestation
import Foundation
import Swtpm

@testable import Measurement

func measurement(_ name: String, _ fill: UInt8, source: String = "file", instance: String? = nil,
                 value: String? = nil) -> NamedMeasurement {
    NamedMeasurement(source: source, name: name, instance: instance, sha256: [UInt8](repeating: fill, count: 32),
                value: value, detail: "test")
}

let hexA = String(repeating: "a", count: 64)
