package import Attestation
package import Foundation

/// `RegionJSON.encode` of the values on the report path, written field by field: the same bytes, without
/// Foundation's encoder (keys in UTF-8 byte order, nil optionals left out; see ``CanonicalJSONWriter``).
extension RegionJSON {
    /// The bytes `RegionJSON.encode(bundle)` produces.
    package static func fastEncode(_ bundle: EvidenceBundle) -> Data {
        var w = CanonicalJSONWriter(capacity: 2048)
        w.write(bundle)
        return Data(w.bytes)
    }

    /// The bytes `RegionJSON.encode(result)` produces.
    package static func fastEncode(_ result: ReportResult) -> Data {
        var w = CanonicalJSONWriter(capacity: 512)
        w.write(result)
        return Data(w.bytes)
    }

    /// The bytes `RegionJSON.encode(report)` produces.
    package static func fastEncode(_ report: AIMReport) -> Data {
        var w = CanonicalJSONWriter(capacity: 2048)
        w.write(report)
        return Data(w.bytes)
    }
}

extension CanonicalJSONWriter {
    mutating func write(_ report: AIMReport) {
        beginObject()
        if let detail = report.detail { key("detail"); string(detail) }
        if let evidence = report.evidence { key("evidence"); write(evidence) }
        key("nonce"); string(report.nonce)
        key("outcome"); string(report.outcome.rawValue)
        if let verdict = report.reporterVerdict { key("reporterVerdict"); string(verdict) }
        key("target"); string(report.target)
        endObject()
    }

    mutating func write(_ bundle: EvidenceBundle) {
        beginObject()
        key("agentTime"); date(bundle.agentTime)
        key("akName"); string(bundle.akName)
        key("akPublic"); string(bundle.akPublic)
        key("attest"); string(bundle.attest)
        if let bootLog = bundle.bootLog { key("bootLog"); string(bootLog) }
        if let log = bundle.eventLog {
            key("eventLog")
            beginArray()
            for record in log { write(record) }
            endArray()
        }
        if let unusable = bundle.eventLogUnusable { key("eventLogUnusable"); string(unusable) }
        key("hostId"); string(bundle.hostId)
        key("nonce"); string(bundle.nonce)
        key("pcrSelection"); string(bundle.pcrSelection)
        key("pcrs")
        writeSorted(bundle.pcrs) { w, bank in w.writeSorted(bank) { $0.string($1) } }
        key("signature"); string(bundle.signature)
        key("version"); int(bundle.version)
        endObject()
    }

    mutating func write(_ record: MeasurementRecord) {
        beginObject()
        key("content")
        beginObject()
        let content = record.content
        key("detail"); string(content.detail)
        if let instance = content.instance { key("instance"); string(instance) }
        key("measurement"); string(content.measurement)
        key("name"); string(content.name)
        key("source"); string(content.source)
        if let value = content.value { key("value"); string(value) }
        endObject()
        key("content_type"); string(record.contentType)
        key("digests")
        beginArray()
        for digest in record.digests {
            beginObject()
            key("digest"); string(digest.digest)
            key("hashAlg"); string(digest.hashAlg)
            endObject()
        }
        endArray()
        key("pcr"); int(record.pcr)
        key("recnum"); int(record.recnum)
        endObject()
    }

    mutating func write(_ result: ReportResult) {
        beginObject()
        if let code = result.code { key("code"); string(code) }
        if let detail = result.detail { key("detail"); string(detail) }
        if let next = result.next { key("next"); write(next) }
        key("state"); string(result.state)
        key("target"); string(result.target)
        endObject()
    }

    mutating func write(_ assignment: RingAssignment) {
        beginObject()
        if let address = assignment.address { key("address"); string(address) }
        if let nonce = assignment.nonce { key("nonce"); string(nonce) }
        if let selection = assignment.pcrSelection { key("pcrSelection"); string(selection) }
        if let port = assignment.port { key("port"); int(port) }
        if let target = assignment.target { key("target"); string(target) }
        if let validUntil = assignment.validUntil { key("validUntil"); date(validUntil) }
        endObject()
    }

    /// A dictionary with its keys in the order of their UTF-8 bytes, as `.sortedKeys` writes it.
    mutating func writeSorted<Value>(_ dictionary: [String: Value], _ value: (inout CanonicalJSONWriter, Value) -> Void) {
        beginObject()
        for (k, v) in dictionary.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            key(k)
            value(&self, v)
        }
        endObject()
    }
}
