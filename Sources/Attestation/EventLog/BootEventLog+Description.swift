import TPMWire

extension BootEventLog.Event {
    /// A short human description of the event data: its text when the data is text (ASCII, or UTF-16LE as
    /// UEFI writes it), the signature of an EV_NO_ACTION event, the UTF-16 strings inside binary UEFI
    /// structures (the file path of an image load event, the name of a variable), else its size.
    public var dataDescription: String {
        if eventType == .noAction, let signature = noActionSignature {
            if signature == "StartupLocality", eventData.count == 17 { return "StartupLocality \(eventData[16])" }
            return signature
        }
        let trimmed = eventData.reversed().drop { $0 == 0 }.reversed()
        if !trimmed.isEmpty, trimmed.allSatisfy(Self.isPrintableASCII) {
            return String(decoding: trimmed.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)
        }
        let runs = Self.utf16Runs(eventData, minimum: 3)
        if !runs.isEmpty { return runs.joined(separator: " ") }
        return "\(eventData.count) bytes"
    }

    static func isPrintableASCII(_ byte: UInt8) -> Bool { (0x20..<0x7F).contains(byte) || byte == 0x09 || byte == 0x0A }

    /// Runs of at least `minimum` printable UTF-16LE characters (ASCII range) at even or odd offsets.
    static func utf16Runs(_ bytes: [UInt8], minimum: Int) -> [String] {
        var best: [String] = []
        for start in 0..<min(2, bytes.count) {
            var runs: [String] = []
            var current: [UInt8] = []
            var index = start
            while index + 1 < bytes.count {
                if bytes[index + 1] == 0, (0x20..<0x7F).contains(bytes[index]) {
                    current.append(bytes[index])
                } else {
                    if current.count >= minimum { runs.append(String(decoding: current, as: UTF8.self)) }
                    current = []
                }
                index += 2
            }
            if current.count >= minimum { runs.append(String(decoding: current, as: UTF8.self)) }
            if runs.map(\.count).reduce(0, +) > best.map(\.count).reduce(0, +) { best = runs }
        }
        return best
    }
}
