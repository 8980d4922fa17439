package import Attestation
package import Foundation
import TPMWire

/// Reading an ``AIMReport`` in the form agents send (`RegionJSON.encode`) without Foundation's decoder: a report
/// costs the RC-TCB a decode per attestation.
///
/// Each reader answers nil for anything it is not certain to read exactly as `RegionJSON.decode` would — an
/// unknown or repeated key, a missing field, `null`, whitespace, a number with a fraction, exponent or leading zero,
/// a date in any other form, bytes after the document — and the caller then decodes with Foundation. So whatever
/// a reader returns equals Foundation's result, and it never accepts what Foundation refuses.
extension RegionJSON {
    /// Decodes a report body: the fast reader first, Foundation's decoder (with its errors) when that answers nil.
    package static func decodeReport(_ data: Data) throws(Failure) -> AIMReport {
        if let report = fastReport(data) { return report }
        return try decode(AIMReport.self, from: data)
    }

    /// A report body as ``decodeReport(_:)`` reads it, with its evidence bundle's bytes exactly as the agent sent
    /// them when the fast reader read it (its value in the body, a document that decodes to the same bundle): the
    /// RC-TCB keeps those bytes with the verdict instead of encoding the bundle again. Nil evidence bytes when the
    /// report has no evidence or was read by Foundation's decoder.
    package static func decodeReportAsSent(_ data: Data) throws(Failure) -> (report: AIMReport, evidence: Data?) {
        if let (report, range) = fastReportAsSent(data) {
            return (report, range.map { Data(data[data.startIndex + $0.lowerBound ..< data.startIndex + $0.upperBound]) })
        }
        return (try decode(AIMReport.self, from: data), nil)
    }

    /// The report, or nil when the bytes are not in the simple form (not necessarily invalid).
    package static func fastReport(_ data: Data) -> AIMReport? {
        fastReportAsSent(data)?.report
    }

    /// The report and where its evidence bundle's value lies in `data` (offsets from its start), or nil as
    /// ``fastReport(_:)``.
    static func fastReportAsSent(_ data: Data) -> (report: AIMReport, evidence: Range<Int>?)? {
        data.withUnsafeBytes { raw in
            var scanner = JSONByteScanner(raw)
            var evidence: Range<Int>?
            guard let report = FastReportReader.report(&scanner, evidence: &evidence), scanner.atEnd else { return nil }
            return (report, evidence)
        }
    }

    /// The evidence bundle, or nil when the bytes are not in the simple form (not necessarily invalid).
    package static func fastBundle(_ data: Data) -> EvidenceBundle? {
        data.withUnsafeBytes { raw in
            var scanner = JSONByteScanner(raw)
            guard let bundle = FastReportReader.bundle(&scanner), scanner.atEnd else { return nil }
            return bundle
        }
    }
}

/// The readers of each type in a report, one per Codable type, with the keys its synthesized coding uses.
enum FastReportReader {
    /// Reads a field once: false when the key was already seen or the value is not there.
    static func once<T>(_ field: inout T?, _ value: T?) -> Bool {
        guard field == nil, let value else { return false }
        field = value
        return true
    }

    /// `evidenceRange`: where the evidence bundle's value was read (offsets into the scanner's bytes).
    static func report(_ s: inout JSONByteScanner, evidence evidenceRange: inout Range<Int>?) -> AIMReport? {
        var target: String?, nonce: String?, outcome: AIMReport.Outcome?, evidence: EvidenceBundle?
        var reporterVerdict: String?, detail: String?
        let read = s.object { s, key in
            if key.is("target") { return once(&target, s.string()) }
            if key.is("nonce") { return once(&nonce, s.string()) }
            if key.is("outcome") { return once(&outcome, s.string().flatMap(AIMReport.Outcome.init(rawValue:))) }
            if key.is("evidence") {
                let start = s.index
                guard once(&evidence, bundle(&s)) else { return false }
                evidenceRange = start..<s.index
                return true
            }
            if key.is("reporterVerdict") { return once(&reporterVerdict, s.string()) }
            if key.is("detail") { return once(&detail, s.string()) }
            return false
        }
        guard read, let target, let nonce, let outcome else { return nil }
        return AIMReport(target: target, nonce: nonce, outcome: outcome, evidence: evidence,
                         reporterVerdict: reporterVerdict, detail: detail)
    }

    static func bundle(_ s: inout JSONByteScanner) -> EvidenceBundle? {
        var version: Int?, hostId: String?, akPublic: String?, akName: String?, nonce: String?, attest: String?
        var signature: String?, pcrSelection: String?, pcrs: [String: [String: String]]?, eventLog: [MeasurementRecord]?
        var bootLog: String?, agentTime: Date?, eventLogUnusable: String?
        let read = s.object { s, key in
            if key.is("version") { return once(&version, s.int()) }
            if key.is("hostId") { return once(&hostId, s.string()) }
            if key.is("akPublic") { return once(&akPublic, s.string()) }
            if key.is("akName") { return once(&akName, s.string()) }
            if key.is("nonce") { return once(&nonce, s.string()) }
            if key.is("attest") { return once(&attest, s.string()) }
            if key.is("signature") { return once(&signature, s.string()) }
            if key.is("pcrSelection") { return once(&pcrSelection, s.string()) }
            if key.is("pcrs") { return once(&pcrs, s.dictionary { $0.dictionary { $0.string() } }) }
            if key.is("eventLog") { return once(&eventLog, s.array(record)) }
            if key.is("bootLog") { return once(&bootLog, s.string()) }
            if key.is("agentTime") { return once(&agentTime, s.date()) }
            if key.is("eventLogUnusable") { return once(&eventLogUnusable, s.string()) }
            return false
        }
        guard read, let version, let hostId, let akPublic, let akName, let nonce, let attest, let signature,
              let pcrSelection, let pcrs, let agentTime
        else { return nil }
        var bundle = EvidenceBundle(hostId: hostId, akPublic: [], akName: [], nonce: [], attest: [], signature: [],
                                    selection: PCRSelectionList([]), pcrValues: [], agentTime: agentTime)
        bundle.version = version
        bundle.akPublic = akPublic
        bundle.akName = akName
        bundle.nonce = nonce
        bundle.attest = attest
        bundle.signature = signature
        bundle.pcrSelection = pcrSelection
        bundle.pcrs = pcrs
        bundle.eventLog = eventLog
        bundle.bootLog = bootLog
        bundle.eventLogUnusable = eventLogUnusable
        return bundle
    }

    static func record(_ s: inout JSONByteScanner) -> MeasurementRecord? {
        var recnum: Int?, pcr: Int?, digests: [MeasurementRecord.Digest]?, contentType: String?
        var content: MeasurementRecord.Content?
        let read = s.object { s, key in
            if key.is("recnum") { return once(&recnum, s.int()) }
            if key.is("pcr") { return once(&pcr, s.int()) }
            if key.is("digests") { return once(&digests, s.array(digest)) }
            if key.is("content_type") { return once(&contentType, s.string()) }
            if key.is("content") { return once(&content, self.content(&s)) }
            return false
        }
        guard read, let recnum, let pcr, let digests, let contentType, let content,
              // The only public initializer computes the digests; a record is rebuilt from one and then overwritten.
              var record = try? MeasurementRecord(recnum: recnum, pcr: pcr, content: content, banks: [])
        else { return nil }
        record.digests = digests
        record.contentType = contentType
        return record
    }

    static func digest(_ s: inout JSONByteScanner) -> MeasurementRecord.Digest? {
        var hashAlg: String?, digest: String?
        let read = s.object { s, key in
            if key.is("hashAlg") { return once(&hashAlg, s.string()) }
            if key.is("digest") { return once(&digest, s.string()) }
            return false
        }
        guard read, let hashAlg, let digest else { return nil }
        return MeasurementRecord.Digest(hashAlg: hashAlg, digest: digest)
    }

    static func content(_ s: inout JSONByteScanner) -> MeasurementRecord.Content? {
        var source: String?, name: String?, instance: String?, measurement: String?, value: String?, detail: String?
        let read = s.object { s, key in
            if key.is("source") { return once(&source, s.string()) }
            if key.is("name") { return once(&name, s.string()) }
            if key.is("instance") { return once(&instance, s.string()) }
            if key.is("measurement") { return once(&measurement, s.string()) }
            if key.is("value") { return once(&value, s.string()) }
            if key.is("detail") { return once(&detail, s.string()) }
            return false
        }
        guard read, let source, let name, let measurement, let detail else { return nil }
        return MeasurementRecord.Content(source: source, name: name, instance: instance, measurement: measurement,
                                         value: value, detail: detail)
    }
}
