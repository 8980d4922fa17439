import Attestation

/// `file`: the SHA-256 of each listed file (hypervisor image, toolstack binaries, configuration).
package struct FileSource: MeasurementSource {
    package let kind = "file"
    package var paths: [String]

    package init(paths: [String]) { self.paths = paths }

    package func measure() throws(MeasurementError) -> [NamedMeasurement] {
        var out: [NamedMeasurement] = []
        for path in paths {
            let (digest, bytes) = try StreamingSHA256.file(path)
            out.append(NamedMeasurement(source: kind, name: "file:\(path)", sha256: digest, detail: "\(bytes) bytes"))
        }
        return out
    }
}
