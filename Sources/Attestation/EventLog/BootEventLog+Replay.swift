import Policy
public import TPMWire

extension BootEventLog {
    /// The banks the log declares that this build can replay (SHA-1, SHA-256, SHA-384, SHA-512), in log order.
    public var replayableBanks: [TPMAlgorithm] {
        algorithms.map(\.algorithm).filter(\.isImplementedHash)
    }

    /// Banks the log declares that this build cannot replay (SM3_256: no implementation here; unknown ids).
    public var unreplayableAlgorithms: [TPMAlgorithm] {
        algorithms.map(\.algorithm).filter { !$0.isImplementedHash }
    }

    /// The value a PCR holds before the first event of this log: its reset value, or for PCR 0 with a
    /// StartupLocality event, zeros ending in the locality (TCG PC Client, §10.4.5.3).
    public func initialValue(_ bank: TPMAlgorithm, pcr: Int) -> [UInt8] {
        var value = PCRBanks.resetValue(bank, pcr: pcr)
        if pcr == 0, let startupLocality { value[value.count - 1] = startupLocality }
        return value
    }

    /// Replays every extending event into every bank the log declares and this build can compute.
    ///
    /// Returns values for PCRs 0...23 (unextended ones at their reset value: zeros, all-ones for 17–22).
    /// EV_NO_ACTION events are not extended. Banks in ``unreplayableAlgorithms`` are left out.
    public func replay() -> PCRBanks {
        var banks = PCRBanks()
        // Every bank in replayableBanks is implemented, so none is left out for a hash error.
        for bank in replayableBanks { if let table = try? replay(bank) { banks.values[bank] = table } }
        return banks
    }

    /// Replays one bank into PCRs 0...23.
    public func replay(_ bank: TPMAlgorithm) throws(TPMWireError) -> [Int: [UInt8]] {
        var table: [Int: [UInt8]] = [:]
        for pcr in 0...23 { table[pcr] = initialValue(bank, pcr: pcr) }
        for event in events where event.extends {
            guard let digest = event.digest(bank), let old = table[event.pcrIndex] else { continue }
            table[event.pcrIndex] = try PCRBanks.extend(old, with: digest, bank: bank)
        }
        return table
    }

    /// Replays one bank given by its TPM algorithm id; throws `unsupportedAlgorithm` for a bank the log does not
    /// declare or this build cannot compute (SM3_256).
    public func replay(algorithm: TPMAlgorithm) throws(EventLogError) -> [Int: [UInt8]] {
        guard algorithms.contains(where: { $0.algorithm == algorithm }) else {
            throw EventLogError(.unsupportedAlgorithm, "the log has no \(algorithm) bank")
        }
        do { return try replay(algorithm) } catch {
            throw EventLogError(.unsupportedAlgorithm, "no \(algorithm) implementation to replay the \(algorithm) bank")
        }
    }

    /// The PCRs (among `pcrs`) whose replayed value differs from the quoted one, per bank present in both.
    public func mismatches(against quoted: PCRBanks, pcrs: ClosedRange<Int> = 0...9) -> [(bank: TPMAlgorithm, pcr: Int,
                                                                                          expected: [UInt8], quoted: [UInt8])] {
        let replayed = replay()
        var out: [(bank: TPMAlgorithm, pcr: Int, expected: [UInt8], quoted: [UInt8])] = []
        for bank in replayed.values.keys.sorted() {
            for pcr in pcrs {
                guard let value = quoted[bank, pcr], let expected = replayed[bank, pcr] else { continue }
                if value != expected { out.append((bank, pcr, expected, value)) }
            }
        }
        return out
    }
}
