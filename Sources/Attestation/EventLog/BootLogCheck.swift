import Policy
public import TPMWire

/// Checks a boot event log against PCR values a verified quote proved: does the log replay to them, and if
/// not, where does it first diverge?
///
/// Compared are the quoted PCRs in ``defaultPCRs`` (the firmware and boot-loader PCRs every PC Client log
/// accounts for, whether or not this log has events for them) and every PCR the log extends, in every bank both
/// the log and the quote hold. A quoted boot PCR the log has no event for must therefore still hold its reset
/// value: a log cut before all of a PCR's events does not pass. A check that compares nothing fails: the log
/// proves nothing about this quote.
public struct BootLogCheck: Sendable, Hashable {
    public struct Comparison: Sendable, Hashable {
        public var bank: TPMAlgorithm
        public var pcr: Int
        public var replayed: [UInt8]
        public var quoted: [UInt8]
        public var matches: Bool { replayed == quoted }
    }

    /// Where the log stops matching the quote.
    public struct Divergence: Sendable, Hashable, CustomStringConvertible {
        public var bank: TPMAlgorithm
        public var pcr: Int
        /// The first event of the log that the quoted value does not account for; nil when the PCR was
        /// extended although the log has no event for it.
        public var event: BootEventLog.Event?
        public var reason: String

        public var description: String {
            let at = event.map { "event \($0.index) (\($0.eventType), byte \($0.offset))" } ?? "no event"
            return "PCR \(pcr) (\(bank.name)) diverges at \(at): \(reason)"
        }
    }

    public var comparisons: [Comparison]
    /// The earliest divergence in log order, nil when every compared PCR matches.
    public var divergence: Divergence?
    /// Banks the quote holds that the log does not record or this build cannot replay.
    public var uncheckedBanks: [TPMAlgorithm]

    /// True when at least one PCR was compared and every compared PCR matches.
    public var matches: Bool { !comparisons.isEmpty && divergence == nil }

    /// PCRs 0–9 (firmware, option ROMs, configuration, boot manager, boot loader, kernel and its command line)
    /// and 14 (shim's MOK lists): the PCRs a boot event log accounts for.
    public static let defaultPCRs: Set<Int> = Set(0...9).union([14])

    /// Compares `log` with `quoted`; `pcrs` replaces the PCRs looked at (default: ``defaultPCRs`` and every PCR
    /// the log extends).
    public init(_ log: BootEventLog, against quoted: PCRBanks, pcrs: Set<Int>? = nil) {
        let wanted = pcrs ?? Self.defaultPCRs.union(log.extendedPCRs)
        let logBanks = Set(log.replayableBanks)
        var comparisons: [Comparison] = []
        var divergences: [Divergence] = []
        for bank in quoted.values.keys.sorted() where logBanks.contains(bank) {
            guard let replayed = try? log.replay(bank) else { continue }   // replayable banks only
            for pcr in wanted.sorted() {
                guard let value = quoted[bank, pcr], let expected = replayed[pcr] else { continue }
                comparisons.append(Comparison(bank: bank, pcr: pcr, replayed: expected, quoted: value))
                if expected != value { divergences.append(Self.divergence(log, bank: bank, pcr: pcr, quoted: value)) }
            }
        }
        self.comparisons = comparisons
        self.divergence = divergences.min { ($0.event?.index ?? .max) < ($1.event?.index ?? .max) }
        self.uncheckedBanks = quoted.values.keys.sorted().filter { !logBanks.contains($0) }
    }

    /// Finds the first event of `pcr` the quoted value does not account for: the event after the longest prefix
    /// that replays to the quoted value (the log holds events the TPM never saw), otherwise the first event of
    /// the PCR (no prefix of the log reaches the quoted value: an event was changed, or an extend not logged).
    static func divergence(_ log: BootEventLog, bank: TPMAlgorithm, pcr: Int, quoted: [UInt8]) -> Divergence {
        let mine = log.events.filter { $0.extends && $0.pcrIndex == pcr }
        var value = log.initialValue(bank, pcr: pcr)
        var matchedPrefix: Int? = value == quoted ? 0 : nil
        for (position, event) in mine.enumerated() {
            guard let digest = event.digests.first(where: { $0.algorithm == bank })?.bytes else { break }
            guard let next = try? PCRBanks.extend(value, with: digest, bank: bank) else { break }
            value = next
            if value == quoted { matchedPrefix = position + 1 }
        }
        if let matchedPrefix, matchedPrefix < mine.count {
            return Divergence(bank: bank, pcr: pcr, event: mine[matchedPrefix],
                              reason: "the quoted value is reached after \(matchedPrefix) of the log's \(mine.count) events for this PCR; the rest were not extended into the TPM")
        }
        guard let first = mine.first else {
            return Divergence(bank: bank, pcr: pcr, event: nil,
                              reason: "the TPM's PCR was extended but the log has no event for it")
        }
        return Divergence(bank: bank, pcr: pcr, event: first,
                          reason: "no prefix of the log's \(mine.count) events for this PCR replays to the quoted value")
    }
}
