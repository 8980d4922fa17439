#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto

/// A read-only file descriptor that closes itself: one owner per descriptor.
///
/// `@unchecked Sendable`: both properties are immutable and the only operation, `pread`/`read`, is safe to
/// call from any thread (the pipelined reader uses `pread`, which has no shared file position).
final class POSIXFile: @unchecked Sendable {
    let fd: Int32
    let path: String

    init(path: String, code: MeasurementError.Code = .io) throws(MeasurementError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MeasurementError(code, "cannot open: \(POSIXFile.errnoText())", subject: path)
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    static func errnoText(_ value: Int32 = errno) -> String {
        String(cString: strerror(value))
    }

    /// Reads up to `buffer.count` bytes at `offset` (pread) or at the current position (`offset == nil`),
    /// retrying on EINTR. Returns the byte count (0 at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, offset: UInt64?) throws(MeasurementError) -> Int {
        while true {
            let count: Int
            if let offset {
                guard let signed = off_t(exactly: offset) else {
                    throw MeasurementError(.io, "offset \(offset) does not fit off_t", subject: path)
                }
                count = pread(fd, buffer.baseAddress, buffer.count, signed)
            } else {
                count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            }
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw MeasurementError(.io, "read failed: \(POSIXFile.errnoText())", subject: path)
        }
    }

    /// The whole file, refusing files larger than `limit` (procfs files report size 0, so it reads to EOF).
    static func readAll(_ path: String, limit: Int = 64 << 20, code: MeasurementError.Code = .io) throws(MeasurementError) -> [UInt8] {
        let file = try POSIXFile(path: path, code: code)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = try withMutableBytes(&chunk) { buffer throws(MeasurementError) in
                try file.read(into: buffer, offset: nil)
            }
            if count == 0 { return out }
            out.append(contentsOf: chunk[0..<count])
            if out.count > limit {
                throw MeasurementError(.io, "file is larger than \(limit) bytes", subject: path)
            }
        }
    }
}

/// Streaming SHA-256 over a file or a memory range, with one reused buffer.
struct StreamingSHA256 {
    /// 1 MiB: large enough that per-call overhead vanishes next to hashing, small enough to stay in cache.
    static let chunkSize = 1 << 20

    /// Hashes `length` bytes at `offset` of `file` (or the whole file from its current position when `length`
    /// is nil), feeding `hasher`. Returns the bytes hashed. A short read of a fixed range is an error.
    static func feed(_ hasher: inout SHA256, file: POSIXFile, offset: UInt64? = nil, length: UInt64? = nil,
                     buffer: UnsafeMutableRawBufferPointer, shortReadCode: MeasurementError.Code = .io)
        throws(MeasurementError) -> UInt64
    {
        var done: UInt64 = 0
        while length.map({ done < $0 }) ?? true {
            let want = length.map { Int(min(UInt64(buffer.count), $0 - done)) } ?? buffer.count
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            let position: UInt64? = offset.map { $0 &+ done }
            let count = try file.read(into: slice, offset: position)
            if count == 0 {
                if length != nil {
                    throw MeasurementError(shortReadCode, "short read: \(done) of \(length ?? 0) bytes", subject: file.path)
                }
                break
            }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: slice[0..<count]))
            done += UInt64(count)
        }
        return done
    }

    static func withBuffer<R>(_ body: (UnsafeMutableRawBufferPointer) throws(MeasurementError) -> R) throws(MeasurementError) -> R {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { buffer.deallocate() }
        return try body(buffer)
    }

    /// SHA-256 of a whole file and its length.
    static func file(_ path: String) throws(MeasurementError) -> (digest: [UInt8], bytes: UInt64) {
        let file = try POSIXFile(path: path)
        var hasher = SHA256()
        let count = try withBuffer { buffer throws(MeasurementError) in
            try feed(&hasher, file: file, buffer: buffer)
        }
        return (Array(hasher.finalize()), count)
    }
}

/// `withUnsafeMutableBytes` for typed-throwing bodies (the standard library's version rethrows `any Error`).
func withMutableBytes<R>(_ array: inout [UInt8],
                         _ body: (UnsafeMutableRawBufferPointer) throws(MeasurementError) -> R) throws(MeasurementError) -> R {
    let result: Result<R, MeasurementError> = array.withUnsafeMutableBytes { raw in
        Result { () throws(MeasurementError) -> R in try body(raw) }
    }
    return try result.get()
}
