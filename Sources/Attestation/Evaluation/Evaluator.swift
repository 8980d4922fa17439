public import TPMWire
public import Policy

/// Turns verified evidence into a ``Verdict``.
///
/// The caller has already verified the quote's signature, nonce and PCR digest; `quoted` holds the PCR
/// values that quote covers. Nothing here throws: every way evidence can fail becomes a reason.
public enum Evaluator {
    public struct Input: Sendable {
        /// The verified quoted PCR values.
        public var quoted: PCRBanks
        /// The runtime measurement log (every extend since boot).
        public var records: [MeasurementRecord]
        /// The boot event log, if the host has measured boot.
        public var bootLog: BootEventLog?
        public var golden: GoldenValues
        /// The bank runtime measurements are extended into.
        public var runtimeBank: TPMAlgorithm
        /// PCRs that hold runtime measurements: replay must reproduce them even if the log is empty.
        public var runtimePCRs: Set<Int>
        /// PCRs covered by the boot log.
        public var bootPCRs: ClosedRange<Int>

        public init(quoted: PCRBanks, records: [MeasurementRecord], bootLog: BootEventLog? = nil, golden: GoldenValues,
                    runtimeBank: TPMAlgorithm = .sha256, runtimePCRs: Set<Int> = [15], bootPCRs: ClosedRange<Int> = 0...9) {
            self.quoted = quoted
            self.records = records
            self.bootLog = bootLog
            self.golden = golden
            self.runtimeBank = runtimeBank
            self.runtimePCRs = runtimePCRs
            self.bootPCRs = bootPCRs
        }
    }

    public static func evaluate(_ input: Input) -> Verdict {
        var reasons: [Verdict.Reason] = []

        // 1. The runtime log must replay to the quoted runtime PCRs.
        let quotedRuntime = input.quoted.values[input.runtimeBank] ?? [:]
        let pcrs = input.runtimePCRs.union(input.records.map(\.pcr))
        do {
            try MeasurementReplay.check(input.records, against: quotedRuntime, bank: input.runtimeBank, pcrs: pcrs)
            for pcr in pcrs.sorted() where quotedRuntime[pcr] == nil {
                reasons.append(.init(kind: .pcrMismatch, pcr: pcr, bank: input.runtimeBank,
                                     detail: "PCR \(pcr) holds runtime measurements but the quote does not cover it"))
            }
        } catch {
            reasons.append(.init(kind: .logInvalid, pcr: error.pcr, bank: input.runtimeBank, record: error.record,
                                 logErrorCode: error.code.rawValue, detail: error.reason))
        }

        // 2. Every record (not only the latest per name): a bad state stays visible until reboot.
        var reported: Set<String> = []
        var measuredNames: Set<String> = []
        for record in input.records {
            let content = record.content
            measuredNames.insert(content.name)
            guard let entry = input.golden.entry(for: content.name) else {
                if reported.insert("unknown|\(content.key)").inserted {
                    reasons.append(.init(kind: .unknownMeasurement, source: content.source, measurement: content.key,
                                         actual: content.value ?? content.measurement, record: record.recnum,
                                         detail: "no golden entry for '\(content.name)'"))
                }
                continue
            }
            let digest = record.measurementDigest ?? []
            if !entry.allows(sha256: digest, value: content.value) {
                let actual = content.value ?? content.measurement
                if reported.insert("digest|\(content.key)|\(content.measurement)").inserted {
                    reasons.append(.init(kind: .digestNotAllowed, source: content.source, measurement: content.key,
                                         actual: actual, record: record.recnum,
                                         detail: "\(content.value == nil ? "digest" : "value") \(actual) is not allowed by '\(entry.name)' (\(content.detail))"))
                }
            }
        }
        for name in input.golden.requiredNames where !measuredNames.contains(name) {
            reasons.append(.init(kind: .requiredMissing, measurement: name,
                                 detail: "required by golden values '\(input.golden.name)' but never measured"))
        }

        // 3. Boot log replay against the quoted boot PCRs.
        if let bootLog = input.bootLog {
            for mismatch in bootLog.mismatches(against: input.quoted, pcrs: input.bootPCRs) {
                reasons.append(.init(kind: .pcrMismatch, source: "boot-log", pcr: mismatch.pcr, bank: mismatch.bank,
                                     actual: Hex.encode(mismatch.quoted),
                                     detail: "the boot log replays to \(Hex.encode(mismatch.expected))"))
            }
        }

        // 4. Golden boot events.
        reasons += BootEventRules.evaluate(input.golden.bootEvents, log: input.bootLog)

        // 5. Golden PCR values.
        for bank in input.golden.pcrs.keys.sorted() {
            for (pcr, allowed) in (input.golden.pcrs[bank] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let value = input.quoted[bank, pcr] else {
                    reasons.append(.init(kind: .pcrMismatch, pcr: pcr, bank: bank,
                                         detail: "the golden values constrain PCR \(pcr) but the quote does not cover it"))
                    continue
                }
                if !allowed.contains(value) {
                    reasons.append(.init(kind: .pcrMismatch, pcr: pcr, bank: bank, actual: Hex.encode(value),
                                         detail: "value \(Hex.encode(value)) is not allowed"))
                }
            }
        }
        return Verdict(reasons: reasons, recordsChecked: input.records.count, goldenName: input.golden.name)
    }
}
