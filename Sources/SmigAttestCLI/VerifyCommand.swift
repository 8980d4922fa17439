public import ArgumentParser
import Attestation
import Foundation
import Policy
import TPMWire

/// `smig-attest verify`.
public struct VerifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a quote: an evidence bundle, or tpm2-tools' files. Exit 0 valid, 1 rejected, 3 rebooted, 4 untrusted.",
        discussion: """
        Checks the AK is a restricted signing key, the signature over the exact attest bytes with the AK's scheme, \
        magic, type, nonce, banks, PCR selection, the PCR digest against the claimed values, clock safe, and — with \
        --previous — that resetCount/restartCount/clock did not go back. A TPM reset since --previous is reported \
        as 'rebooted' (exit 3), not as a pass. Each failure prints its code (e.g. quote.nonce-mismatch) and a reason.

        Bundle:      smig-attest verify bundle.json --nonce HEX --pcrs sha256:0-7,15
        tpm2-tools:  smig-attest verify --ak-public ak.pub --message q.msg --signature q.sig --pcr-file q.pcrs --nonce HEX
        Without --nonce the bundle's own nonce is used: that checks consistency, not freshness.
        """)

    @Argument(help: "An evidence bundle (JSON) written by 'smig-attest quote'.") public var bundle: String?
    @Option(help: ArgumentHelp("The nonce the verifier issued, hex.", valueName: "hex")) public var nonce: String?
    @Option(help: "The PCR selection the verifier asked for (default: the bundle's or PCR file's).") public var pcrs: String?
    @Option(help: ArgumentHelp("JSON clock observation from an earlier verification ({clock, resetCount, restartCount}).", valueName: "file"))
    public var previous: String?
    @Option(help: ArgumentHelp("tpm2-tools: the AK's TPM2B_PUBLIC (tpm2_createak -u).", valueName: "file")) public var akPublic: String?
    @Option(help: ArgumentHelp("tpm2-tools: the attest message (tpm2_quote -m).", valueName: "file")) public var message: String?
    @Option(help: ArgumentHelp("tpm2-tools: the TPMT_SIGNATURE (tpm2_quote -s).", valueName: "file")) public var signature: String?
    @Option(help: ArgumentHelp("tpm2-tools: the PCR file (tpm2_quote -o, serialized format).", valueName: "file")) public var pcrFile: String?
    @Option(help: ArgumentHelp("Golden values (YAML): also evaluate the proven PCRs and the bundle's measurement log; exit 4 if untrusted.", valueName: "file"))
    public var golden: String?
    @OptionGroup public var output: OutputOptions

    public init() {}

    public func validate() throws {
        if golden != nil, bundle == nil { throw ValidationError("--golden needs an evidence bundle (it carries the measurement log)") }
        let toolFiles = [akPublic, message, signature, pcrFile].compactMap { $0 }
        if bundle != nil {
            guard toolFiles.isEmpty else { throw ValidationError("give a bundle or tpm2-tools files, not both") }
        } else {
            guard toolFiles.count == 4 else { throw ValidationError("give a bundle, or all of --ak-public, --message, --signature and --pcr-file") }
            guard nonce != nil else { throw ValidationError("--nonce is required with tpm2-tools files") }
        }
        if let nonce { _ = try parseHex(nonce, "--nonce") }
        if let pcrs { _ = try parseSelection(pcrs) }
    }

    struct Report: Encodable {
        var result: String
        var code: String?
        var reason: String?
        var akName: String?
        var pcrSelection: String?
        var clock: ClockObservation?
        var continuity: String?
        var nonceChecked: Bool
        var evaluation: Evaluation?
    }

    struct Evaluation: Encodable {
        var golden: String
        var trusted: Bool
        var recordsChecked: Int
        var reasons: [String]
    }

    public func run() throws {
        var report = Report(result: "rejected", nonceChecked: nonce != nil)
        let verdict: QuoteVerdict
        var records: [MeasurementRecord] = []
        do {
            verdict = try evaluate(&report, records: &records)
            if let golden, let q = verdict.verified {
                let values: GoldenValues
                do { values = try GoldenValues(contentsOfFile: golden) } catch {
                    throw CommandFailure("\(error)", exitCode: 2)
                }
                let v = Evaluator.evaluate(.init(quoted: PCRBanks(q), records: records, golden: values))
                report.evaluation = Evaluation(golden: values.name, trusted: v.trusted, recordsChecked: v.recordsChecked,
                                               reasons: v.reasons.map(\.description))
            }
        } catch let e as CommandFailure {
            Output.error(e.message)
            throw ExitCode(e.exitCode)
        }
        switch verdict {
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
        if output.json {
            Output.json(report)
        } else {
            switch report.result {
            case "valid": Output.line("valid: quote of \(report.pcrSelection ?? "") by AK \(report.akName ?? "")" + (nonce == nil ? " (nonce taken from the bundle: freshness not checked)" : ""))
            case "rebooted": Output.line("rebooted: the quote is genuine but \(report.reason ?? "")")
            default: Output.line("rejected: \(report.reason ?? "")")
            }
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

    func evaluate(_ report: inout Report, records: inout [MeasurementRecord]) throws -> QuoteVerdict {
        let expectedNonce = try nonce.map { try parseHex($0, "--nonce") }
        var expectedSelection = try pcrs.map(parseSelection)
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
            report.pcrSelection = expectedSelection?.description ?? evidence.pcrSelection
            return evidence.verify(nonce: expectedNonce, selection: expectedSelection, previous: previousClock)
        }
        let pcrFile: TPM2ToolsPCRFile
        let key: AttestationKey
        do {
            pcrFile = try TPM2ToolsPCRFile(bytes: try readFile(self.pcrFile!))
            key = try AttestationKey(tpm2bPublic: try readFile(akPublic!))
        } catch let e as AttestationError {
            return .rejected(e)
        }
        report.akName = Hex.encode(key.name)
        if expectedSelection == nil { expectedSelection = pcrFile.selection }
        guard pcrFile.selection.selectsSame(as: expectedSelection!) else {
            let banks = { (l: PCRSelectionList) in l.selections.filter { !$0.pcrs.isEmpty }.map(\.hash) }
            let code: AttestationError.Code = banks(pcrFile.selection) == banks(expectedSelection!) ? .selectionMismatch : .bankMismatch
            return .rejected(AttestationError(code, "the PCR file holds \(pcrFile.selection), expected \(expectedSelection!)"))
        }
        report.pcrSelection = expectedSelection!.description
        return QuoteVerifier.verify(
            attest: try readFile(message!), signature: try readFile(signature!), key: key, pcrValues: pcrFile.values,
            expected: QuoteExpectation(nonce: expectedNonce!, selection: expectedSelection!, previous: previousClock))
    }
}
