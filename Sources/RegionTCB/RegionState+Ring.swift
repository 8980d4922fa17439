import CoreMetrics
package import Foundation
import Logging
import Policy
package import RegionProtocol
import TPMWire

/// The ring: who measures whom (each trusted member measures the member `offset` places after it, in policy order),
/// rotated so nobody measures its former measurer, and each reporter's duty with a nonce issued for the pair.
extension RegionState {
    /// Hosts in the ring: enrolled and not revoked, in policy order.
    func members() async -> [String] {
        let rows = await rowsSnapshot()
        return order.filter { rows[$0].map { $0.akName != nil && !$0.revoked } ?? false }
    }

    /// The current links, computed once per IVT snapshot and ring rotation (every assignment asks for it).
    package func ringView() async -> RingView {
        let rows = await rowsSnapshot()
        if let cached = ringCache, cached.matches(snapshotSeq, rotation, offset) { return cached.view }
        let view = await computeRingView(rows)
        ringCache = RingCache(view: view, snapshotSeq: snapshotSeq, rotation: rotation, offset: offset)
        metrics.ringLinks.record(view.links.count)
        return view
    }

    func computeRingView(_ rows: [String: IVTRow]) async -> RingView {
        let m = await members()
        let states = rows.mapValues(\.state)
        let memberSet = Set(m)
        guard m.count >= 2 else { return RingView(rotation: rotation, links: [], excluded: order.filter { !memberSet.contains($0) }) }
        let k = offset % m.count == 0 ? 1 : offset % m.count
        var links: [RingView.Link] = []
        var excluded: [String] = order.filter { !memberSet.contains($0) }
        for (i, h) in m.enumerated() {
            guard states[h] == .trusted else { excluded.append(h); continue }
            links.append(.init(measurer: h, target: RingSuccession.successor(at: i, step: k, in: m)))
        }
        return RingView(rotation: rotation, links: links, excluded: excluded)
    }

    /// Rotates the ring: a new offset, never the reverse of the old one (so nobody measures its former measurer)
    /// when the ring is large enough for that.
    package func rotate() async {
        let n = await members().count
        guard n >= 3 else { return }
        let old = offset % n == 0 ? 1 : offset % n
        var k = old
        for step in 1..<n {
            let candidate = (old - 1 + step) % (n - 1) + 1
            if candidate != old, (candidate + old) % n != 0 { k = candidate; break }
        }
        if k != old {
            offset = k
            rotation += 1
            logger.info("ring rotated", metadata: ["attest.rotation": "\(rotation)", "attest.offset": "\(k)"])
        }
    }

    /// The reporter's current duty, with a fresh nonce issued for that pair, as the reporter asked for it.
    package func assignment(for reporter: String, now: Date = Date()) async throws(RegionError) -> RingAssignment {
        try await assignment(for: reporter, now: now, origin: .request)
    }

    /// The reporter's current duty; `origin`: whether it asked for it or a report's answer carries it.
    func assignment(for reporter: String, now: Date, origin: NonceBook.Origin) async throws(RegionError) -> RingAssignment {
        _ = await ringView()
        guard let target = ringCache?.targets[reporter], let cfg = hosts[target] else {
            return RingAssignment()
        }
        let nonce = try await issueNonce(reporter: reporter, target: target, now: now, origin: origin)
        return RingAssignment(target: target, address: cfg.address, port: cfg.port, nonce: nonce, pcrSelection: judge.selection.description,
                              validUntil: now.addingTimeInterval(nonces.lifetime))
    }
}
