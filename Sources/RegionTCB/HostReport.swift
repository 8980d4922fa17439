extension RegionError.Code {
    /// `host show` (and the other routes about one host) for a host id that is not in the IVT.
    package static let hostUnknown = Self(rawValue: "host.unknown")
}

/// One measurement or PCR that the host's golden values do not allow (a ``Verdict/Reason`` of kept evidence).
package struct FailedMeasurement: Sendable, Hashable, Codable {
    /// `digest-not-allowed`, `unknown-measurement`, `required-missing`, `pcr-mismatch`, `log-invalid`.
    package var kind: String
    package var source: String?
    package var measurement: String?
    package var pcr: Int?
    package var bank: String?
    package var actual: String?
    /// The record number in the measurement log.
    package var record: Int?
    package var detail: String
}

/// Everything the RC-TCB knows about one host (`GET /v1/hosts/HOST`, `smig-attest host show`).
package struct HostReport: Sendable, Codable {
    package var row: IVTRow
    /// The host's audit trail (state changes, enrolments, revocations, refusals), oldest first: its newest
    /// ``HostReport/historyLimit`` events.
    package var history: [IVTEvent]
    /// Why the host is not trusted, when its row carries a failure code.
    package var failure: Failure?
    /// The evidence kept for the host (``EvidenceRetention``), newest first; bundles only when asked for.
    package var evidence: [KeptEvidence]

    package static let historyLimit = 200

    package struct Failure: Sendable, Hashable, Codable {
        package var code: String
        package var detail: String?
        /// The kept evidence the failure was found in (its `seq`), when it was kept.
        package var evidenceSeq: Int64?
        /// Which measurements or PCRs failed, from that evidence re-read against the host's golden values as they
        /// are now (empty when the failure is not about golden values: a quote that did not verify, a boot log).
        package var measurements: [FailedMeasurement]
    }
}
