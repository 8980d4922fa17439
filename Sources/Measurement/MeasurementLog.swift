#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
package import Attestation
import Foundation
import Policy
import StateFiles
import Synchronization
import TPMWire

/// The persistent, append-only measurement log of one boot: a header line, then one CEL-JSON record per
/// line (``MeasurementRecord``), each append `fsync`'d before the PCR is extended.
///
/// Reopening continues the same log (same boot id). A different boot id means the host rebooted and the PCRs
/// were reset: the old file is kept as `PATH.prev` and a new log starts. A torn last line (a crash in the
/// middle of an append) is cut off on open and reported in ``recoveredTornBytes``; any other damage is
/// ``MeasurementError/Code/logCorrupt`` — the log is evidence and is never silently rewritten.
package final class MeasurementLog: Sendable {
    struct Header: Codable {
        var format: String
        var bootID: String
        /// PCR values (index → hex) the log starts from, after `measure --reset-log`; absent from a log begun at boot.
        var pcrStart: [String: String]?
        enum CodingKeys: String, CodingKey {
            case format
            case bootID = "boot_id"
            case pcrStart = "pcr_start"
        }
    }

    static let format = "smig-measurement-log/1"

    /// The log's file name in a host's state directory: where the agent, `measure` and `quote` keep and look for it.
    package static let fileName = "measurements.log"

    /// The log's path in the state directory `directory`.
    package static func path(inStateDirectory directory: String) -> String { "\(directory)/\(fileName)" }

    package let path: String
    package let bootID: String
    /// Bytes of a torn last line removed when the log was opened (0 normally).
    package let recoveredTornBytes: Int
    /// True when the log was started afresh because the boot id changed (the old one is at `path + ".prev"`).
    package let rotated: Bool
    private let state: Mutex<[MeasurementRecord]>
    private let fd: Int32

    /// The records so far, in order.
    package var records: [MeasurementRecord] { state.withLock { $0 } }

    /// The boot id of the running kernel (`/proc/sys/kernel/random/boot_id`).
    package static func currentBootID() throws(MeasurementError) -> String {
        String(decoding: try POSIXFile.readAll("/proc/sys/kernel/random/boot_id", limit: 4096), as: UTF8.self)
            .trimmingSpaces()
    }

    /// PCR values the log starts from (PCR index → SHA-256 value), set when the log was restarted in the middle of a
    /// boot with ``reset(path:bootID:pcrValues:)``; empty for a log begun at boot (all PCRs at their reset value).
    package let startValues: [Int: [UInt8]]

    /// Opens (or creates) the log at `path` for the boot `bootID`.
    ///
    /// The log's directory must be safe (see `StateFiles`): the file is never opened through a link, is created
    /// with mode 0600, and one owned by another user or writable by group or others is refused.
    package init(path: String, bootID: String) throws(MeasurementError) {
        self.path = path
        self.bootID = bootID
        var records: [MeasurementRecord] = []
        var torn = 0
        var rotated = false
        var startValues: [Int: [UInt8]] = [:]
        try Self.guarded { () throws(StateFileError) in try StateFiles.checkDirectory(StateFiles.directory(of: path)) }
        var fd: Int32 = -1
        if StateFiles.exists(path) {
            fd = try Self.guarded { () throws(StateFileError) in try StateFiles.open(path, flags: O_RDWR | O_APPEND) }
            let bytes = try Self.guarded { () throws(StateFileError) in
                try StateFiles.read(fd: fd, path: path, limit: Self.maximumSize)
            }
            if !bytes.contains(0x0A) {
                // A crash while the header was being written: no record can exist yet. Keep the bytes aside.
                close(fd)
                fd = -1
                guard rename(path, path + ".torn") == 0 else {
                    throw MeasurementError(.io, "cannot set aside a torn header: \(POSIXFile.errnoText())", subject: path)
                }
                torn = bytes.count
            } else {
                let parsed: (header: Header, records: [MeasurementRecord], validLength: Int)
                do throws(MeasurementError) {
                    parsed = try Self.parse(bytes, path: path)
                } catch {
                    close(fd)
                    throw error
                }
                if parsed.header.bootID != bootID {
                    close(fd)
                    fd = -1
                    guard rename(path, path + ".prev") == 0 else {
                        throw MeasurementError(.io, "cannot rotate the log: \(POSIXFile.errnoText())", subject: path)
                    }
                    rotated = true
                } else {
                    records = parsed.records
                    startValues = try Self.startValues(parsed.header, path: path)
                    if parsed.validLength < bytes.count {
                        torn = bytes.count - parsed.validLength
                        guard ftruncate(fd, off_t(parsed.validLength)) == 0, fsync(fd) == 0 else {
                            let text = POSIXFile.errnoText()
                            close(fd)
                            throw MeasurementError(.io, "cannot cut the torn last line: \(text)", subject: path)
                        }
                    }
                }
            }
        }
        let create = fd < 0
        if create {
            fd = try Self.guarded { () throws(StateFileError) in
                try StateFiles.open(path, flags: O_WRONLY | O_APPEND, create: true)
            }
        }
        self.fd = fd
        self.recoveredTornBytes = torn
        self.rotated = rotated
        self.startValues = startValues
        self.state = Mutex(records)
        if create {
            try writeLine(Self.headerLine(bootID: bootID, startValues: [:]))
            StateFiles.syncDirectory(StateFiles.directory(of: path))
        }
    }

    deinit { close(fd) }

    /// The largest log read (1 GiB).
    static let maximumSize = 1 << 30

    static func headerLine(bootID: String, startValues: [Int: [UInt8]]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var header = Header(format: Self.format, bootID: bootID)
        if !startValues.isEmpty {
            header.pcrStart = Dictionary(uniqueKeysWithValues: startValues.map { (String($0.key), Hex.encode($0.value)) })
        }
        return Array((try? encoder.encode(header)) ?? Data())
    }

    static func startValues(_ header: Header, path: String) throws(MeasurementError) -> [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        for (key, hex) in header.pcrStart ?? [:] {
            guard let index = Int(key), (0...23).contains(index), String(index) == key,
                  let value = Hex.decode(hex), value.count == 32 else {
                throw MeasurementError(.logCorrupt, "the header's pcr_start entry '\(key)' is not a PCR 0-23 with a SHA-256 value",
                                       subject: path, offset: 0)
            }
            out[index] = value
        }
        return out
    }

    /// Runs a `StateFiles` call, turning its error into a ``MeasurementError`` with the same code and path.
    static func guarded<T>(_ body: () throws(StateFileError) -> T) throws(MeasurementError) -> T {
        do {
            return try body()
        } catch {
            throw MeasurementError(.init(rawValue: error.code.rawValue), error.reason, subject: error.path)
        }
    }

    /// Reads the complete records of a log file without opening it for appending (a torn last line is left
    /// out, not repaired). For attaching the log to evidence.
    package static func readRecords(path: String) throws(MeasurementError) -> [MeasurementRecord] {
        let bytes = try guarded { () throws(StateFileError) in try StateFiles.read(path, limit: maximumSize) }
        return try parse(bytes, path: path).records
    }

    /// Parses the bytes of a log file (header and complete records; a torn last line is left out). For readers of
    /// a log that is not on disk, and for fuzzing the parser.
    package static func parseRecords(_ bytes: [UInt8]) throws(MeasurementError) -> [MeasurementRecord] {
        try parse(bytes, path: "<bytes>").records
    }

    /// Starts a new log for this boot at `path`, keeping the old file (damaged or not) as
    /// `PATH.damaged-<UTC time>` for inspection. The new log records `pcrValues` (the PCRs as they are now) as
    /// its starting point, so measuring can continue; measurements made before the reset cannot be proven any
    /// more, and a verifier replaying the log from the boot's reset values will see that until the next boot.
    ///
    /// - Returns: the name the old file was kept under (nil when there was none).
    @discardableResult
    package static func reset(path: String, bootID: String, pcrValues: [Int: [UInt8]])
        throws(MeasurementError) -> String?
    {
        try guarded { () throws(StateFileError) in try StateFiles.checkDirectory(StateFiles.directory(of: path)) }
        var kept: String?
        if StateFiles.exists(path) {
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            var name = "\(path).damaged-\(stamp)"
            var n = 1
            while StateFiles.exists(name) {
                n += 1
                name = "\(path).damaged-\(stamp)-\(n)"
            }
            guard rename(path, name) == 0 else {
                throw MeasurementError(.io, "cannot keep the old log as \(name): \(POSIXFile.errnoText())", subject: path)
            }
            kept = name
        }
        var line = headerLine(bootID: bootID, startValues: pcrValues)
        line.append(0x0A)
        let fd = try guarded { () throws(StateFileError) in
            try StateFiles.open(path, flags: O_WRONLY | O_APPEND | O_EXCL, create: true)
        }
        defer { close(fd) }
        try guarded { () throws(StateFileError) in try StateFiles.write(fd: fd, path: path, line) }
        guard fsync(fd) == 0 else { throw MeasurementError(.io, "fsync failed: \(POSIXFile.errnoText())", subject: path) }
        StateFiles.syncDirectory(StateFiles.directory(of: path))
        return kept
    }

    /// Parses a log file: header, records; returns the length of the valid prefix (before a torn last line).
    static func parse(_ bytes: [UInt8], path: String) throws(MeasurementError)
        -> (header: Header, records: [MeasurementRecord], validLength: Int)
    {
        guard let headerEnd = bytes.firstIndex(of: 0x0A) else {
            throw MeasurementError(.logCorrupt, "the log has no complete header line", subject: path, offset: 0)
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[0..<headerEnd])),
              header.format == format
        else {
            throw MeasurementError(.logCorrupt, "the header is not a \(format) header", subject: path, offset: 0)
        }
        let body = Array(bytes[(headerEnd + 1)...])
        // A torn last line is a tail without a newline; everything before the last newline must parse.
        let complete = (body.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        let records: MeasurementLogRecords
        do {
            records = try MeasurementLogRecords(jsonLines: Array(body[0..<complete]))
            try MeasurementReplay.checkStructure(records.records)
        } catch {
            throw MeasurementError(.logCorrupt, error.description, subject: path,
                                   offset: error.offset.map { $0 + headerEnd + 1 })
        }
        return (header, records.records, headerEnd + 1 + complete)
    }

    private func writeLine(_ line: [UInt8]) throws(MeasurementError) {
        var data = line
        data.append(0x0A)
        var written = 0
        while written < data.count {
            let count = data.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw MeasurementError(.io, "append failed: \(POSIXFile.errnoText())", subject: path)
            }
            written += count
        }
        guard fsync(fd) == 0 else { throw MeasurementError(.io, "fsync failed: \(POSIXFile.errnoText())", subject: path) }
    }

    /// Appends a record for `content` (numbered after the last one) and makes it durable.
    @discardableResult
    package func append(_ content: MeasurementRecord.Content, pcr: Int) throws(MeasurementError) -> MeasurementRecord {
        try state.withLock { (records: inout [MeasurementRecord]) throws(MeasurementError) -> MeasurementRecord in
            let record: MeasurementRecord
            do { record = try MeasurementRecord(recnum: records.count, pcr: pcr, content: content) } catch {
                throw MeasurementError(.io, "\(error)", subject: path)
            }
            try writeLine(record.jsonLine())
            records.append(record)
            return record
        }
    }
}
