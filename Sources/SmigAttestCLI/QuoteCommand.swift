package import ArgumentParser
import Attestation
import Foundation
import Measurement
import StateFiles
import TPM
import TPMWire

/// `smig-attest quote`.
package struct QuoteCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "quote",
        abstract: "Quote PCRs over a nonce with the provisioned attestation key and write an evidence bundle.",
        discussion: """
        The bundle (JSON) holds the AK public area and Name, the nonce, the exact TPMS_ATTEST bytes as signed, the \
        TPMT_SIGNATURE, and the PCR values (read before and after the quote; retried if an extend fell between). \
        With --tpm2-tools PREFIX, PREFIX.msg, PREFIX.sig and PREFIX.pcrs are written too, in tpm2_quote's formats, \
        so that `tpm2_checkquote -u STATE_DIR/ak.pem -m PREFIX.msg -s PREFIX.sig -f PREFIX.pcrs -g sha256 -q NONCE` \
        checks the same quote. A measurement log that cannot be read does not stop the quote: the bundle then \
        carries no log and says why in 'eventLogUnusable' (see 'smig-attest measure --reset-log').
        """)

    @Option(help: ArgumentHelp("The verifier's challenge, hex, at most 64 bytes (default: 32 random bytes from the TPM).", valueName: "hex"))
    package var nonce: String?
    @Flag(help: "INSECURE: allow a nonce shorter than 16 bytes (such a quote cannot prove freshness).")
    package var insecureShortNonce = false
    @Option(help: "PCRs to quote, tpm2-tools notation.") package var pcrs: String = "sha256:0-7,15"
    @Option(help: ArgumentHelp("Write the evidence bundle here (default: standard output).", valueName: "file")) public var out: String?
    @Option(name: .customLong("tpm2-tools"), help: ArgumentHelp("Also write PREFIX.msg, PREFIX.sig and PREFIX.pcrs.", valueName: "prefix"))
    package var tpm2ToolsPrefix: String?
    @Option(help: "Host id recorded in the bundle (default: the host name).") public var hostId: String?
    @Option(help: ArgumentHelp("Measurement log to attach (default STATE_DIR/measurements.log when it exists; 'none' for no log).", valueName: "file"))
    package var eventLog: String?
    @OptionGroup package var tpm: TPMOptions
    @OptionGroup package var state: StateOptions
    @OptionGroup package var output: OutputOptions

    package init() {}

    package func validate() throws {
        _ = try parseSelection(pcrs)
        if let nonce {
            let n = try parseHex(nonce, "--nonce")
            guard n.count <= 64 else { throw ValidationError("--nonce is \(n.count) bytes; at most 64") }
            guard n.count >= Freshness.minimumNonceBytes || insecureShortNonce else {
                throw ValidationError("quote.nonce-too-short: --nonce is \(n.count) bytes; a challenge needs at least \(Freshness.minimumNonceBytes) (or --insecure-short-nonce)")
            }
        }
    }

    package func run() throws {
        try reportingErrors {
            let selection = try parseSelection(pcrs)
            let device = try tpm.open()
            let blob = try state.keyStore.load()
            let nonceBytes = try nonce.map { try parseHex($0, "--nonce") } ?? device.random(32)
            let (quote, values) = try device.withAttestationKey(blob) { ak in
                try device.quoteWithValues(with: ak, nonce: nonceBytes, selection: selection)
            }
            let akPublic = try blob.akPublic
            let logPath = MeasureCommand.logPath(eventLog, state: state)
            let attachLog = eventLog != "none" && (eventLog != nil || StateFiles.exists(logPath))
            let bundle = EvidenceBundle(
                quotedBy: hostId ?? ProcessInfo.processInfo.hostName, akPublic: blob.publicBytes, akName: try akPublic.name,
                nonce: nonceBytes, attest: quote.attest, signature: quote.signature, selection: selection,
                pcrValues: values.ordered, measurementLog: attachLog ? logPath : nil, agentTime: Date())
            if let unusable = bundle.eventLogUnusable {
                Output.error("warning: the measurement log is unusable, quoting without it: \(unusable) " +
                             "(hint: 'smig-attest measure --reset-log' starts a new log and keeps this one)")
            }
            if let prefix = tpm2ToolsPrefix {
                try writeFile(prefix + ".msg", quote.attest)
                try writeFile(prefix + ".sig", quote.signature)
                try writeFile(prefix + ".pcrs", TPM2ToolsPCRFile(selection: selection, values: values.ordered).bytes)
            }
            guard let out else {
                FileHandle.standardOutput.write(Data((try Output.natural(bundle.encoded(), pretty: true) + "\n").utf8))
                return
            }
            try writeFile(out, Data((try Output.natural(bundle.encoded(), pretty: true) + "\n").utf8))
            if output.json {
                Output.json(["bundle": out, "nonce": bundle.nonce, "akName": bundle.akName, "pcrSelection": bundle.pcrSelection])
            } else {
                Output.line("quote of \(bundle.pcrSelection) over nonce \(bundle.nonce) by AK \(bundle.akName) written to \(out)")
            }
        }
    }
}
