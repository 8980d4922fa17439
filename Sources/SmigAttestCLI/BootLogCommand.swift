package import ArgumentParser
import Attestation
import Policy
import TPMWire

/// `smig-attest bootlog …`: read a TCG boot event log file.
package struct BootLogCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bootlog",
        abstract: "Show a TCG boot event log (binary_bios_measurements) or replay it to PCR values.",
        discussion: """
        Reads TCG 1.2 (SHA-1) and crypto-agile logs with any set of banks. Replay covers PCRs 0–23 from their \
        reset values (zeros; all ones for 17–22; PCR 0 from the StartupLocality event if the log has one). \
        To check a log against a quote: smig-attest verify … --boot-log FILE.
        """,
        subcommands: [BootLogShow.self, BootLogReplay.self]
    )

    package init() {}
}

func readBootLog(_ path: String) throws -> BootEventLog {
    let bytes = try readFile(path)
    do { return try BootEventLog(bytes: bytes) } catch {
        throw CommandFailure("\(path): \(error)", exitCode: 2)
    }
}

/// `smig-attest bootlog show FILE`.
package struct BootLogShow: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "List the events of a boot log (--json: TCG Canonical Event Log records).")

    @Argument(help: "The binary boot event log.") package var file: String
    @OptionGroup package var output: OutputOptions

    package init() {}

    struct Record: Encodable {
        struct Digest: Encodable {
            var hashAlg: String
            var digest: String
        }

        struct Content: Encodable {
            var event_type: String
            var event_type_value: UInt32
            var event_data: String
            var description: String
        }

        var recnum: Int
        var pcr: Int
        var digests: [Digest]
        var content_type = "pcclient_std"
        var content: Content
        var offset: Int
    }

    package func run() throws {
        try reportingErrors {
            let log = try readBootLog(file)
            if output.json {
                Output.json(log.events.map { event in
                    Record(recnum: event.index, pcr: event.pcrIndex,
                           digests: event.digests.map { .init(hashAlg: $0.algorithm.name, digest: Hex.encode($0.bytes)) },
                           content: .init(event_type: event.eventType.description, event_type_value: event.eventType.rawValue,
                                          event_data: Hex.encode(event.eventData), description: event.dataDescription),
                           offset: event.offset)
                })
                return
            }
            let banks = log.algorithms.map { "\($0.algorithm.name)" }.joined(separator: ", ")
            var head = "\(file): \(log.format.rawValue) log, \(log.events.count) events, banks \(banks)"
            if let locality = log.startupLocality { head += ", startup locality \(locality)" }
            if log.paddingBytes > 0 { head += ", \(log.paddingBytes) bytes of zero padding" }
            Output.line(head)
            let shown = log.algorithms.first { $0.algorithm == .sha256 }?.algorithm
                ?? log.algorithms[0].algorithm
            let rows = log.events.map { event -> [String] in
                let digest = event.digest(shown).map { Hex.encode($0) } ?? ""
                var text = event.dataDescription
                if text.count > 80 { text = String(text.prefix(77)) + "..." }
                return [String(event.index), String(event.pcrIndex), event.eventType.description,
                        String(digest.prefix(16)), text]
            }
            Output.line(Output.table(["#", "PCR", "TYPE", "\(shown.name.uppercased()) (PREFIX)", "DATA"], rows))
        }
    }
}

/// `smig-attest bootlog replay FILE`.
package struct BootLogReplay: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a boot log to PCR values: every bank it records, PCRs 0–23 (or --pcrs).")

    @Argument(help: "The binary boot event log.") package var file: String
    @Option(help: ArgumentHelp("PCRs to print: a list (0-9,14) or a selection with banks (sha256:0-7+sha1:0).", valueName: "sel"))
    package var pcrs: String?
    @OptionGroup package var output: OutputOptions

    package init() {}

    /// bank name → PCRs; nil bank: every bank.
    func selection() throws -> [String?: [Int]] {
        guard let pcrs else { return [nil: Array(0...23)] }
        let list = try parseSelection(pcrs.contains(":") ? pcrs : "sha256:" + pcrs)
        var out: [String?: [Int]] = [:]
        for entry in list.selections {
            out[pcrs.contains(":") ? entry.hash.name : nil, default: []] += entry.pcrs.sorted()
        }
        return out
    }

    package func validate() throws { _ = try selection() }

    package func run() throws {
        try reportingErrors {
            let log = try readBootLog(file)
            let replayed = log.replay()
            let wanted = try selection()
            var json: [String: [String: String]] = [:]
            var text: [String] = []
            for bank in replayed.values.keys.sorted() {
                guard let pcrs = wanted[bank.name] ?? wanted[nil] else { continue }
                text.append("\(bank.name):")
                for pcr in pcrs {
                    guard let value = replayed[bank, pcr] else { continue }
                    json[bank.name, default: [:]][String(pcr)] = Hex.encode(value)
                    text.append("  \(pcr < 10 ? " " : "")\(pcr): 0x\(Hex.encode(value).uppercased())")
                }
            }
            for name in wanted.keys.compactMap({ $0 }) where !replayed.values.keys.contains(where: { $0.name == name }) {
                throw CommandFailure("\(file) has no \(name) bank (it records \(log.algorithms.map(\.algorithm.name).joined(separator: ", ")))",
                                     exitCode: 2)
            }
            let skipped = log.unreplayableAlgorithms.map(\.name)
            if output.json {
                Output.json(Replay(banks: json, unreplayable: skipped))
            } else {
                Output.line(text.joined(separator: "\n"))
                for name in skipped { Output.stderr("note: the \(name) bank cannot be replayed here (no implementation)\n") }
            }
        }
    }

    struct Replay: Encodable {
        var banks: [String: [String: String]]
        var unreplayable: [String]
    }
}
