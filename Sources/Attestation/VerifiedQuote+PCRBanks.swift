import Policy
import TPMWire

extension PCRBanks {
    /// The proven PCR values of a verified quote, in the evaluation's neutral form.
    public init(_ quote: VerifiedQuote) {
        self.init()
        for (bank, table) in quote.pcrs {
            guard bank.isImplementedHash else { continue }
            for (index, value) in table { self[bank, index] = value }
        }
    }
}
