package import ArgumentParser
import Attestation
import Foundation
import Policy
import TPMWire

/// `smig-attest verify`.
package struct VerifyCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a quote: an evidence bundle, or tpm2-tools' files. Exit 0 valid, 1 rejected, 3 rebooted, 4 untrusted.",
        discussion: """
        A quote counts only when it is checked against an AK the verifier already trusts and a nonce the \
        verifier issued itself. Pin the AK with --ak-public FILE (its TPM2B_PUBLIC, e.g. tpm2_createak -u, or a \
        SubjectPublicKeyInfo PEM/DER as tpm2_checkquote takes — then the TPM attributes are reported as not \
        checked), --ak-name HEX (the Name; the bundle's TPM2B_PUBLIC must hash to it), or --enrolled HOST (the AK \
        recorded at enrolment in the RC-TCB's database, --rctcb-dir). Give --nonce (at least 16 bytes, hex).
        Without a pin the result is quote.ak-not-pinned; without a nonce quote.nonce-not-given — unless you \
        ask by name for a check that proves nothing about origin or freshness: --insecure-self-consistency-only \
        (trusts the bundle's own AK), --insecure-no-freshness (trusts the quote's own nonce: the bundle's, or the \
        tpm2-tools message's extraData) and --insecure-short-nonce (accepts a --nonce shorter than 16 bytes, even \
        empty, as cloud vTPM test quotes and tpm2_quote examples use). Each waiver prints a WARNING on stderr and is \
        listed under "warnings" in --json output.

        Then: the AK is a restricted signing key, the signature over the exact attest bytes with the AK's \
        scheme, magic, type, nonce, banks, PCR selection, the PCR digest against the claimed values, clock \
        safe, and — with --previous — that resetCount/restartCount/clock did not go back. A TPM reset since \
        --previous is reported as 'rebooted' (exit 3), not as a pass. Each failure prints its code (e.g. \
        quote.nonce-mismatch) and a reason.

        Bundle:      smig-attest verify bundle.json --ak-public ak.pub --nonce HEX --pcrs sha256:0-7,15
        tpm2-tools:  smig-attest verify --ak-public ak.pub --message q.msg --signature q.sig --pcr-file q.pcrs --nonce HEX
        """)

    @Argument(help: "An evidence bundle (JSON) written by 'smig-attest quote'.") public var bundle: String?
    @Option(help: ArgumentHelp("The nonce the verifier issued, hex.", valueName: "hex")) public var nonce: String?
    @Option(help: "The PCR selection the verifier asked for (default: the bundle's or PCR file's).") public var pcrs: String?
    @Option(help: ArgumentHelp("JSON clock observation from an earlier verification ({clock, resetCount, restartCount}).", valueName: "file"))
    package var previous: String?
    @Option(help: ArgumentHelp("The trusted AK: TPM2B_PUBLIC (tpm2_createak -u, STATE_DIR/ak.pub) or SubjectPublicKeyInfo PEM/DER.", valueName: "file"))
    package var akPublic: String?
    @Option(help: ArgumentHelp("The trusted AK's Name (nameAlg ‖ digest), hex.", valueName: "hex")) public var akName: String?
    @Option(help: ArgumentHelp("Trust the AK enrolled for this host in the RC-TCB database (with --rctcb-dir).", valueName: "host"))
    package var enrolled: String?
    @Option(help: ArgumentHelp("The RC-TCB directory holding the IVT database (for --enrolled).", valueName: "dir"))
    package var rctcbDir: String?
    @Flag(help: "INSECURE: check the bundle only against its own AK. Proves nothing about which TPM made the quote.")
    package var insecureSelfConsistencyOnly = false
    @Flag(help: "INSECURE: check the quote only against its own nonce (the bundle's, or the tpm2-tools message's). Proves nothing about freshness.")
    package var insecureNoFreshness = false
    @Flag(help: "INSECURE: accept a --nonce shorter than 16 bytes (or empty). Such a quote proves little about freshness.")
    package var insecureShortNonce = false
    @Option(help: ArgumentHelp("tpm2-tools: the attest message (tpm2_quote -m).", valueName: "file")) public var message: String?
    @Option(help: ArgumentHelp("tpm2-tools: the TPMT_SIGNATURE (tpm2_quote -s).", valueName: "file")) public var signature: String?
    @Option(help: ArgumentHelp("tpm2-tools: the PCR file (tpm2_quote -o, serialized format).", valueName: "file")) public var pcrFile: String?
    @Option(help: ArgumentHelp("Golden values (YAML): also evaluate the proven PCRs and the bundle's measurement log; exit 4 if untrusted.", valueName: "file"))
    package var golden: String?
    @Option(help: ArgumentHelp("The host's TCG boot event log (binary): it must replay to the quoted PCRs (default: the bundle's, if any).", valueName: "file"))
    package var bootLog: String?
    @Flag(help: "Accept quotes signed over SHA-1 (RSASSA-SHA1, ECDSA-SHA1) for legacy fleets; refused as quote.weak-hash otherwise.")
    package var allowSHA1Signatures = false
    @OptionGroup package var output: OutputOptions

    package init() {}

    package func validate() throws {
        if golden != nil, bundle == nil { throw ValidationError("--golden needs an evidence bundle (it carries the measurement log)") }
        let toolFiles = [message, signature, pcrFile].compactMap { $0 }
        let pins = [akPublic, akName, enrolled].compactMap { $0 }
        guard pins.count <= 1 else { throw ValidationError("give one of --ak-public, --ak-name, --enrolled") }
        if insecureSelfConsistencyOnly, !pins.isEmpty { throw ValidationError("--insecure-self-consistency-only contradicts a pinned AK") }
        if enrolled != nil, rctcbDir == nil { throw ValidationError("--enrolled needs --rctcb-dir (the RC-TCB directory)") }
        if let akName { _ = try parseHex(akName, "--ak-name") }
        if bundle != nil {
            guard toolFiles.isEmpty else { throw ValidationError("give a bundle or tpm2-tools files (--message, --signature, --pcr-file), not both") }
        } else {
            guard toolFiles.count == 3, akPublic != nil else { throw ValidationError("give a bundle, or all of --ak-public, --message, --signature and --pcr-file") }
        }
        if nonce != nil, insecureNoFreshness { throw ValidationError("--insecure-no-freshness contradicts --nonce") }
        if nonce == nil, insecureShortNonce { throw ValidationError("--insecure-short-nonce needs --nonce (the short nonce you issued)") }
        if let nonce { _ = try parseHex(nonce, "--nonce") }
        if let pcrs { _ = try parseSelection(pcrs) }
    }

    struct Report: Encodable {
        var result: String
        var code: String?
        var reason: String?
        var akName: String?
        /// How the AK was trusted: public-area, name, subject-public-key-info, enrolled, or NOT-PINNED.
        var akPinnedBy: String
        var akAttributesChecked: Bool
        var pcrSelection: String?
        var clock: ClockObservation?
        var continuity: String?
        var nonceChecked: Bool
        var evaluation: Evaluation?
        var bootLog: BootLogVerification?
        /// What the named INSECURE waivers gave up (absent when none was used).
        var warnings: [String]?
    }

    /// What each INSECURE waiver given gives up, one sentence each: printed on stderr and listed in --json output.
    var waivers: [String] {
        var warnings: [String] = []
        if insecureSelfConsistencyOnly {
            warnings.append("--insecure-self-consistency-only: the AK is the bundle's own; this proves nothing about which TPM made the quote")
        }
        if insecureNoFreshness {
            warnings.append("--insecure-no-freshness: the nonce is the quote's own; this proves nothing about freshness (it may be a replay)")
        }
        if insecureShortNonce, let n = try? parseHex(nonce ?? "", "--nonce"), n.count < Freshness.minimumNonceBytes {
            warnings.append("--insecure-short-nonce: the nonce is \(n.count) byte(s), fewer than \(Freshness.minimumNonceBytes); it can be guessed or replayed, so this proves little about freshness")
        }
        return warnings
    }

    struct Evaluation: Encodable {
        var golden: String
        var trusted: Bool
        var recordsChecked: Int
        var reasons: [String]
    }

    package func run() throws {
        var report = Report(result: "rejected", akPinnedBy: "NOT-PINNED", akAttributesChecked: false, nonceChecked: nonce != nil)
        let warnings = waivers
        if !warnings.isEmpty { report.warnings = warnings }
        for w in warnings { Output.stderr("smig-attest: WARNING: INSECURE \(w)\n") }
        let verdict: QuoteVerdict
        var records: [MeasurementRecord] = []
        var bundleLog: [UInt8]?
        let appraisal: Appraisal.Result
        do {
            verdict = try evaluate(&report, records: &records, bootLog: &bundleLog)
            var values: GoldenValues?
            if let golden, verdict.verified != nil {
                do { values = try GoldenValues(contentsOfFile: golden) } catch {
                    throw CommandFailure("\(error)", exitCode: 2)
                }
            }
            let log = verdict.verified == nil ? nil : try bootLogBytes(bundleLog)
            appraisal = Appraisal.conclude(verdict, records: records, bootLog: log.map { .success($0) }, golden: values, rule: .whenPresent)
        } catch let e as CommandFailure {
            Output.error(e.message)
            throw ExitCode(e.exitCode)
        }
        report.bootLog = appraisal.bootLog
        if let v = appraisal.evaluation {
            report.evaluation = Evaluation(golden: v.goldenName, trusted: v.trusted, recordsChecked: v.recordsChecked,
                                           reasons: v.reasons.map(\.description))
        }
        switch verdict {
        case .valid(let q) where insecureSelfConsistencyOnly:
            // Consistent with its own key only: a forger passes this too, so it is never "valid".
            report.result = "self-consistent"
            report.clock = q.clock
            report.code = AttestationError.Code.akNotPinned.rawValue
            report.reason = "consistent with the bundle's own AK only; nothing proves which TPM made it"
        case .valid(let q):
            report.result = "valid"
            report.clock = q.clock
            report.continuity = q.continuity?.rawValue
        case .rebooted(let q, let previous):
            report.result = "rebooted"
            report.clock = q.clock
            report.continuity = q.continuity?.rawValue
            report.reason = "TPM \(q.continuity == .rebooted ? "reset" : "restart") since the previous quote (resetCount \(previous.resetCount) → \(q.clock.resetCount), restartCount \(previous.restartCount) → \(q.clock.restartCount))"
        case .rejected(let e):
            report.code = e.code.rawValue
            report.reason = e.description
        }
        if appraisal.verdict == .bootLogRefused, report.result != "rejected" {
            (report.result, report.code, report.reason) = ("rejected", appraisal.code, appraisal.detail)
        }
        if output.json {
            Output.json(report)
        } else {
            switch report.result {
            case "valid":
                Output.line("valid: quote of \(report.pcrSelection ?? "") by AK \(report.akName ?? "") (pinned by \(report.akPinnedBy))")
                if !warnings.isEmpty { Output.line("WARNING: verified under \(warnings.count) INSECURE waiver(s), see above") }
                if !report.akAttributesChecked { Output.line("note: the AK was pinned as a bare public key: its TPM attributes (restricted, fixedTPM) were not checked") }
            case "rebooted": Output.line("rebooted: the quote is genuine but \(report.reason ?? "")")
            case "self-consistent": Output.line("NOT VERIFIED (self-consistency only): \(report.reason ?? "")")
            default: Output.line("rejected: \(report.reason ?? "")")
            }
            if let b = report.bootLog, b.matches { Output.line("valid: \(b.summary)") }
            if let e = report.evaluation {
                Output.line(e.trusted
                    ? "trusted: \(e.recordsChecked) measurement record(s) replay to the quoted PCRs and match golden '\(e.golden)'"
                    : "UNTRUSTED against golden '\(e.golden)':")
                for r in e.reasons { Output.line("  - \(r)") }
            }
        }
        if report.result == "valid", let e = report.evaluation, !e.trusted { throw ExitCode(4) }
        switch report.result {
        case "valid": return
        case "rebooted": throw ExitCode(3)
        default: throw ExitCode(1)
        }
    }

    /// The boot log to check: --boot-log, else the bundle's.
    func bootLogBytes(_ fromBundle: [UInt8]?) throws -> [UInt8]? {
        if let bootLog { return try readFile(bootLog) }
        return fromBundle
    }

    /// The AK the user trusts, from --ak-public, --ak-name or --enrolled.
    func pinnedAK() throws -> (AKPin, String)? {
        if let akPublic {
            let bytes = try readFile(akPublic)
            // A TPM2B_PUBLIC that parses must also pass the AK checks: its refusal is the answer (a coded rejection).
            if let area = try? Public(wireBytes: bytes) { return (.publicArea(try AttestationKey(area)), "public-area") }
            do { return (.subjectPublicKeyInfo(try AttestationKey(subjectPublicKeyInfo: bytes)), "subject-public-key-info") } catch {
                throw CommandFailure("\(akPublic) is neither a TPM2B_PUBLIC attestation key nor a SubjectPublicKeyInfo (PEM/DER): \(error)", exitCode: 2)
            }
        }
        if let akName { return (.name(try parseHex(akName, "--ak-name")), "name") }
        if let enrolled, let rctcbDir {
            return (try EnrolledAK.lookup(host: enrolled, rctcbDirectory: rctcbDir), "enrolled:\(enrolled)")
        }
        return nil
    }

    func evaluate(_ report: inout Report, records: inout [MeasurementRecord], bootLog: inout [UInt8]?) throws -> QuoteVerdict {
        let freshness: Freshness
        if let nonce {
            do { freshness = try Freshness.issued(try parseHex(nonce, "--nonce"), allowingShort: insecureShortNonce) } catch let e as AttestationError {
                return .rejected(AttestationError(e.code, "\(e.reason); a quote made over a short nonce can be checked with --insecure-short-nonce"))
            }
        } else if insecureNoFreshness {
            freshness = .notChecked
        } else {
            return .rejected(AttestationError(.nonceNotGiven, "no --nonce: give the nonce you issued (or --insecure-no-freshness to check consistency only)"))
        }
        let pin: (AKPin, String)?
        do { pin = try pinnedAK() } catch let e as AttestationError { return .rejected(e) }
        if pin == nil, !insecureSelfConsistencyOnly {
            return .rejected(AttestationError(.akNotPinned, "no trusted AK: give --ak-public, --ak-name or --enrolled (or --insecure-self-consistency-only)"))
        }
        if let pin {
            report.akPinnedBy = pin.1
            report.akAttributesChecked = pin.0.attributesPinned
        } else {
            report.akPinnedBy = "NOT-PINNED (self-consistency only)"
            report.akAttributesChecked = true
        }
        let expectedSelection = try pcrs.map(parseSelection)
        var previousClock: ClockObservation?
        if let previous {
            do { previousClock = try ClockObservation.decodeStrictly(try readFile(previous)) } catch let e as CommandFailure {
                throw e
            } catch {
                throw CommandFailure("\(error) [\(previous)] (hint: give {\"clock\":…,\"resetCount\":…,\"restartCount\":…} or 'verify --json' output)", exitCode: 2)
            }
        }
        if let bundle {
            let evidence: EvidenceBundle
            do { evidence = try EvidenceBundle.decode(Data(try readFile(bundle))) } catch let e as AttestationError {
                return .rejected(e)
            }
            report.akName = evidence.akName
            records = evidence.eventLog ?? []
            do { bootLog = try evidence.bootLogBytes() } catch { return .rejected(error) }
            report.pcrSelection = expectedSelection?.description ?? evidence.pcrSelection
            return Appraisal(pin: pin?.0, freshness: freshness, selection: expectedSelection, previous: previousClock,
                             allowSHA1Signatures: allowSHA1Signatures, enrolledHost: enrolled).verifyQuote(evidence)
        }
        guard let pin else { return .rejected(AttestationError(.akNotPinned, "tpm2-tools files need --ak-public")) }
        let outcome = TPM2ToolsQuote.verify(
            message: try readFile(message!), signature: try readFile(signature!), pcrFile: try readFile(self.pcrFile!),
            pinnedAK: pin.0, freshness: freshness, selection: expectedSelection, previous: previousClock,
            allowSHA1Signatures: allowSHA1Signatures)
        report.akName = outcome.akName.isEmpty ? nil : Hex.encode(outcome.akName)
        report.pcrSelection = outcome.selection?.description
        return outcome.verdict
    }
}
