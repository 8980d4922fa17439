public import TPMWire
import Policy

/// Replays a runtime measurement log and checks it against quoted PCR values.
///
/// The checks run in an order that gives each kind of tampering its own code:
/// 1. record numbers: duplicated → `duplicateRecord`; a permutation of 0..<n out of order →
///    `recordOutOfOrder`; a gap (or not starting at `firstRecnum`) → `recordMissing`;
/// 2. each record's digests equal the hash of its content → else `digestMismatch` (an edited record);
/// 3. replay per PCR: the final value equals the quoted one → ok; the quoted value is reached part-way
///    → `extraRecords` (a padded log); never reached → `replayMismatch` (a truncated log, or an extend that
///    was never logged).
public enum MeasurementReplay {
    /// Expected PCR values after replaying `records` from reset (or from `initial`).
    public static func replay(_ records: [MeasurementRecord], bank: TPMAlgorithm = .sha256,
                              initial: [Int: [UInt8]] = [:]) throws(TPMWireError) -> [Int: [UInt8]] {
        var values = initial
        for record in records {
            guard let digest = record.digest(bank) else { continue }
            let old = values[record.pcr] ?? PCRBanks.resetValue(bank, pcr: record.pcr)
            values[record.pcr] = try PCRBanks.extend(old, with: digest, bank: bank)
        }
        return values
    }

    /// Checks the structure of `records` (numbering and per-record digests) without any PCR values.
    public static func checkStructure(_ records: [MeasurementRecord], firstRecnum: Int = 0) throws(EventLogError) {
        let numbers = records.map(\.recnum)
        var seen: Set<Int> = []
        for (position, number) in numbers.enumerated() where !seen.insert(number).inserted {
            throw EventLogError(.duplicateRecord, "record number \(number) appears twice", record: position)
        }
        let expected = Array(firstRecnum..<(firstRecnum + records.count))
        if numbers != expected {
            if numbers.sorted() == expected {
                let position = numbers.indices.first { numbers[$0] != expected[$0] } ?? 0
                throw EventLogError(.recordOutOfOrder, "record \(numbers[position]) stands where \(expected[position]) belongs",
                                    record: numbers[position])
            }
            var next = firstRecnum
            for number in numbers {
                if number != next { break }
                next += 1
            }
            throw EventLogError(.recordMissing, "record \(next) is missing", record: next)
        }
        for record in records {
            try record.validate(offset: nil)
            let canonical = MeasurementRecord.canonicalContent(record.content)
            for digest in record.digests {
                guard let bank = TPMAlgorithm(implementedHashName: digest.hashAlg) else { continue }
                guard let computed = try? bank.hash(canonical), Hex.decode(digest.digest) == computed else {
                    throw EventLogError(.digestMismatch, "the \(bank.name) digest is not the digest of the record's content",
                                        record: record.recnum, pcr: record.pcr)
                }
            }
        }
    }

    /// Full check against quoted values of `bank` for every PCR the log or the quote covers among `pcrs`.
    ///
    /// - Parameter quoted: the verified quoted values (PCR index → value) for `bank`.
    public static func check(_ records: [MeasurementRecord], against quoted: [Int: [UInt8]],
                             bank: TPMAlgorithm = .sha256, pcrs: Set<Int>? = nil,
                             firstRecnum: Int = 0) throws(EventLogError) {
        try checkStructure(records, firstRecnum: firstRecnum)
        let logged = Set(records.map(\.pcr))
        let covered = (pcrs ?? logged).sorted()
        for pcr in covered {
            guard let quotedValue = quoted[pcr] else { continue }
            var value = PCRBanks.resetValue(bank, pcr: pcr)
            var reachedAt: Int? = value == quotedValue ? -1 : nil
            let mine = records.filter { $0.pcr == pcr }
            for (position, record) in mine.enumerated() {
                guard let digest = record.digest(bank) else {
                    throw EventLogError(.malformedRecord, "record has no \(bank.name) digest", record: record.recnum,
                                        pcr: pcr)
                }
                do { value = try PCRBanks.extend(value, with: digest, bank: bank) } catch {
                    throw EventLogError(.unsupportedAlgorithm, "\(error)", record: record.recnum, pcr: pcr)
                }
                if value == quotedValue, position < mine.count - 1 { reachedAt = position }
            }
            if value == quotedValue { continue }
            if let reachedAt {
                let first = mine[reachedAt + 1].recnum
                throw EventLogError(.extraRecords,
                                    "PCR \(pcr) matches the quote after \(reachedAt + 1) records; \(mine.count - reachedAt - 1) more follow",
                                    record: first, pcr: pcr)
            }
            throw EventLogError(.replayMismatch,
                                "replaying \(mine.count) records into PCR \(pcr) does not give the quoted value",
                                record: mine.last?.recnum, pcr: pcr)
        }
    }
}
