package import ArgumentParser
import Foundation
import Policy
import TPM
import TPMWire

/// `smig-attest pcr read|extend`.
package struct PCRCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "pcr",
        abstract: "Read and extend PCRs.",
        subcommands: [Read.self, Extend.self]
    )

    package init() {}

    /// `smig-attest pcr read [SELECTION]`.
    package struct Read: ParsableCommand {
        package static let configuration = CommandConfiguration(abstract: "Read PCR values (any banks and PCRs).")

        @Argument(help: "PCR selection in tpm2-tools notation, e.g. sha256:0-7,15 or sha1:0+sha256:all.")
        package var selection: String = "sha256:all"
        @OptionGroup package var tpm: TPMOptions
        @OptionGroup package var output: OutputOptions

        package init() {}

        package func validate() throws { _ = try parseSelection(selection) }

        package func run() throws {
            try reportingErrors {
                let sel = try parseSelection(selection)
                let values = try tpm.open().readPCRs(sel)
                var byBank: [String: [String: String]] = [:]
                for entry in sel.orderedPCRs {
                    byBank[entry.hash.name, default: [:]][String(entry.pcr)] = values.banks[entry.hash, entry.pcr].map(Hex.encode)
                }
                if output.json {
                    Output.json(["updateCounter": AnyEncodable(values.updateCounter), "pcrs": AnyEncodable(byBank)])
                    return
                }
                for s in sel.selections {
                    Output.line("\(s.hash.name):")
                    for pcr in s.pcrs { Output.line(String(format: "  %2d: ", pcr) + (byBank[s.hash.name]?[String(pcr)] ?? "")) }
                }
            }
        }
    }

    /// `smig-attest pcr extend PCR (--data TEXT | --digest BANK:HEX ...)`.
    package struct Extend: ParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Extend a PCR.",
            discussion: """
            With --data, the data's digest is extended into every bank the TPM has (as a measurement would be). \
            With --digest BANK:HEX (repeatable), the given digests are extended as they are. Runtime measurements \
            belong in PCRs 8-15: software cannot reset them (PCR 16 and 23 can be reset).
            """)

        @Argument(help: "PCR index (0-23).") public var pcr: Int
        @Option(help: "Data to measure; its digest per bank is extended.") package var data: String?
        @Option(help: ArgumentHelp("A digest to extend as is, BANK:HEX (repeatable).", valueName: "bank:hex")) public var digest: [String] = []
        @OptionGroup package var tpm: TPMOptions
        @OptionGroup package var output: OutputOptions

        package init() {}

        package func validate() throws {
            guard (0..<24).contains(pcr) else { throw ValidationError("PCR must be 0-23, not \(pcr)") }
            guard (data == nil) != digest.isEmpty else { throw ValidationError("give exactly one of --data or --digest") }
            _ = try parsedDigests()
        }

        func parsedDigests() throws -> [(TPMAlgorithm, [UInt8])] {
            try digest.map { item in
                let parts = item.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let alg = TPMAlgorithm(hashName: String(parts[0])) else {
                    throw ValidationError("--digest '\(item)': expected BANK:HEX with BANK sha1, sha256, sha384 or sha512")
                }
                let bytes = try parseHex(String(parts[1]), "--digest")
                guard bytes.count == alg.digestSize else { throw ValidationError("--digest '\(item)': a \(alg.name) digest is \(alg.digestSize ?? 0) bytes") }
                return (alg, bytes)
            }
        }

        package func run() throws {
            try reportingErrors {
                let device = try tpm.open()
                var digests = try parsedDigests()
                if let data {
                    let banks = try device.pcrBanks()
                    digests = try banks.map { ($0, try $0.hash(Array(data.utf8))) }
                }
                try device.extendPCR(pcr, digests: digests)
                let sel = PCRSelectionList(digests.map { PCRSelection(hash: $0.0, pcrs: [pcr]) })
                let after = try device.readPCRs(sel)
                var values: [String: String] = [:]
                for entry in sel.orderedPCRs { values[entry.hash.name] = after.banks[entry.hash, entry.pcr].map(Hex.encode) }
                if output.json { Output.json(["pcr": AnyEncodable(pcr), "values": AnyEncodable(values)]); return }
                for (bank, v) in values.sorted(by: { $0.key < $1.key }) { Output.line("\(bank):\(pcr) = \(v)") }
            }
        }
    }
}

func parseSelection(_ text: String) throws -> PCRSelectionList {
    do { return try PCRSelectionList(parsing: text) } catch { throw ValidationError(error.reason) }
}

/// Type erasure for mixed JSON dictionaries.
struct AnyEncodable: Encodable {
    let encodeTo: (any Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encodeTo = value.encode(to:) }
    func encode(to encoder: any Encoder) throws { try encodeTo(encoder) }
}
