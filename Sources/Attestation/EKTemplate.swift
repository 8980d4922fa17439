public import TPMWire

/// Recognises an EK by its public area: the attributes, authPolicy, name algorithm and parameters of one of the
/// TCG EK Credential Profile templates (`EKType`), whatever its unique field (the key itself).
public enum EKTemplate {
    /// The template `ek` was made from, or nil when it matches none (not an EK: e.g. a key the host made itself).
    public static func type(of ek: Public) -> EKType? {
        EKType.allCases.first { matches(ek.publicArea, $0.template) }
    }

    static func matches(_ a: PublicArea, _ t: PublicArea) -> Bool {
        guard a.nameAlg == t.nameAlg, a.objectAttributes == t.objectAttributes, a.authPolicy == t.authPolicy else { return false }
        switch (a.parameters, t.parameters) {
        case let (.rsa(s1, sc1, bits1, e1, _), .rsa(s2, sc2, bits2, e2, _)):
            return s1 == s2 && sc1 == sc2 && bits1 == bits2 && (e1 == e2 || (e1 == 65537 && e2 == 0))
        case let (.ecc(s1, sc1, c1, k1, _, _), .ecc(s2, sc2, c2, k2, _, _)):
            return s1 == s2 && sc1 == sc2 && c1 == c2 && k1 == k2
        default:
            return false
        }
    }
}
