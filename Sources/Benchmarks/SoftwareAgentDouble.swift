package import Attestation
import Crypto
import Foundation
import Policy
package import RegionTCB
package import TPMWire

/// BENCHMARK DOUBLE — a simulated host whose "TPM" is a software ECDSA P-256 key, not a TPM.
///
/// It answers challenges with real TPM formats: a TPMS_ATTEST quote structure (magic, TPM_ST_ATTEST_QUOTE, the
/// AK's Name as qualifiedSigner, the challenge as extraData, clockInfo, the PCR selection and digest) and a
/// TPMT_SIGNATURE (ECDSA-SHA256) by its software key, with a measurement log that replays to its PCR 15. So the
/// RC-TCB's verification runs unchanged on its evidence. Nothing binds the key to a TPM: such a key can never
/// pass enrolment (no EK certificate, no TPM2_ActivateCredential), and doubles are written only into a
/// throwaway benchmark IVT by ``BenchmarkRegion`` — never into a real region.
package final class SoftwareAgentDouble: @unchecked Sendable {
    // @unchecked Sendable: the mutable TPM clock is guarded by `lock`; everything else is immutable.
    package let hostId: String
    let key: P256.Signing.PrivateKey
    /// TPM2B_PUBLIC of the software key, in the shape of a restricted ECC signing AK.
    package let akPublic: [UInt8]
    package let akName: [UInt8]
    let records: [MeasurementRecord]
    /// PCR values by index (SHA-256 bank): PCRs 0-7 zero, PCR 15 the replay of `records`.
    let pcrs: [Int: [UInt8]]
    let lock = NSLock()
    var clock: UInt64 = 1_000
    package let resetCount: UInt32 = 1
    package let restartCount: UInt32 = 0

    /// `measurement`: the SHA-256 this host's single measured file has (the benchmark's golden value).
    package init(hostId: String, measurementName: String, measurement: [UInt8]) throws {
        self.hostId = hostId
        key = P256.Signing.PrivateKey()
        let x963 = Array(key.publicKey.x963Representation)
        var area = AKType.eccP256.template
        if case .ecc(let sym, let scheme, let curve, let kdf, _, _) = area.parameters {
            area.parameters = .ecc(symmetric: sym, scheme: scheme, curve: curve, kdf: kdf, x: Array(x963[1...32]), y: Array(x963[33...64]))
        }
        let pub = Public(area)
        akPublic = pub.wireBytes
        akName = try pub.name
        let content = MeasurementRecord.Content(source: "file", name: measurementName, measurement: Hex.encode(measurement),
                                                detail: "benchmark double")
        records = [try MeasurementRecord(recnum: 0, pcr: 15, content: content)]
        var values: [Int: [UInt8]] = [:]
        for pcr in 0...7 { values[pcr] = PCRBanks.resetValue(.sha256, pcr: pcr) }
        values.merge(try MeasurementReplay.replay(records), uniquingKeysWith: { _, b in b })
        pcrs = values
    }

    /// A quote over `nonce` and `selection` (SHA-256 bank only), signed by the software key, as an evidence bundle.
    package func evidence(nonce: [UInt8], selection: PCRSelectionList) throws -> EvidenceBundle {
        let values = selection.orderedPCRs.map { pcrs[Int($0.pcr)] ?? PCRBanks.resetValue(.sha256, pcr: Int($0.pcr)) }
        let digest = Array(SHA256.hash(data: values.flatMap { $0 }))
        let now: UInt64 = lock.withLock { clock += 10; return clock }
        let attest = Attest(qualifiedSigner: akName, extraData: nonce,
                            clockInfo: ClockInfo(clock: now, resetCount: resetCount, restartCount: restartCount, safe: true),
                            firmwareVersion: 0x2024_0101, attested: .quote(QuoteInfo(pcrSelect: selection, pcrDigest: digest)))
        let bytes = attest.wireBytes
        let sig = try key.signature(for: bytes)
        let raw = Array(sig.rawRepresentation)
        let signature = Signature.ecdsa(hash: .sha256, r: Array(raw[0..<32]), s: Array(raw[32..<64])).wireBytes
        return EvidenceBundle(hostId: hostId, akPublic: akPublic, akName: akName, nonce: nonce, attest: bytes, signature: signature,
                              selection: selection, pcrValues: values, eventLog: records, agentTime: Date())
    }
}

extension SoftwareAgentDouble {
    /// What the benchmark-only IVT records of this double (``IVTStore/enrolBenchmarkDoubles(_:now:)``).
    package var ivtKey: IVTStore.BenchmarkDoubleKey { .init(hostId: hostId, akPublic: akPublic, akName: akName) }
}
