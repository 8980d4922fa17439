package import ArgumentParser
import Foundation
import RegionProtocol
import RegionTCB

/// `smig-attest evacuations`: every evacuation the RC-TCB began, with the verdict that caused it (kept as it was
/// when the evacuation began, whatever verdicts followed) and how it ended.
package struct EvacuationsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "evacuations",
        abstract: "Show the RC-TCB's evacuations: host, the verdict that caused each, when it began and how it ended.")

    @OptionGroup var admin: AdminOptions
    @OptionGroup var output: OutputOptions

    package init() {}

    package func run() async throws {
        try await Output.reportingAsync {
            let records = try await admin.call(OperatorRoutes.evacuations)
            if output.json { Output.json(records) } else {
                Output.line(records.isEmpty ? "no evacuations" : records.map(Self.render).joined(separator: "\n"))
            }
        }
    }

    static func render(_ r: EvacuationRecord) -> String {
        let end = r.endedAt.map { "ended \($0): \(r.outcome ?? "-")" } ?? "open"
        return "\(r.id)  \(r.host)  cause: \(r.causeState) \(r.causeCode ?? "-")  began \(r.startedAt)  \(end)  \(r.causeDetail ?? "")"
    }
}
