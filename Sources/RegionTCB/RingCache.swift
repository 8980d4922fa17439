import Foundation
import RegionProtocol

/// The ring as computed from one IVT snapshot (named by its last audit event) at one rotation, with each measurer's target looked up in O(1):
/// with thousands of hosts, recomputing the ring on every assignment would cost more than the attestation.
struct RingCache {
    let view: RingView
    let targets: [String: String]
    let snapshotSeq: Int64
    let rotation: Int
    let offset: Int

    init(view: RingView, snapshotSeq: Int64, rotation: Int, offset: Int) {
        self.view = view
        targets = Dictionary(view.links.map { ($0.measurer, $0.target) }, uniquingKeysWith: { a, _ in a })
        self.snapshotSeq = snapshotSeq
        self.rotation = rotation
        self.offset = offset
    }

    func matches(_ seq: Int64, _ rotation: Int, _ offset: Int) -> Bool {
        snapshotSeq == seq && self.rotation == rotation && self.offset == offset
    }
}
