import Foundation
package import Migration

extension QEMUDriver {
    /// Reads a 32-bit little-endian word of guest physical memory over QMP (`xp`): how tests, `bench migrate`
    /// and the demo watch the built-in guest's counter keep counting across a migration.
    package func readGuestWord(_ instance: VMInstance, physicalAddress: UInt64) async throws -> UInt32 {
        let qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        defer { qmp.close() }
        let text = try await qmp.human("xp /1wx 0x\(String(physicalAddress, radix: 16))")
        // "0000000000007e00: 0x0077aed9"
        guard let colon = text.firstIndex(of: ":") else {
            throw MigrationError(.qmpProtocol, "unexpected xp output: \(text.prefix(80))")
        }
        let hex = text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.hasPrefix("0x"), let value = UInt32(hex.dropFirst(2), radix: 16) else {
            throw MigrationError(.qmpProtocol, "unexpected xp output: \(text.prefix(80))")
        }
        return value
    }
}
