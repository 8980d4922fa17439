public import Attestation
public import Foundation

/// The RC-TCB's answer to "whom do I measure?": the ring neighbour and a nonce issued for exactly this
/// (reporter, target) pair, usable once.
public struct RingAssignment: Codable, Hashable, Sendable {
    /// nil: measure nobody now (the reporter is not trusted, or the ring is too small).
    public var target: String?
    public var address: String?
    public var port: Int?
    /// Hex.
    public var nonce: String?
    /// tpm2-tools notation.
    public var pcrSelection: String?
    public var validUntil: Date?

    public init(target: String? = nil, address: String? = nil, port: Int? = nil, nonce: String? = nil, pcrSelection: String? = nil, validUntil: Date? = nil) {
        self.target = target
        self.address = address
        self.port = port
        self.nonce = nonce
        self.pcrSelection = pcrSelection
        self.validUntil = validUntil
    }
}

/// A challenge sent to an agent's quote endpoint.
public struct QuoteChallenge: Codable, Hashable, Sendable {
    /// Hex.
    public var nonce: String
    public var pcrSelection: String

    public init(nonce: String, pcrSelection: String) {
        self.nonce = nonce
        self.pcrSelection = pcrSelection
    }
}

/// An adjacent host's report to the RC-TCB, with the evidence attached (or "no answer within T").
public struct AIMReport: Codable, Hashable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case evidence
        case noAnswer = "no-answer"
    }

    public var target: String
    /// The nonce the RC-TCB issued for this pair, hex.
    public var nonce: String
    public var outcome: Outcome
    public var evidence: EvidenceBundle?
    /// The reporter's own verdict (informational: the RC-TCB re-verifies).
    public var reporterVerdict: String?
    public var detail: String?

    public init(target: String, nonce: String, outcome: Outcome, evidence: EvidenceBundle? = nil, reporterVerdict: String? = nil, detail: String? = nil) {
        self.target = target
        self.nonce = nonce
        self.outcome = outcome
        self.evidence = evidence
        self.reporterVerdict = reporterVerdict
        self.detail = detail
    }
}

/// What the RC-TCB concluded from a report.
public struct ReportResult: Codable, Hashable, Sendable {
    public var target: String
    public var state: String
    public var code: String?
    public var detail: String?
    /// The reporter's next duty with a nonce already issued for it, so the next round needs no request for its
    /// assignment (used while `validUntil` is ahead; nil when the reporter has no duty now).
    public var next: RingAssignment?

    public init(target: String, state: String, code: String? = nil, detail: String? = nil, next: RingAssignment? = nil) {
        self.target = target
        self.state = state
        self.code = code
        self.detail = detail
        self.next = next
    }
}

/// An agent's push: its measurements changed (the PCR was extended). The mutual-TLS client certificate is what
/// authenticates it; the RC-TCB answers by challenging the host at once.
public struct ChangeNotice: Codable, Hashable, Sendable {
    public var changed: [String]
    public var at: Date

    public init(changed: [String], at: Date) {
        self.changed = changed
        self.at = at
    }
}

/// Who measures whom.
public struct RingView: Codable, Hashable, Sendable {
    public struct Link: Codable, Hashable, Sendable {
        public var measurer: String
        public var target: String

        public init(measurer: String, target: String) {
            self.measurer = measurer
            self.target = target
        }
    }

    public var rotation: Int
    public var links: [Link]
    /// Hosts left out of the ring (untrusted, unreachable, not enrolled).
    public var excluded: [String]

    public init(rotation: Int, links: [Link], excluded: [String]) {
        self.rotation = rotation
        self.links = links
        self.excluded = excluded
    }
}
