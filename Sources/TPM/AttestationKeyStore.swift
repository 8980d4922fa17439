package import Foundation
import StateFiles
import TPMWire

/// Where `smig-attest tpm provision` keeps the attestation key between runs: `ak.json` (EK type, AK type and
/// the TPM2B_PUBLIC / TPM2B_PRIVATE blobs) in the state directory, written atomically with mode 0600.
///
/// The directory (mode 0700 when created) and the file are checked as `StateFiles` does: no symbolic links,
/// owner root or the current user, not writable by group or others. A file that fails the check is refused
/// with the `state.*` code and its path: a root process must not use a key blob another user could swap.
package struct AttestationKeyStore: Sendable {
    package let directory: URL

    package init(directory: URL) { self.directory = directory }

    package var blobURL: URL { directory.appendingPathComponent("ak.json") }

    package func save(_ blob: AttestationKeyBlob) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(blob)
        try Self.guarded { () throws(StateFileError) in
            try StateFiles.checkDirectory(directory.path, create: true)
            try StateFiles.writeAtomically(blobURL.path, Array(data))
        }
    }

    package func load() throws -> AttestationKeyBlob {
        guard StateFiles.exists(blobURL.path) else {
            throw TPMDeviceError(.keyState, "no attestation key at \(blobURL.path); run 'smig-attest tpm provision' first")
        }
        let data = try Self.guarded { () throws(StateFileError) in
            try StateFiles.checkDirectory(directory.path)
            return Data(try StateFiles.read(blobURL.path, limit: 1 << 20))
        }
        do {
            var blob = try JSONDecoder().decode(AttestationKeyBlob.self, from: data)
            _ = try blob.akPublic
            blob.source = blobURL.path
            return blob
        } catch {
            throw TPMDeviceError(.keyState, "\(blobURL.path) is not a valid attestation key file: \(error)")
        }
    }

    package var exists: Bool { StateFiles.exists(blobURL.path) }

    /// Runs a `StateFiles` call, turning its error into a ``TPMDeviceError`` with the same code, naming the path.
    static func guarded<T>(_ body: () throws(StateFileError) -> T) throws(TPMDeviceError) -> T {
        do {
            return try body()
        } catch {
            throw TPMDeviceError(.init(rawValue: error.code.rawValue), "\(error.path): \(error.reason)")
        }
    }
}
