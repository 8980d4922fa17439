package import Foundation
import GRDB

/// How one VM's move off an evacuated host ended: ``Evacuator/Outcome/result`` and the `outcome` of the audit
/// event that closes the VM's move (`evacuation.resumed`, `evacuation.handed-off`, `evacuation.no-target`,
/// `evacuation.target-refused`, `evacuation.migration-failed`, `evacuation.executor` when it failed).
package enum EvacuationOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// Migrated paused, the target re-attested, resumed there.
    case moved
    /// Moved by `evacuation.executor`; the target's agent reports it there.
    case handedOff = "handed-off"
    /// No trusted target: `evacuation.no-target` paused it, kept it running or shut it down at the source.
    case paused
    case keptRunning = "kept-running"
    case shutDown = "shut-down"
    /// The target failed its challenge before the move or its re-attestation after it: the VM stayed at the source.
    case refused
    /// The migration, the resume on the target or the executor failed: the VM stayed at the source.
    case failed
}

/// The typed fields of an evacuator's audit event, stored with the event in columns of their own: the VM the step is
/// about, the host it leaves, the host it goes to, and (on the step that closes a VM's move) how the move ended.
/// Readers (the response benchmark, the demo, an operator's script) match on these; the event's detail text is for
/// people and may change. Events written before these columns existed, and events about no VM, have none (nil).
package struct EvacuationFields: Sendable, Hashable, Codable {
    package var vm: String?
    package var source: String?
    package var target: String?
    /// The raw value of an ``EvacuationOutcome``, kept as text like the event's states: a reader of an older or
    /// newer RC-TCB still decodes the event (``evacuationOutcome`` reads nil for an outcome it does not know).
    package var outcome: String?

    package init(vm: String?, source: String? = nil, target: String? = nil, outcome: EvacuationOutcome? = nil) {
        (self.vm, self.source, self.target, self.outcome) = (vm, source, target, outcome?.rawValue)
    }

    /// The fields as a store's columns hold them (the outcome as stored text), nil when every column is empty: the
    /// event is not an evacuator's, or was written before the columns existed. Both stores read events through it.
    package static func stored(vm: String?, source: String?, target: String?, outcome: String?) -> EvacuationFields? {
        guard vm != nil || source != nil || target != nil || outcome != nil else { return nil }
        var fields = EvacuationFields(vm: vm, source: source, target: target)
        fields.outcome = outcome
        return fields
    }

    package var evacuationOutcome: EvacuationOutcome? { outcome.flatMap(EvacuationOutcome.init(rawValue:)) }

    /// The same fields with the move's outcome set.
    package func ended(_ outcome: EvacuationOutcome) -> EvacuationFields {
        var f = self
        f.outcome = outcome.rawValue
        return f
    }
}

extension IVTEvent {
    /// The evacuator's step this event records, nil for any other event.
    package var evacuationStep: Evacuator.Step? { Evacuator.Step(rawValue: kind) }
}

extension IVTStore {
    /// The event table's columns for ``EvacuationFields``; rows written before them read NULL (no fields).
    static func registerEvacuationFields(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8: evacuation fields") { db in
            try db.execute(sql: """
                ALTER TABLE event ADD COLUMN vm TEXT;
                ALTER TABLE event ADD COLUMN source TEXT;
                ALTER TABLE event ADD COLUMN target TEXT;
                ALTER TABLE event ADD COLUMN outcome TEXT;
                """)
        }
    }

    /// Records an evacuation step's audit event with its typed fields.
    package func audit(host: String?, kind: String, code: String?, detail: String?, evacuation: EvacuationFields,
                       now: Date = Date()) throws(RegionError) {
        try write { db in try Self.audit(db, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail, evacuation: evacuation) }
    }

    /// An event row's ``EvacuationFields``, nil when it has none.
    static func decodeEvacuationFields(_ r: Row) throws -> EvacuationFields? {
        let vm: String? = try r.decode(forColumn: "vm")
        let source: String? = try r.decode(forColumn: "source")
        let target: String? = try r.decode(forColumn: "target")
        let outcome: String? = try r.decode(forColumn: "outcome")
        return EvacuationFields.stored(vm: vm, source: source, target: target, outcome: outcome)
    }
}
