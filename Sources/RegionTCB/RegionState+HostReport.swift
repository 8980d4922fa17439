import Attestation
import Foundation
import TPMWire

extension RegionState {
    /// What the RC-TCB knows about `host`: its row, its history, why it failed (down to the measurement or PCR,
    /// from the evidence kept) and the evidence kept, with the bundles when `bundles`. `host.unknown` for a host
    /// that is not in the IVT.
    package func hostReport(_ host: String, bundles: Bool) async throws(RegionError) -> HostReport {
        guard let row = try await store.row(host) else {
            throw RegionError(.hostUnknown, "host \(host.prefix(64)) is not in the IVT")
        }
        let kept = try await store.evidence(host: host, bundles: true)
        var failure: HostReport.Failure?
        if let code = row.failureCode {
            // The newest kept evidence whose verdict carried this code: the failure as it stands.
            let source = kept.first { $0.code == code }
            var measurements: [FailedMeasurement] = []
            if let source, let bundle = source.bundle, code.hasPrefix("golden."), let cfg = hosts[host] {
                measurements = judge.failingMeasurements(cfg, bundle)
            }
            failure = .init(code: code, detail: row.failureDetail, evidenceSeq: source?.seq, measurements: measurements)
        }
        return HostReport(row: row, history: try await store.recentEvents(host: host, limit: HostReport.historyLimit), failure: failure,
                          evidence: bundles ? kept : kept.map { var e = $0; e.bundle = nil; return e })
    }
}

extension EvidenceJudge {
    /// Which measurements or PCRs of a kept bundle the host's golden values do not allow. The bundle's quote is
    /// verified again (its signature by the AK it names, its PCR digest; its nonce was checked when it was judged)
    /// before anything in it is read; a bundle that no longer verifies explains nothing.
    func failingMeasurements(_ cfg: RegionState.HostConfig, _ bundle: EvidenceBundle) -> [FailedMeasurement] {
        guard let golden = cfg.golden, let akBytes = Data(base64Encoded: bundle.akPublic),
              let key = try? AttestationKey(tpm2bPublic: [UInt8](akBytes)) else { return [] }
        // Any boot log that replays is read; none is needed (the reboot is judged elsewhere).
        let rule = Appraisal.BootLogRule.whenAwaited(awaiting: true, rebootAccepted: true, optional: true, missingHint: "")
        let appraisal = Appraisal(pin: .publicArea(key), freshness: .notChecked, selection: selection, checkClaims: false,
                                  golden: golden, bootLogRule: rule).appraise(bundle)
        guard appraisal.quote.verified != nil else { return [] }
        return appraisal.failingMeasurements.map { r in
            FailedMeasurement(kind: r.kind.rawValue, source: r.source, measurement: r.measurement, pcr: r.pcr, bank: r.bank?.name,
                              actual: r.actual, record: r.record, detail: r.detail)
        }
    }
}
