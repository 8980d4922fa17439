import Policy
public import TPMWire

extension PCRBanks {
    /// The proven PCR values of a verified quote in the banks this toolkit can replay (a bank without an
    /// implemented hash is left out).
    public init(_ quote: VerifiedQuote) {
        self.init()
        for (bank, table) in quote.pcrs.values {
            guard bank.isImplementedHash else { continue }
            for (index, value) in table { self[bank, index] = value }
        }
    }
}
