import RegionProtocol
import Synchronization

/// The last list of peers built, by the snapshot version it was built from: after a change every agent asks for the
/// new list within its refresh interval, and the list is built once, not once per agent.
final class PeerListCache: Sendable {
    let last = Mutex<RegionPeers?>(nil)
}

extension RegionState {
    /// Who agents may serve quotes to, from the IVT snapshot (no database read beyond ``refresh``'s): every enrolled,
    /// unrevoked host with its AK Name, and the revoked hosts. Just the version when the caller's `since` is current.
    func peers(since: Int64?, cache: PeerListCache) async -> RegionPeers {
        let rows = await rowsSnapshot()
        let version = snapshotSeq
        if since == version { return RegionPeers(version: version) }
        if let cached = cache.last.withLock({ $0 }), cached.version == version { return cached }
        var enrolled: [String: String] = [:]
        var revoked: [String] = []
        for row in rows.values {
            if row.revoked { revoked.append(row.host) } else if let ak = row.akName { enrolled[row.host] = ak }
        }
        let list = RegionPeers(version: version, enrolled: enrolled, revoked: revoked.sorted())
        cache.last.withLock { $0 = list }
        return list
    }
}
