import GRDB

extension IVTStore {
    /// The sequence number of the newest audit event (0: none): a cheap "has anything been recorded since?".
    public func lastEventSeq() throws(RegionError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM event") ?? 0 }
    }
}
