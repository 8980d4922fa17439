import RegionProtocol
import RegionTCB
import Testing

@Suite("Region routes")
struct RegionRouteTests {
    @Test func parametersAndQueriesFillThePath() {
        #expect(OperatorRoutes.acceptReboot.path(["host": "host-1"]) == "/v1/hosts/host-1/accept-reboot")
        #expect(OperatorRoutes.host.path(["host": "host-1"], query: "evidence=true") == "/v1/hosts/host-1?evidence=true")
        #expect(AgentRoutes.order.path(["id": "a/b c"]) == "/v1/orders/a%2Fb%20c")
        #expect(OperatorRoutes.events.path([:], query: "") == "/v1/events")
        #expect(RCTCBRoutes.peers.path([:], query: nil) == "/v1/peers")
    }

    /// Each service registers a path once: the RC-TCB's agent and operator routes never collide.
    @Test func eachServiceNamesAPathOnce() {
        let rctcb = [RCTCBRoutes.health.path, RCTCBRoutes.enrolBegin.path, RCTCBRoutes.enrolComplete.path, RCTCBRoutes.renewBegin.path,
                     RCTCBRoutes.renewComplete.path, RCTCBRoutes.ringAssignment.path, RCTCBRoutes.reports.path, RCTCBRoutes.peers.path,
                     RCTCBRoutes.notices.path, OperatorRoutes.ivt.path, OperatorRoutes.events.path, OperatorRoutes.host.path,
                     OperatorRoutes.acceptReboot.path, OperatorRoutes.ring.path, OperatorRoutes.migrations.path,
                     OperatorRoutes.evacuations.path, OperatorRoutes.policyReload.path, OperatorRoutes.vms.path]
        #expect(Set(rctcb).count == rctcb.count)
        let agent = [AgentRoutes.quote.path, AgentRoutes.orders.path, AgentRoutes.order.path, AgentRoutes.vms.path]
        #expect(Set(agent).count == agent.count)
    }
}
