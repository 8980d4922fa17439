package import ArgumentParser
package import Foundation
import TPM

/// Where the TPM is.
package struct TPMOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("TCTI of the TPM (swtpm:host=127.0.0.1,port=N, device:/dev/tpmrm0, mssim:...).", valueName: "tcti"))
    package var tcti: String?

    package init() {}

    package var resolvedTCTI: String { tcti ?? TPMDevice.environmentTCTI }

    func open() throws -> TPMDevice { try TPMDevice(tcti: resolvedTCTI) }
}

/// Where keys and state files live.
package struct StateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory for the attestation key and other state (default $SMIG_STATE_DIR or /var/lib/smig-attest).", valueName: "dir"))
    package var stateDir: String?

    package init() {}

    package var directory: URL {
        URL(fileURLWithPath: stateDir ?? ProcessInfo.processInfo.environment["SMIG_STATE_DIR"] ?? "/var/lib/smig-attest")
    }

    var keyStore: AttestationKeyStore { AttestationKeyStore(directory: directory) }
}

/// `--json`.
package struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    package var json = false

    package init() {}
}
