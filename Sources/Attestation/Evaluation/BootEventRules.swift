public import Policy
import TPMWire

/// Golden boot-event rules (``GoldenBootEvent``) applied to a boot event log.
public enum BootEventRules {
    /// The log's events a rule selects: extending events in its PCR, of its type, whose data description
    /// contains its text (case-insensitive).
    public static func events(_ log: BootEventLog, matching rule: GoldenBootEvent) -> [BootEventLog.Event] {
        log.events.filter { event in
            event.extends && event.pcrIndex == rule.pcr && (rule.eventType.map { event.eventType == $0 } ?? true)
                && (rule.descriptionContains.map { event.dataDescription.lowercased().contains($0) } ?? true)
        }
    }

    /// One reason per violated rule or event: a required rule no event matches, an event whose digest the rule
    /// does not allow, a rule whose bank the log does not record.
    public static func evaluate(_ rules: [GoldenBootEvent], log: BootEventLog?) -> [Verdict.Reason] {
        var reasons: [Verdict.Reason] = []
        for rule in rules {
            guard let log else {
                if rule.required {
                    reasons.append(.init(kind: .requiredMissing, source: "boot-log", measurement: rule.label, pcr: rule.pcr,
                                         detail: "the golden values pin boot events but there is no boot log"))
                }
                continue
            }
            let matching = events(log, matching: rule)
            if matching.isEmpty {
                if rule.required {
                    reasons.append(.init(kind: .requiredMissing, source: "boot-log", measurement: rule.label, pcr: rule.pcr,
                                         bank: rule.bank, detail: "no event of the boot log matches"))
                }
                continue
            }
            let algorithm = rule.bank
            for event in matching {
                guard let digest = event.digest(algorithm) else {
                    reasons.append(.init(kind: .digestNotAllowed, source: "boot-log", measurement: rule.label, pcr: rule.pcr,
                                         bank: rule.bank, record: event.index,
                                         detail: "the boot log has no \(rule.bank.name) bank"))
                    break
                }
                if !rule.digests.contains(digest) {
                    reasons.append(.init(kind: .digestNotAllowed, source: "boot-log", measurement: rule.label, pcr: rule.pcr,
                                         bank: rule.bank, actual: Hex.encode(digest), record: event.index,
                                         detail: "event \(event.index) (\(event.eventType), '\(event.dataDescription)') has digest \(Hex.encode(digest)), not allowed"))
                }
            }
        }
        return reasons
    }
}
