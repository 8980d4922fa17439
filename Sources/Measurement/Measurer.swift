package import Attestation
import Policy
import StateFiles
import TPMWire
import Synchronization

/// Extends a PCR's SHA-256 bank. The TPM device conforms in the CLI layer (Measurement does not import TPM).
package protocol PCRExtender: Sendable {
    /// TPM2_PCR_Extend of `sha256` into `pcr`'s SHA-256 bank.
    func extend(pcr: Int, sha256: [UInt8]) throws
    /// TPM2_PCR_Read of `pcr`'s SHA-256 bank.
    func read(pcr: Int) throws -> [UInt8]
}

/// A software PCR bank (SHA-256): for tests and dry runs. Not a TPM — nothing it holds is evidence.
package final class SoftwarePCRBank: PCRExtender {
    private let values = Mutex<[Int: [UInt8]]>([:])

    package init() {}

    package func extend(pcr: Int, sha256: [UInt8]) throws {
        try values.withLock { table in
            table[pcr] = try PCRBanks.extend(table[pcr] ?? PCRBanks.resetValue(.sha256), with: sha256, bank: .sha256)
        }
    }

    package func read(pcr: Int) throws -> [UInt8] {
        values.withLock { $0[pcr] ?? PCRBanks.resetValue(.sha256) }
    }
}

/// Records measurements: a measurement whose digest (and value) has not changed since its last extend is not
/// extended again; a new or changed one is appended to the log (durably) and then extended at once.
///
/// Order on every change: append + fsync, then extend. A crash between the two leaves one logged record the
/// PCR lacks; ``recover()`` finds exactly that case and completes the extend. Anything else is
/// ``MeasurementError/Code/logDiverged``.
package final class Measurer: Sendable {
    package let log: MeasurementLog
    package let extender: any PCRExtender
    package let pcr: Int

    /// The default runtime measurement PCR: 15 (debug PCR 16 and application PCR 23 are resettable by software).
    package static let defaultPCR = 15

    package init(log: MeasurementLog, extender: any PCRExtender, pcr: Int = Measurer.defaultPCR) {
        self.log = log
        self.extender = extender
        self.pcr = pcr
    }

    package enum Recovery: Sendable, Hashable {
        /// The PCR equals the replayed log.
        case consistent
        /// The last record had been logged but not extended; it has now been extended.
        case completedPendingExtend(recnum: Int)
    }

    /// Checks the log against the PCR after a (re)start, completing one interrupted extend.
    @discardableResult
    package func recover() throws(MeasurementError) -> Recovery {
        let records = log.records.filter { $0.pcr == pcr }
        let actual: [UInt8]
        do {
            actual = try extender.read(pcr: pcr)
        } catch {
            throw MeasurementError(.extendFailed, "PCR read failed: \(error)", subject: "PCR \(pcr)")
        }
        if try replay(records) == actual { return .consistent }
        if let last = records.last, try replay(Array(records.dropLast())) == actual,
           let digest = last.digest(.sha256)
        {
            try extend(digest)
            return .completedPendingExtend(recnum: last.recnum)
        }
        throw MeasurementError(.logDiverged,
                               "PCR \(pcr) is neither the replay of the log nor of the log less its last record; " +
                               "something else extended it, or the log is not this boot's",
                               subject: log.path)
    }

    /// The PCR value `records` lead to from the log's starting value (the reset value, unless the log was reset
    /// in the middle of the boot).
    private func replay(_ records: [MeasurementRecord]) throws(MeasurementError) -> [UInt8] {
        var value = log.startValues[pcr] ?? PCRBanks.resetValue(.sha256)
        for record in records {
            guard let digest = record.digest(.sha256) else { continue }
            do { value = try PCRBanks.extend(value, with: digest, bank: .sha256) } catch {
                throw MeasurementError(.logCorrupt, "\(error)", subject: log.path)
            }
        }
        return value
    }

    private func extend(_ digest: [UInt8]) throws(MeasurementError) {
        do {
            try extender.extend(pcr: pcr, sha256: digest)
        } catch {
            throw MeasurementError(.extendFailed, "PCR extend failed: \(error)", subject: "PCR \(pcr)")
        }
    }

    /// The last logged content per measurement key.
    package func lastContents() -> [String: MeasurementRecord.Content] {
        var last: [String: MeasurementRecord.Content] = [:]
        for record in log.records where record.pcr == pcr { last[record.content.key] = record.content }
        return last
    }

    /// Logs and extends every measurement that is new or changed; returns the records appended.
    @discardableResult
    package func record(_ measurements: [NamedMeasurement]) throws(MeasurementError) -> [MeasurementRecord] {
        var last = lastContents()
        var appended: [MeasurementRecord] = []
        for measurement in measurements {
            let content = measurement
            if let previous = last[content.key], previous.measurement == content.measurement,
               previous.value == content.value
            {
                continue
            }
            let record = try log.append(content, pcr: pcr)
            guard let digest = record.digest(.sha256) else {
                throw MeasurementError(.extendFailed, "record without a sha256 digest", subject: content.key)
            }
            try extend(digest)
            last[content.key] = content
            appended.append(record)
        }
        return appended
    }
}

extension Measurer {
    /// One measuring pass as `smig-attest measure --extend` and the agent do it: open (or continue) this boot's
    /// log at `logPath`, reconcile it with the PCR, then log and extend every new or changed measurement.
    ///
    /// The whole pass — reading the log's tail, extending, the fsync after each append — is one critical section
    /// across processes: an exclusive `flock` on `LOGPATH.lock` is held from before the log is read until the last
    /// extend, so two passes started together (a timer and an admin) take turns instead of numbering records twice.
    ///
    /// - Returns: the records appended by this pass (empty when nothing changed).
    @discardableResult
    package static func extend(_ measurements: [NamedMeasurement], logPath: String, extender: any PCRExtender,
                              pcr: Int = Measurer.defaultPCR, bootID: String? = nil) throws(MeasurementError)
        -> [MeasurementRecord]
    {
        let boot: String
        if let bootID { boot = bootID } else { boot = try MeasurementLog.currentBootID() }
        return try withLogLock(logPath) { () throws(MeasurementError) -> [MeasurementRecord] in
            let log = try MeasurementLog(path: logPath, bootID: boot)
            let measurer = Measurer(log: log, extender: extender, pcr: pcr)
            try measurer.recover()
            return try measurer.record(measurements)
        }
    }
}

extension Measurer {
    /// The lock file beside a measurement log (`LOGPATH.lock`).
    package static func lockPath(_ logPath: String) -> String { logPath + ".lock" }

    /// Runs `body` holding the log's lock (for `measure --reset-log`, which must not race a measuring pass).
    package static func withLogLock<T>(_ logPath: String, _ body: () throws(MeasurementError) -> T) throws(MeasurementError) -> T {
        let lock = try MeasurementLog.guarded { () throws(StateFileError) in
            try StateFiles.checkDirectory(StateFiles.directory(of: logPath))
            return try StateFiles.lock(lockPath(logPath))
        }
        defer { withExtendedLifetime(lock) {} }
        return try body()
    }
}
