package import Foundation
import GRDB

extension RegionError.Code {
    /// `rctcb accept-reboot` for a host with no reboot waiting for a boot log.
    package static let rebootNotPending = Self(rawValue: "reboot.not-pending")
    /// `rctcb accept-reboot` without a reason the audit trail can keep (empty, too long, control characters).
    package static let rebootBadReason = Self(rawValue: "reboot.bad-reason")
}

/// The operator's acceptance of a host's reboot (`rctcb accept-reboot HOST --reason TEXT`): a host whose TPM was
/// reset waits in `rebooted` for a boot log that replays; the operator who knows why it rebooted (a host without
/// measured boot, a firmware update whose log the golden values do not know yet) accepts the reboot, and the next
/// verified quote — its signature, nonce, clock and golden values all checked as ever — is trusted as the new boot.
/// Both steps are audit events: `accept-reboot` with the operator's reason now, `reboot-accepted` when a quote is
/// trusted under it.
package enum RebootAcceptance {
    package static let maxReason = 500

    /// The reason as the audit trail keeps it, or `reboot.bad-reason`.
    package static func check(reason: String) throws(RegionError) -> String {
        let text = reason.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw RegionError(.rebootBadReason, "give the reason the reboot is accepted (--reason TEXT)") }
        guard text.count <= maxReason else { throw RegionError(.rebootBadReason, "the reason is longer than \(maxReason) characters") }
        guard !text.unicodeScalars.contains(where: { [.control, .format].contains($0.properties.generalCategory) }) else {
            throw RegionError(.rebootBadReason, "the reason has control characters")
        }
        return text
    }

    /// The row of a host whose reboot waits for a boot log, or `reboot.not-pending`.
    package static func requirePending(_ row: IVTRow) throws(RegionError) -> IVTRow {
        guard row.state == .rebooted || row.bootLogPending else {
            throw RegionError(.rebootNotPending, "host \(row.host) has no reboot waiting for a boot log (it is \(row.state.rawValue))")
        }
        return row
    }
}

/// What `POST /v1/hosts/HOST/accept-reboot` takes and answers.
package struct RebootAcceptanceRequest: Sendable, Codable {
    package var reason: String
    package init(reason: String) { self.reason = reason }
}

package struct RebootAcceptanceAnswer: Sendable, Codable {
    package var host: String
    package var state: HostState
    package var reason: String
    /// The audit event recorded (`accept-reboot`).
    package var eventSeq: Int64

    package init(host: String, state: HostState, reason: String, eventSeq: Int64) {
        (self.host, self.state, self.reason, self.eventSeq) = (host, state, reason, eventSeq)
    }
}

extension IVTStore {
    /// Records the operator's acceptance of `host`'s pending reboot with `reason` (an `accept-reboot` audit event).
    /// `host.unknown` for a host not in the IVT, `reboot.not-pending` when no reboot waits for a boot log,
    /// `reboot.bad-reason` for a reason the trail cannot keep; nothing changes then.
    package func acceptReboot(host: String, reason: String, now: Date = Date()) throws(RegionError) -> RebootAcceptanceAnswer {
        let text = try RebootAcceptance.check(reason: reason)
        return try write { db in
            guard let old = try Self.row(db, host) else {
                throw RegionError(.hostUnknown, "host \(host.prefix(64)) is not in the IVT")
            }
            let row = try RebootAcceptance.requirePending(old)
            try db.execute(sql: "UPDATE host SET reboot_accepted = ? WHERE id = ?", arguments: [text, host])
            try Self.audit(db, now, host: host, kind: "accept-reboot", old: nil, new: nil, code: nil, detail: text)
            return RebootAcceptanceAnswer(host: host, state: row.state, reason: text, eventSeq: db.lastInsertedRowID)
        }
    }
}
