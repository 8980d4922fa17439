import Attestation
import Foundation
import Measurement
import Migration
import Policy
import RegionProtocol
import TPMWire

/// One parser of outside bytes and what it is fed. A target must never trap or hang: every input either parses
/// or is refused with a coded error (which the harness ignores).
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
}

enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "bundle-json") { bytes in
            guard let bundle = try? EvidenceBundle.decode(Data(bytes)) else { return }
            _ = bundle.verifySelfConsistencyOnly(freshness: .notChecked, selection: nil)
        },
        FuzzTarget(name: "previous-json") { bytes in
            _ = try? ClockObservation.decodeStrictly(bytes)
        },
        FuzzTarget(name: "tpm2-tools-pcrs") { bytes in
            _ = try? TPM2ToolsPCRFile(bytes: bytes)
        },
        FuzzTarget(name: "tpm2-tools-attest") { bytes in
            _ = try? Attest(wireBytes: bytes)
        },
        FuzzTarget(name: "tpm2-tools-signature") { bytes in
            _ = try? Signature(wireBytes: bytes)
        },
        FuzzTarget(name: "ak-public") { bytes in
            _ = try? AttestationKey(tpm2bPublic: bytes)
        },
        FuzzTarget(name: "policy-yaml") { bytes in
            _ = try? PolicyDocument(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
        },
        FuzzTarget(name: "measurement-log") { bytes in
            _ = try? MeasurementLog.parseRecords(bytes)
        },
        FuzzTarget(name: "boot-event-log") { bytes in
            _ = try? BootEventLog(bytes: bytes)
        },
        FuzzTarget(name: "inventory-rows") { bytes in
            InventoryFuzz.run(bytes)
        },
        FuzzTarget(name: "report-json") { bytes in
            // The RC-TCB's fast report reader answers nil or exactly what Foundation decodes; its writer, Foundation's bytes.
            let data = Data(bytes)
            guard let fast = RegionJSON.fastReport(data) else { return }
            let foundation = try? RegionJSON.decode(AIMReport.self, from: data)
            precondition(fast == foundation, "report-json: the fast reader read a report that Foundation reads differently or refuses")
            precondition(RegionJSON.fastEncode(fast) == RegionJSON.encode(fast), "report-json: the fast writer's bytes differ from JSONEncoder's")
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Feeds bytes to the inventory as the content of its SQLite file, then reads every table through it.
enum InventoryFuzz {
    static let directory: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-fuzz-inv-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        return dir
    }()

    static func run(_ bytes: [UInt8]) {
        let path = directory + "/vms.sqlite"
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        else { return }
        guard let inventory = try? VMInventory(path: path) else { return }
        _ = try? inventory.hosts()
        _ = try? inventory.vms()
        _ = try? inventory.openMigrations()
        _ = try? inventory.events()
        _ = try? inventory.reservedPorts(host: "a")
    }
}
