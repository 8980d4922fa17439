import TPMWire

extension BootEventLogBuilder {
    /// A small SHA-256 log standing in for the firmware of a software TPM (the lab's hosts and the tests): for each
    /// of PCRs 0–7 an EV_ACTION event naming `firmware` and an EV_SEPARATOR. A different `firmware` gives
    /// different PCR values; ``extends()`` is what "booting" it extends.
    package init(firmware: String) {
        self.init(algorithms: [.sha256])
        for pcr: UInt32 in 0...7 {
            add(pcr: pcr, type: .action, "\(firmware): component of PCR \(pcr)")
            add(pcr: pcr, type: .separator, data: [0, 0, 0, 0])
        }
    }
}
