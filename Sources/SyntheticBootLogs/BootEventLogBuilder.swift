package import TPMWire

/// Builds a TCG PC Client crypto-agile boot event log (the format `BootEventLog` reads) the way firmware writes
/// one: a TCG_PCR_EVENT carrying the Spec ID event, an optional StartupLocality event, then one TCG_PCR_EVENT2 per
/// event with a digest of its data in every declared bank. For the lab's software TPMs and for the tests; not a
/// parser, and never given outside bytes.
///
/// ```c
/// typedef struct tdTCG_PCR_EVENT2 {
///     UINT32             pcrIndex;
///     UINT32             eventType;
///     TPML_DIGEST_VALUES digests;         // UINT32 count; { UINT16 hashAlg; BYTE digest[size]; }[count]
///     UINT32             eventSize;
///     BYTE               event[eventSize];
/// } TCG_PCR_EVENT2;
/// ```
///
/// An extending event's digest in each bank is the hash of its data (as firmware measures most events); an
/// EV_NO_ACTION event's digests are zeros. ``extends()`` lists what a TPM must be extended with for the log to
/// replay to its PCRs.
package struct BootEventLogBuilder: Sendable {
    /// One event as the log records it, before its digests are computed.
    package struct Event: Sendable, Hashable {
        package var pcrIndex: UInt32
        package var eventType: BootEventType
        package var eventData: [UInt8]

        package init(pcrIndex: UInt32, eventType: BootEventType, eventData: [UInt8]) {
            self.pcrIndex = pcrIndex
            self.eventType = eventType
            self.eventData = eventData
        }
    }

    /// One TPM2_PCR_Extend that firmware makes for an extending event: its PCR and its digest in every bank, in
    /// the order `TPMDevice.extendPCR` takes them.
    package struct Extend: Sendable {
        package var pcr: Int
        package var digests: [(TPMAlgorithm, [UInt8])]
    }

    /// The banks the log declares in its Spec ID event, in that order.
    package let algorithms: [TPMAlgorithm]
    /// The events after the Spec ID event (and the StartupLocality event), in log order.
    package var events: [Event] = []
    /// The locality the TPM was started from (TPM2_Startup); when set, an EV_NO_ACTION StartupLocality event
    /// follows the Spec ID event and PCR 0 replays from `00…0<locality>`.
    package var startupLocality: UInt8?

    /// An empty log with banks `algorithms`; each must be an implemented hash (`TPMAlgorithm.implementedHashes`):
    /// any other is a programming error and traps.
    package init(algorithms: [TPMAlgorithm] = [.sha1, .sha256]) {
        precondition(!algorithms.isEmpty && algorithms.allSatisfy(\.isImplementedHash),
                     "a synthetic boot log records implemented hash banks only, not \(algorithms)")
        self.algorithms = algorithms
    }

    /// Appends an event whose data is `text` in UTF-8.
    package mutating func add(pcr: UInt32, type: BootEventType, _ text: String) {
        add(pcr: pcr, type: type, data: Array(text.utf8))
    }

    /// Appends an event with binary data.
    package mutating func add(pcr: UInt32, type: BootEventType, data: [UInt8]) {
        events.append(Event(pcrIndex: pcr, eventType: type, eventData: data))
    }

    /// The Spec ID event's data (TCG_EfiSpecIDEvent): "Spec ID Event03", platform class client, version 2.0,
    /// UINTN of 8 bytes, one algorithm size per bank, no vendor information.
    package func specIDEvent() -> [UInt8] {
        var out = LittleEndianBytes()
        out.append(raw: Array("Spec ID Event03\0".utf8))
        out.append(UInt32(0))  // platformClass: client
        out.append(raw: [0, 2, 0, 2])  // specVersionMinor 0, specVersionMajor 2, specErrata 0, uintnSize 2 (UINT64)
        out.append(UInt32(algorithms.count))
        for algorithm in algorithms {
            out.append(algorithm.rawValue)
            out.append(UInt16(algorithm.digestSize ?? 0))
        }
        out.append(raw: [0])  // vendorInfoSize
        return out.bytes
    }

    /// The whole log: the Spec ID event as a TCG_PCR_EVENT (SHA-1-sized zero digest), then the events.
    package func bytes() -> [UInt8] {
        var out = LittleEndianBytes()
        let spec = specIDEvent()
        out.append(UInt32(0))
        out.append(BootEventType.noAction.rawValue)
        out.append(raw: [UInt8](repeating: 0, count: 20))
        out.append(UInt32(spec.count))
        out.append(raw: spec)
        for event in loggedEvents {
            out.append(event.pcrIndex)
            out.append(event.eventType.rawValue)
            let digests = digests(of: event)
            out.append(UInt32(digests.count))
            for (algorithm, digest) in digests {
                out.append(algorithm.rawValue)
                out.append(raw: digest)
            }
            out.append(UInt32(event.eventData.count))
            out.append(raw: event.eventData)
        }
        return out.bytes
    }

    /// The extends that take a TPM's PCRs from their values at TPM2_Startup to the log's replay: one per
    /// extending event, in log order.
    package func extends() -> [Extend] {
        events.filter { $0.eventType != .noAction }.map { Extend(pcr: Int($0.pcrIndex), digests: digests(of: $0)) }
    }

    /// The events in log order, the StartupLocality event first when there is one.
    var loggedEvents: [Event] {
        guard let startupLocality else { return events }
        let locality = Event(pcrIndex: 0, eventType: .noAction, eventData: Array("StartupLocality\0".utf8) + [startupLocality])
        return [locality] + events
    }

    func digests(of event: Event) -> [(TPMAlgorithm, [UInt8])] {
        algorithms.map { algorithm in
            guard event.eventType != .noAction else { return (algorithm, [UInt8](repeating: 0, count: algorithm.digestSize ?? 0)) }
            do {
                return (algorithm, try algorithm.hash(event.eventData))
            } catch {
                preconditionFailure("init admits implemented hashes only: \(error)")
            }
        }
    }
}
