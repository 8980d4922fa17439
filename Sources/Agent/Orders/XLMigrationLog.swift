import DurationUnits
package import RegionProtocol

/// What `xl -vvv migrate` said, each line with the time it came (since xl started): xl reports no byte counts or
/// timings of its own, so the figures are read from its messages as they arrive.
///
/// - total time: xl's start to its last message (the agent's own clock around the process gives the order's total);
/// - downtime: from the message that the source domain is being suspended (the end of the live rounds) to the target's
///   acknowledgement that it holds the whole domain (paused). The time the destination then stays paused, until the
///   RC-TCB re-attested the target and ordered `resume`, comes on top and is the RC-TCB's to measure.
package struct XLMigrationLog: Sendable {
    package struct Line: Sendable, Hashable {
        package var at: Duration
        package var text: String
        package init(at: Duration, text: String) {
            self.at = at
            self.text = text
        }
    }

    package let lines: [Line]

    package init(_ lines: [Line]) { self.lines = lines }

    /// The first line saying the source domain is being suspended (libxl's PV suspend request, or xc's final round).
    package var suspended: Line? {
        lines.first { line in Self.suspendMarks.contains { line.text.lowercased().contains($0) } }
    }

    static let suspendMarks = ["suspend request", "domain has suspended", "suspending domain"]

    /// The line with which the sender learns the target holds the whole domain.
    package var acknowledged: Line? { lines.first { $0.text.contains("Target has acknowledged transfer") } }

    /// Whether xl reported success ("Migration successful").
    package var succeeded: Bool { lines.contains { $0.text.contains("Migration successful") } }

    /// xl's last non-empty message.
    package var lastMessage: String? { lines.last { !$0.text.isEmpty }?.text }

    /// What a failed migration says: xl's and libxl's error lines, the last three (xl's debug statistics follow them).
    package var failure: String? {
        let errors = lines.filter { $0.text.contains("error") || $0.text.hasPrefix("migration sender:") || $0.text.hasPrefix("Migration failed") }
        return errors.isEmpty ? nil : errors.suffix(3).map(\.text).joined(separator: " | ")
    }

    package var downtimeMs: UInt64? {
        guard let from = suspended, let to = acknowledged ?? lines.last(where: { $0.text.contains("successful") }), to.at >= from.at else { return nil }
        return UInt64((to.at - from.at).wholeMilliseconds)
    }

    /// Progress as orders report it (xl gives no byte counts).
    package func progress(status: String, totalTimeMs: UInt64? = nil) -> MigrationOrderStatus.Progress {
        MigrationOrderStatus.Progress(status: status, totalTimeMs: totalTimeMs, downtimeMs: status == "completed" ? downtimeMs : nil)
    }
}
