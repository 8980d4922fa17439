package import Attestation
package import Foundation

/// The RC-TCB's answer to "whom do I measure?": the ring neighbour and a nonce issued for exactly this
/// (reporter, target) pair, usable once.
package struct RingAssignment: Codable, Hashable, Sendable {
    /// nil: measure nobody now (the reporter is not trusted, or the ring is too small).
    package var target: String?
    package var address: String?
    package var port: Int?
    /// Hex.
    package var nonce: String?
    /// tpm2-tools notation.
    package var pcrSelection: String?
    package var validUntil: Date?

    package init(target: String? = nil, address: String? = nil, port: Int? = nil, nonce: String? = nil, pcrSelection: String? = nil, validUntil: Date? = nil) {
        self.target = target
        self.address = address
        self.port = port
        self.nonce = nonce
        self.pcrSelection = pcrSelection
        self.validUntil = validUntil
    }
}

/// A challenge sent to an agent's quote endpoint.
package struct QuoteChallenge: Codable, Hashable, Sendable {
    /// Hex.
    package var nonce: String
    package var pcrSelection: String

    package init(nonce: String, pcrSelection: String) {
        self.nonce = nonce
        self.pcrSelection = pcrSelection
    }
}

/// An adjacent host's report to the RC-TCB, with the evidence attached (or "no answer within T").
package struct AIMReport: Codable, Hashable, Sendable {
    package enum Outcome: String, Codable, Sendable {
        case evidence
        case noAnswer = "no-answer"
    }

    package var target: String
    /// The nonce the RC-TCB issued for this pair, hex.
    package var nonce: String
    package var outcome: Outcome
    package var evidence: EvidenceBundle?
    /// The reporter's own verdict (informational: the RC-TCB re-verifies).
    package var reporterVerdict: String?
    package var detail: String?

    package init(target: String, nonce: String, outcome: Outcome, evidence: EvidenceBundle? = nil, reporterVerdict: String? = nil, detail: String? = nil) {
        self.target = target
        self.nonce = nonce
        self.outcome = outcome
        self.evidence = evidence
        self.reporterVerdict = reporterVerdict
        self.detail = detail
    }
}

/// What the RC-TCB concluded from a report.
package struct ReportResult: Codable, Hashable, Sendable {
    package var target: String
    package var state: String
    package var code: String?
    package var detail: String?
    /// The reporter's next duty with a nonce already issued for it, so the next round needs no request for its
    /// assignment (used while `validUntil` is ahead; nil when the reporter has no duty now).
    package var next: RingAssignment?

    package init(target: String, state: String, code: String? = nil, detail: String? = nil, next: RingAssignment? = nil) {
        self.target = target
        self.state = state
        self.code = code
        self.detail = detail
        self.next = next
    }
}

/// An agent's push: its measurements changed (the PCR was extended). The mutual-TLS client certificate is what
/// authenticates it; the RC-TCB answers by challenging the host at once.
package struct ChangeNotice: Codable, Hashable, Sendable {
    package var changed: [String]
    package var at: Date

    package init(changed: [String], at: Date) {
        self.changed = changed
        self.at = at
    }
}

/// Who measures whom.
package struct RingView: Codable, Hashable, Sendable {
    package struct Link: Codable, Hashable, Sendable {
        package var measurer: String
        package var target: String

        package init(measurer: String, target: String) {
            self.measurer = measurer
            self.target = target
        }
    }

    package var rotation: Int
    package var links: [Link]
    /// Hosts left out of the ring (untrusted, unreachable, not enrolled).
    package var excluded: [String]

    package init(rotation: Int, links: [Link], excluded: [String]) {
        self.rotation = rotation
        self.links = links
        self.excluded = excluded
    }
}
