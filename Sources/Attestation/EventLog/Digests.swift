import Crypto

/// SHA-256, the digest of every named measurement (no algorithm to choose, so nothing to dispatch).
public enum Digests {
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] { Array(SHA256.hash(data: Array(data))) }
}
