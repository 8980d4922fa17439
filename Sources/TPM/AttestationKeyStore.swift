public import Foundation
import TPMWire

/// Where `smig-attest tpm provision` keeps the attestation key between runs: `ak.json` (EK type, AK type and
/// the TPM2B_PUBLIC / TPM2B_PRIVATE blobs) in the state directory, written atomically with mode 0600.
public struct AttestationKeyStore: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public var blobURL: URL { directory.appendingPathComponent("ak.json") }

    public func save(_ blob: AttestationKeyBlob) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(blob)
        try data.write(to: blobURL, options: [.atomic])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: blobURL.path)
    }

    public func load() throws -> AttestationKeyBlob {
        guard let data = FileManager.default.contents(atPath: blobURL.path) else {
            throw TPMDeviceError(.keyState, "no attestation key at \(blobURL.path); run 'smig-attest tpm provision' first")
        }
        do {
            let blob = try JSONDecoder().decode(AttestationKeyBlob.self, from: data)
            _ = try blob.akPublic
            return blob
        } catch {
            throw TPMDeviceError(.keyState, "\(blobURL.path) is not a valid attestation key file: \(error)")
        }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: blobURL.path) }
}
