package import Attestation

/// The RC-TCB's routes for agents (enrolment, renewal, ring duty, peers, notices) and its health check. Who may call
/// each is the RC-TCB's to check (`RCTCBService.addRoutes`); the operator's routes are `OperatorRoutes` in RegionTCB.
package enum RCTCBRoutes {
    package static let health = RegionRoute<NoBody, [String: String]>(.get, "/v1/health")
    /// Enrolment, step one: the host's EK, AK and TLS key; the answer is a credential only its TPM can activate.
    package static let enrolBegin = RegionRoute<EnrolmentRequest, EnrolmentChallenge>(.post, "/v1/enrol/begin")
    /// Enrolment, step two: the activated credential; the answer is the host's certificate.
    package static let enrolComplete = RegionRoute<EnrolmentProof, EnrolmentCertificate>(.post, "/v1/enrol/complete")
    /// Renewal, step one: a nonce to quote over.
    package static let renewBegin = RegionRoute<NoBody, RenewalChallenge>(.post, "/v1/renew/begin")
    /// Renewal, step two: the quote and a new TLS key; the answer is the new certificate.
    package static let renewComplete = RegionRoute<RenewalProof, EnrolmentCertificate>(.post, "/v1/renew/complete")
    /// Ring duty: which neighbour to challenge, with the RC-TCB's nonce for it.
    package static let ringAssignment = RegionRoute<NoBody, RingAssignment>(.post, "/v1/ring/assignment")
    /// Ring duty: the neighbour's evidence (or its silence); the answer is the RC-TCB's verdict and the next assignment.
    package static let reports = RegionRoute<AIMReport, ReportResult>(.post, "/v1/reports")
    /// Whose certificates an agent may serve quotes to, and the region's intervals (`since`: only what changed).
    package static let peers = RegionRoute<NoBody, RegionPeers>(.get, "/v1/peers")
    /// An agent's own measurements changed: challenge it now.
    package static let notices = RegionRoute<ChangeNotice, [String: String]>(.post, "/v1/notices")
}

/// Every agent's routes: quotes for its ring neighbour and the RC-TCB, and the RC-TCB's migration orders.
package enum AgentRoutes {
    /// A quote over the caller's nonce, with the measurement and boot logs.
    package static let quote = RegionRoute<QuoteChallenge, EvidenceBundle>(.post, "/v1/quote")
    /// The agent takes a migration order (or answers from its record of the same id).
    package static let orders = RegionRoute<MigrationOrder, MigrationOrderStatus>(.post, "/v1/orders")
    /// What the agent recorded for one order (parameter `id`).
    package static let order = RegionRoute<NoBody, MigrationOrderStatus>(.get, "/v1/orders/:id")
    /// The agent's report of its host's VMs.
    package static let vms = RegionRoute<NoBody, HostVMReport>(.get, "/v1/vms")
}
