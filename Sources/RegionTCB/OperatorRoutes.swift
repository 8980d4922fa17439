package import RegionProtocol

/// The RC-TCB's routes for the operator (the admin certificate): declared here, not in RegionProtocol with the
/// agents' (``RCTCBRoutes``), because their answers are the RC-TCB's own types. `rctcb serve` registers them and the
/// operator commands call them by these names.
package enum OperatorRoutes {
    /// The IVT's rows.
    package static let ivt = RegionRoute<NoBody, [IVTRow]>(.get, "/v1/ivt")
    /// The audit trail after `since`, oldest first (query `since`, `host`).
    package static let events = RegionRoute<NoBody, [IVTEvent]>(.get, "/v1/events")
    /// One host's row, enrolment and recent events (parameter `host`; query `evidence=true` adds the kept bundles).
    package static let host = RegionRoute<NoBody, HostReport>(.get, "/v1/hosts/:host")
    /// The operator accepts a host's pending reboot (parameter `host`).
    package static let acceptReboot = RegionRoute<RebootAcceptanceRequest, RebootAcceptanceAnswer>(.post, "/v1/hosts/:host/accept-reboot")
    /// The ring as the RC-TCB computes it now.
    package static let ring = RegionRoute<NoBody, RingView>(.get, "/v1/ring")
    /// The gated migration of one VM to one target.
    package static let migrations = RegionRoute<MigrationRequest, Evacuator.Outcome>(.post, "/v1/migrations")
    /// Every evacuation record, open and closed.
    package static let evacuations = RegionRoute<NoBody, [EvacuationRecord]>(.get, "/v1/evacuations")
    /// Reload the region policy from its file.
    package static let policyReload = RegionRoute<NoBody, PolicyReloader.Outcome>(.post, "/v1/policy/reload")
    /// Where every VM of the inventory is.
    package static let vms = RegionRoute<NoBody, [VMPlacement]>(.get, "/v1/vms")
}
