public import Policy
public import TPMWire

extension AttestationError.Code {
    /// A quote shows the TPM was reset since the last one: the quote is genuine, but earlier trust does not carry over.
    public static let rebooted = Self(rawValue: "quote.rebooted")
    /// A rebooted host's evidence carries no boot log, and the appraisal needs one.
    public static let bootLogMissing = Self(rawValue: "reboot.boot-log-missing")
}

/// One appraisal of attestation evidence (RFC 9334's word for what a verifier does): the quote against a trusted AK
/// and the nonce the verifier issued, the bundle's claims, the TCG boot event log and the golden values. Pure (no
/// I/O): `smig-attest verify` and the RC-TCB's `EvidenceJudge` both appraise through it and read the typed result.
public struct Appraisal: Sendable {
    /// When the TCG boot event log is checked against the verified quote.
    public enum BootLogRule: Sendable {
        /// Whenever one is given (`smig-attest verify`): it must replay, and the golden values see it once it parses.
        case whenPresent
        /// Only while the host awaits one after a reboot (the RC-TCB): it must replay, unless the operator accepted
        /// the reboot (`rebootAccepted`) or the host's policy lets a reset pass without a log (`optional`, when none
        /// is sent). `missingHint` ends the detail of `reboot.boot-log-missing`. The golden values see it only when
        /// it replays.
        case whenAwaited(awaiting: Bool, rebootAccepted: Bool, optional: Bool, missingHint: String)
    }

    /// The AK the verifier trusts; nil checks the bundle against its own AK only (proves nothing about origin).
    public var pin: AKPin?
    public var freshness: Freshness
    public var selection: PCRSelectionList?
    public var previous: ClockObservation?
    public var allowSHA1Signatures: Bool
    /// Check the bundle's claims (its host id against `enrolledHost`, its measurement log against the quoted PCRs).
    public var checkClaims: Bool
    public var enrolledHost: String?
    public var golden: GoldenValues?
    public var bootLogRule: BootLogRule

    public init(pin: AKPin?, freshness: Freshness, selection: PCRSelectionList?, previous: ClockObservation? = nil,
                allowSHA1Signatures: Bool = false, checkClaims: Bool = true, enrolledHost: String? = nil,
                golden: GoldenValues? = nil, bootLogRule: BootLogRule = .whenPresent) {
        self.pin = pin
        self.freshness = freshness
        self.selection = selection
        self.previous = previous
        self.allowSHA1Signatures = allowSHA1Signatures
        self.checkClaims = checkClaims
        self.enrolledHost = enrolledHost
        self.golden = golden
        self.bootLogRule = bootLogRule
    }

    /// What the appraisal found. A failing appraisal is a result, not an exception.
    public struct Result: Sendable {
        public enum Decision: String, Sendable {
            case trusted
            /// The TPM was reset or restarted since `previous` (and no boot log was awaited).
            case rebooted
            /// A verified quote of a state the golden values do not allow.
            case untrusted
            /// A verified quote older than `previous` (its clock, reset or restart count went back).
            case clockWentBack = "clock-went-back"
            /// A verified quote whose boot log does not replay (or is missing where one is needed).
            case bootLogRefused = "boot-log-refused"
            /// The evidence does not verify (signature, nonce, AK, PCR digest, claims, a measurement log that does
            /// not replay to the signed PCR): it proves nothing about the host.
            case refuted
        }

        public var verdict: Decision
        /// The code of the first failure (`quote.*`, `evidence.*`, `eventlog.*`, `golden.*`, `reboot.*`).
        public var code: String?
        public var detail: String?
        /// The quote verification's own outcome (the quote and the clock it continued from).
        public var quote: QuoteVerdict
        /// The boot log check, when one was made.
        public var bootLog: BootLogVerification?
        /// The golden-value evaluation, when there were golden values and a verified quote.
        public var evaluation: Attestation.Verdict?

        /// The measurements and PCRs the golden values do not allow.
        public var failingMeasurements: [Attestation.Verdict.Reason] { evaluation?.reasons ?? [] }
    }

    /// Verifies the bundle's quote (and, with `checkClaims`, its claims) and appraises the rest.
    public func appraise(_ bundle: EvidenceBundle) -> Result {
        let bootLog: Swift.Result<[UInt8], AttestationError>?
        do { bootLog = try bundle.bootLogBytes().map { .success($0) } } catch { bootLog = .failure(error) }
        return Self.conclude(verifyQuote(bundle), records: bundle.eventLog ?? [], bootLog: bootLog,
                             golden: golden, rule: bootLogRule)
    }

    /// The quote and the bundle's claims only.
    public func verifyQuote(_ bundle: EvidenceBundle) -> QuoteVerdict {
        guard let pin else {
            return bundle.verifySelfConsistencyOnly(freshness: freshness, selection: selection, previous: previous,
                                                    allowSHA1Signatures: allowSHA1Signatures)
        }
        let verdict = bundle.verify(pinnedAK: pin, freshness: freshness, selection: selection, previous: previous,
                                    allowSHA1Signatures: allowSHA1Signatures)
        // The log and the host id are claims too: valid only when they hold against the verified quote.
        if checkClaims, let q = verdict.verified, let e = bundle.claimsError(of: q, enrolledHost: enrolledHost) { return .rejected(e) }
        return verdict
    }

    /// Appraises a quote verification's outcome: the boot log by `rule`, then the measurement `records` and the
    /// boot log against `golden`. For evidence verified elsewhere (tpm2-tools files) as well as bundles.
    public static func conclude(_ quote: QuoteVerdict, records: [MeasurementRecord],
                                bootLog: Swift.Result<[UInt8], AttestationError>?,
                                golden: GoldenValues?, rule: BootLogRule) -> Result {
        var result = Result(verdict: .refuted, quote: quote)
        guard let q = quote.verified else {
            if let e = quote.error {
                let wentBack: Set<AttestationError.Code> = [.resetCountWentBack, .restartCountWentBack, .clockWentBack]
                (result.verdict, result.code, result.detail) = (wentBack.contains(e.code) ? .clockWentBack : .refuted, e.code.rawValue, e.reason)
            }
            return result
        }
        let (log, refusal) = checkBootLog(bootLog, of: q, rule: rule, into: &result)
        if let golden {
            result.evaluation = Evaluator.evaluate(.init(quoted: PCRBanks(q), records: records, bootLog: log, golden: golden))
        }
        if let refusal {
            (result.verdict, result.code, result.detail) = (.bootLogRefused, refusal.code, refusal.detail)
        } else if let v = result.evaluation, !v.trusted {
            let detail = v.reasons.prefix(3).map(\.description).joined(separator: "; ")
            // A measurement log that does not replay to the signed PCR was not signed by anyone: it proves nothing.
            if let invalid = v.reasons.first(where: { $0.kind == .logInvalid }) {
                (result.verdict, result.code, result.detail) = (.refuted, "golden.\(invalid.kind.rawValue)", detail)
            } else {
                (result.verdict, result.code, result.detail) = (.untrusted, v.reasons.first.map { "golden.\($0.kind.rawValue)" } ?? "golden.untrusted", detail)
            }
        } else if case .rebooted = quote, !rule.awaiting {
            (result.verdict, result.code, result.detail) = (.rebooted, AttestationError.Code.rebooted.rawValue,
                "TPM reset/restart since the last quote (resetCount \(q.clock.resetCount), restartCount \(q.clock.restartCount)); trusted again once its boot log replays")
        } else {
            result.verdict = .trusted
        }
        return result
    }

    /// The boot log the golden values may read, and why the log is refused (nil: it is not).
    static func checkBootLog(_ bootLog: Swift.Result<[UInt8], AttestationError>?, of q: VerifiedQuote, rule: BootLogRule,
                             into result: inout Result) -> (BootEventLog?, (code: String, detail: String)?) {
        switch rule {
        case .whenPresent:
            switch bootLog {
            case nil: return (nil, nil)
            case .failure(let e): return (nil, (e.code.rawValue, e.reason))
            case .success(let bytes):
                let check = BootLogVerification(bytes: bytes, against: PCRBanks(q))
                result.bootLog = check
                let refusal = check.matches ? nil : (code: check.code ?? EventLogError.Code.replayMismatch.rawValue, detail: check.summary)
                return (try? BootEventLog(bytes: bytes), refusal)
            }
        case .whenAwaited(let awaiting, let accepted, let optional, let hint):
            guard awaiting else { return (nil, nil) }
            let refusal: (code: String, detail: String)
            switch bootLog {
            case nil:
                refusal = (AttestationError.Code.bootLogMissing.rawValue,
                           "the TPM was reset: the host stays rebooted until its evidence carries a boot log that replays to the quoted boot PCRs, or \(hint)")
                if optional { return (nil, nil) }
            case .failure(let e): refusal = (e.code.rawValue, e.reason)
            case .success(let bytes):
                let check = BootLogVerification(bytes: bytes, against: PCRBanks(q))
                result.bootLog = check
                if check.matches, let log = try? BootEventLog(bytes: bytes) { return (log, nil) }
                refusal = (check.code ?? EventLogError.Code.replayMismatch.rawValue, check.summary)
            }
            return (nil, accepted ? nil : refusal)
        }
    }
}

extension Appraisal.BootLogRule {
    var awaiting: Bool {
        if case .whenAwaited(let awaiting, _, _, _) = self { return awaiting }
        return false
    }
}
