import AsyncHTTPClient
package import Crypto
package import Foundation
package import Logging
package import NIOCore
import NIOHTTP1
import RegionProtocol
import ServiceLifecycle

/// Posts the IVT's state changes and evacuation steps to the region policy's webhooks, so operators can wire
/// the RC-TCB to paging or orchestration.
///
/// It follows the audit table (what was committed is what is told), so it never sits in a decision's way: a
/// slow or failing receiver only delays its own queue. Each body is JSON, signed with the RC-TCB's server key
/// (ECDSA P-256, SHA-256; the signature of the exact body bytes, DER, base64, in `Smig-Signature`), so a
/// receiver checks it against `rctcb.pem`. Deliveries are retried with exponential back-off.
package struct WebhookNotifier: Service {
    /// One notification's body: the audit event, with the region's name beside its fields (one flat JSON
    /// object: `region`, `seq`, `at`, `host`, `kind` — `state` or an `evacuation.*` step — `oldState`,
    /// `newState`, `code`, `detail`). The event's fields read as the notification's own (`n.kind`).
    @dynamicMemberLookup
    package struct Notification: Codable, Sendable, Hashable {
        package var region: String
        package var event: IVTEvent

        package init(region: String, event: IVTEvent) {
            self.region = region
            self.event = event
        }

        package subscript<T>(dynamicMember field: KeyPath<IVTEvent, T>) -> T { event[keyPath: field] }

        enum CodingKeys: String, CodingKey { case region }

        package init(from decoder: any Decoder) throws {
            region = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .region)
            event = try IVTEvent(from: decoder)
        }

        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(region, forKey: .region)
            try event.encode(to: encoder)
        }
    }

    package static let signatureHeader = "Smig-Signature"

    let urls: [String]
    let store: any RegionStore
    let key: P256.Signing.PrivateKey
    let region: String
    let logger: Logger
    /// Attempts per notification and the first back-off (doubled each time).
    let attempts: Int
    let firstBackoff: Duration
    /// Tell events after this one (nil: after the newest when the notifier starts).
    let startAfter: Int64?
    /// The event loops deliveries run on (default: NIO's shared singleton group).
    let eventLoopGroup: (any EventLoopGroup)?
    /// With several RC-TCBs on one store, only the leader tells (``RegionLeadership/mayAct``): a follower passes the
    /// events by, and from the moment it leads tells what follows. Nil: the region's only RC-TCB.
    package var leadership: RegionLeadership?

    package init(urls: [String], store: any RegionStore, key: P256.Signing.PrivateKey, region: String, logger: Logger,
                attempts: Int = 6, firstBackoff: Duration = .milliseconds(250), startAfter: Int64? = nil,
                eventLoopGroup: (any EventLoopGroup)? = nil) {
        self.startAfter = startAfter
        self.eventLoopGroup = eventLoopGroup
        self.urls = urls
        self.store = store
        self.key = key
        self.region = region
        self.logger = logger
        self.attempts = attempts
        self.firstBackoff = firstBackoff
    }

    /// The kinds of audit events that are told.
    static func isNotified(_ kind: String) -> Bool { kind == "state" || kind.hasPrefix("evacuation.") || kind == "revoked" }

    /// The signature header value for `body`.
    package static func sign(_ body: Data, with key: P256.Signing.PrivateKey) throws -> String {
        try key.signature(for: body).derRepresentation.base64EncodedString()
    }

    package func run() async throws {
        // A service that returns early would end the RC-TCB: without webhooks it just waits for the shutdown.
        guard !urls.isEmpty else { try? await gracefulShutdown(); return }
        let client = HTTPClient(eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
                                configuration: .init(timeout: .init(connect: .seconds(3), read: .seconds(5))))
        // Only what happens from now on: a restarted RC-TCB does not page anyone again for old events.
        let start = if let startAfter { startAfter } else { (try? await store.lastEventSeq()) ?? 0 }
        let queues = urls.map { _ in AsyncStream<Data>.makeStream() }
        await withTaskGroup(of: Void.self) { group in
            for (url, queue) in zip(urls, queues) {
                group.addTask { for await body in queue.stream { await deliver(body, to: url, client: client) } }
            }
            group.addTask {
                var cursor = start
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let events = (try? await store.events(since: cursor, host: nil, limit: 1000)) ?? []
                    for e in events {
                        cursor = e.seq
                        guard Self.isNotified(e.kind), leadership?.mayAct ?? true else { continue }
                        let body = RegionJSON.encode(Notification(region: region, event: e))
                        for q in queues { q.continuation.yield(body) }
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                for q in queues { q.continuation.finish() }
            }
            await group.waitForAll()
        }
        try? await client.shutdown()
    }

    func deliver(_ body: Data, to url: String, client: HTTPClient) async {
        var backoff = firstBackoff
        for attempt in 1...attempts {
            // Shutting down: no more attempts (a receiver may be going away too); what is left is logged.
            if Task.isCancelled || Task.isShuttingDownGracefully {
                logger.warning("webhook not delivered: shutting down", metadata: ["attest.url": "\(url)", "attest.attempt": "\(attempt)"])
                return
            }
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: Self.signatureHeader, value: try Self.sign(body, with: key))
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(Int(response.status.code)) { return }
                logger.warning("webhook refused", metadata: ["attest.url": "\(url)", "attest.status": "\(response.status.code)", "attest.attempt": "\(attempt)"])
            } catch {
                logger.warning("webhook not delivered", metadata: ["attest.url": "\(url)", "attest.reason": "\(error)", "attest.attempt": "\(attempt)"])
            }
            if attempt < attempts {
                try? await Task.sleep(for: backoff)
                backoff = backoff * 2
            }
        }
        logger.error("webhook given up", metadata: ["attest.url": "\(url)"])
    }
}
