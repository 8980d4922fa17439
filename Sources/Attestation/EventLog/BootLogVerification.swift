public import TPMWire
import Policy

/// The outcome of checking a boot event log (raw bytes) against a verified quote's PCRs, ready to print or
/// encode: the one call `verify --boot-log` makes.
public struct BootLogVerification: Sendable, Hashable, Encodable {
    public struct Divergence: Sendable, Hashable, Encodable {
        public var bank: String
        public var pcr: Int
        /// Index of the first event the quote does not account for (nil: the log has no event for the PCR).
        public var event: Int?
        public var eventType: String?
        public var offset: Int?
        public var replayed: String
        public var quoted: String
        public var reason: String
    }

    /// True when the log parses, replays to every compared PCR, and at least one PCR was compared.
    public var matches: Bool
    /// `eventlog.*` code when it does not match.
    public var code: String?
    public var reason: String?
    public var format: String?
    public var events: Int?
    /// Compared PCRs in tpm2-tools notation per bank (`sha256:0,1,2`).
    public var compared: [String]
    public var divergence: Divergence?

    /// Parses `bytes` and compares the log with `quoted` (the PCR values a verified quote proved).
    public init(bytes: [UInt8], against quoted: PCRBanks, pcrs: Set<Int>? = nil) {
        let log: BootEventLog
        do { log = try BootEventLog(bytes: bytes) } catch {
            self.init(matches: false, code: error.code.rawValue, reason: error.description, compared: [])
            return
        }
        let check = BootLogCheck(log, against: quoted, pcrs: pcrs)
        var compared: [String] = []
        for bank in Set(check.comparisons.map(\.bank)).sorted() {
            let list = check.comparisons.filter { $0.bank == bank }.map { String($0.pcr) }
            compared.append("\(bank.name):" + list.joined(separator: ","))
        }
        self.init(matches: check.matches, format: log.format.rawValue, events: log.events.count, compared: compared)
        if let d = check.divergence {
            let mismatch = check.comparisons.first { $0.bank == d.bank && $0.pcr == d.pcr }
            divergence = Divergence(bank: d.bank.name, pcr: d.pcr, event: d.event?.index,
                                    eventType: d.event.map { $0.eventType.description }, offset: d.event?.offset,
                                    replayed: mismatch.map { Hex.encode($0.replayed) } ?? "",
                                    quoted: mismatch.map { Hex.encode($0.quoted) } ?? "", reason: d.reason)
            code = EventLogError.Code.replayMismatch.rawValue
            reason = "the boot log does not replay to the quoted PCRs: \(d)"
        } else if check.comparisons.isEmpty {
            code = EventLogError.Code.notQuoted.rawValue
            let banks = log.replayableBanks.map(\.name).joined(separator: ", ")
            reason = "the quote covers none of the PCRs the boot log accounts for in a bank it records (\(banks))"
        }
    }

    init(matches: Bool, code: String? = nil, reason: String? = nil, format: String? = nil, events: Int? = nil,
         compared: [String]) {
        self.matches = matches
        self.code = code
        self.reason = reason
        self.format = format
        self.events = events
        self.compared = compared
    }

    /// One line for people.
    public var summary: String {
        if matches {
            return "boot log (\(format ?? ""), \(events ?? 0) events) replays to the quoted PCRs \(compared.joined(separator: " "))"
        }
        return "\(reason ?? "the boot log does not match")"
    }
}
