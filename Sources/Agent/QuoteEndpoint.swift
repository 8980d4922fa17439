import Attestation
import Foundation
import Hummingbird
import Logging
import NIOCore
import RegionListener
import RegionProtocol
import TPMWire

/// The agent's `POST /v1/quote`: whom it answers, how often, and in which turn at the TPM.
///
/// The RC-TCB's certificate (role `rctcb`) is always answered, first at the TPM. An agent certificate is answered
/// only while its host is enrolled with the AK the certificate names and not revoked (``PeerStanding``, learned from
/// the RC-TCB), and within its limits (``QuoteAdmission``); its quote waits behind the RC-TCB's and the host's own
/// work at the TPM.
struct QuoteEndpoint: Sendable {
    /// Why a quote request was refused: the code of the error body, and its HTTP status.
    enum Refusal: String, Sendable {
        case badChallenge = "quote.bad-challenge"
        /// The client certificate names no region identity.
        case peerUnknown = "quote.peer-unknown"
        /// The certificate's host is revoked.
        case peerRevoked = "quote.peer-revoked"
        /// The certificate's host is not enrolled, or with another AK than the certificate names.
        case peerNotEnrolled = "quote.peer-not-enrolled"
        /// The agent has not learned the region's peers from the RC-TCB yet.
        case peersUnknown = "quote.peers-unknown"
        /// The peer has too many requests in flight or has spent its budget.
        case rateLimited = "quote.rate-limited"

        var status: HTTPResponse.Status {
            switch self {
            case .badChallenge: .badRequest
            case .peerUnknown, .peerRevoked, .peerNotEnrolled: .forbidden
            case .peersUnknown: .serviceUnavailable
            case .rateLimited: .tooManyRequests
            }
        }
    }

    let tpm: HostTPM
    let peers: PeerStanding
    let admission: QuoteAdmission
    /// Asks the RC-TCB for the peers now (a certificate named a host the list does not know).
    let refreshPeers: @Sendable () async -> Void
    let logger: Logger
    let refusals = RefusalLog()

    func add(to router: Router<RegionRequestContext>) {
        router.post(RouterPath(AgentRoutes.quote.path)) { request, context in try await answer(request, context) }
    }

    func answer(_ request: Request, _ context: RegionRequestContext) async throws -> Response {
        guard let peer = await context.peerIdentity() else {
            return Self.refuse(.peerUnknown, "the client certificate names no region identity")
        }
        if peer.role == .rctcb { return try await quote(request, lane: .first) }
        if peer.role == .agent, let refusal = await standing(peer) { return refusal }
        let key = "\(peer.role.rawValue):\(peer.name)"
        if let limited = admission.admit(key, now: .now) {
            logger.debug("quote request refused: rate limit", metadata: ["attest.peer": "\(peer.name)", "attest.reason": "\(limited)"])
            let limits = admission.limits
            return Self.refuse(.rateLimited, limited == .tooManyInFlight
                ? "at most \(limits.inFlight) quote requests of one peer at once"
                : "at most \(Int(limits.burst)) quote requests at once and \(limits.perSecond) per second per peer")
        }
        defer { admission.finish(key) }
        return try await quote(request, lane: .peer)
    }

    /// The refusal for an agent certificate whose host is revoked or not enrolled with the certificate's AK; nil
    /// when it may be served.
    func standing(_ peer: RegionIdentity) async -> Response? {
        var verdict = peers.verdict(host: peer.name, akName: peer.akName)
        if verdict == .notEnrolled || verdict == .unknown {
            await peers.refreshEarly(now: .now, refreshPeers)
            verdict = peers.verdict(host: peer.name, akName: peer.akName)
        }
        let refusal: Response
        switch verdict {
        case .admitted: return nil
        case .revoked: refusal = Self.refuse(.peerRevoked, "host \(peer.name) is revoked")
        case .notEnrolled: refusal = Self.refuse(.peerNotEnrolled, "host \(peer.name) is not enrolled with AK \(peer.akName ?? "-")")
        case .unknown: refusal = Self.refuse(.peersUnknown, "the region's peers are not known yet (the RC-TCB has not answered)")
        }
        refusals.refused(peer.name, "\(verdict)", logger: logger)
        return refusal
    }

    func quote(_ request: Request, lane: TPMTurns.Lane) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        let challenge = try RegionJSON.decode(QuoteChallenge.self, from: Data(buffer.readableBytesView))
        guard let nonce = Hex.decode(challenge.nonce), nonce.count >= Freshness.minimumNonceBytes, nonce.count <= 64,
              let selection = try? PCRSelectionList(parsing: challenge.pcrSelection) else {
            return Self.refuse(.badChallenge, "nonce must be 16-64 bytes of hex and the selection valid")
        }
        let bundle = try await tpm.evidence(nonce: nonce, selection: selection, lane: lane)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: RegionJSON.encode(bundle))))
    }

    static func refuse(_ refusal: Refusal, _ message: String) -> Response {
        let body = RegionJSON.encode(RegionErrorBody(code: refusal.rawValue, message: message))
        return Response(status: refusal.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
