import Crypto
import Foundation

/// A small TCG PC Client crypto-agile boot event log (SHA-256 bank) standing in for firmware on a software TPM
/// (the lab's hosts and tests): the Spec ID event, then for each of PCRs 0-7 an EV_ACTION event and an
/// EV_SEPARATOR, each event's digest the SHA-256 of its data (as firmware measures them). `extends` is what a
/// TPM must be extended with for the log to replay.
package struct SyntheticBootLog: Sendable {
    package struct Extend: Sendable {
        package var pcr: Int
        package var sha256: [UInt8]
    }

    package private(set) var bytes: [UInt8] = []
    package private(set) var extends: [Extend] = []

    static let evNoAction: UInt32 = 0x3
    static let evSeparator: UInt32 = 0x4
    static let evAction: UInt32 = 0x5

    /// `firmware` names what was "booted": a different name gives different PCR values.
    package init(firmware: String) {
        // Spec ID event (TCG_PCR_EVENT format, SHA-1-sized zero digest).
        var spec = Array("Spec ID Event03\0".utf8)
        spec += Self.le32(0)          // platformClass
        spec += [0, 2, 0, 2]          // specVersionMinor, specVersionMajor, specErrata, uintnSize
        spec += Self.le32(1)          // numberOfAlgorithms
        spec += Self.le16(0x000B) + Self.le16(32)  // SHA-256, 32 bytes
        spec += [0]                   // vendorInfoSize
        bytes += Self.le32(0) + Self.le32(Self.evNoAction) + [UInt8](repeating: 0, count: 20) + Self.le32(UInt32(spec.count)) + spec
        for pcr in 0...7 {
            append(pcr: pcr, type: Self.evAction, data: Array("\(firmware): component of PCR \(pcr)".utf8))
            append(pcr: pcr, type: Self.evSeparator, data: [0, 0, 0, 0])
        }
    }

    mutating func append(pcr: Int, type: UInt32, data: [UInt8]) {
        let digest = Array(SHA256.hash(data: data))
        bytes += Self.le32(UInt32(pcr)) + Self.le32(type) + Self.le32(1) + Self.le16(0x000B) + digest + Self.le32(UInt32(data.count)) + data
        extends.append(Extend(pcr: pcr, sha256: digest))
    }

    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
}
