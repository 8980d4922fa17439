import Crypto
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Reads byte ranges on a helper thread while the caller hashes: a small ring of buffers, so a slow source (reading
/// another process's memory through `/proc/PID/mem` copies every page twice in the kernel) overlaps with
/// SHA-256 instead of adding to it.
///
/// `@unchecked Sendable`: the two buffers are handed back and forth with semaphores — the reader writes a
/// buffer only after `free` is signalled for it and the consumer reads it only after `filled` is signalled,
/// so no buffer is ever touched by both threads at once; `results[i]` follows the same hand-over.
final class PipelinedReader: @unchecked Sendable {
    struct Range {
        var file: POSIXFile
        var offset: UInt64
        var length: UInt64
    }

    static let bufferSize = 512 << 10
    /// Buffers in flight: the reader can run up to `slots - 1` chunks ahead, which absorbs scheduling jitter.
    static let slots = 8

    private let buffers: [UnsafeMutableRawBufferPointer]
    private var results: [Result<Int, MeasurementError>]
    /// Created at 0 and signalled `slots` times in `init`: libdispatch traps when a semaphore is released with a
    /// value below its initial one, which an error path (reader stops, consumer throws) would otherwise cause.
    private let free = DispatchSemaphore(value: 0)
    private let filled = DispatchSemaphore(value: 0)

    init() {
        buffers = (0..<Self.slots).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 64) }
        results = Array(repeating: .success(0), count: Self.slots)
        for _ in 0..<Self.slots { free.signal() }
    }

    deinit { buffers.forEach { $0.deallocate() } }

    /// One piece of a range placed in a buffer.
    struct Piece {
        var range: Int
        var offset: UInt64
        var length: Int
        var bufferOffset: Int
    }

    /// Calls `consume` for each range in order with (range index, bytes). Small ranges share a buffer, so the
    /// threads hand over a few large chunks rather than one per mapping. A short read is an error.
    func run(_ ranges: [Range], shortReadCode: MeasurementError.Code,
             consume: (Int, UnsafeRawBufferPointer) -> Void) throws(MeasurementError) {
        // Plan: chunks of pieces, each chunk filling at most one buffer.
        var chunks: [[Piece]] = []
        var current: [Piece] = []
        var used = 0
        for (index, range) in ranges.enumerated() {
            var done: UInt64 = 0
            while done < range.length {
                if used == Self.bufferSize {
                    chunks.append(current)
                    current = []
                    used = 0
                }
                let length = Int(min(UInt64(Self.bufferSize - used), range.length - done))
                current.append(Piece(range: index, offset: done, length: length, bufferOffset: used))
                used += length
                done += UInt64(length)
            }
        }
        if !current.isEmpty { chunks.append(current) }
        let plan = chunks
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            for (number, pieces) in plan.enumerated() {
                free.wait()
                let slot = number % Self.slots
                var failure: MeasurementError?
                pieces: for piece in pieces {
                    let range = ranges[piece.range]
                    let target = UnsafeMutableRawBufferPointer(
                        rebasing: buffers[slot][piece.bufferOffset..<(piece.bufferOffset + piece.length)])
                    var got = 0
                    while got < piece.length {
                        do throws(MeasurementError) {
                            let at = range.offset + piece.offset + UInt64(got)
                            let count = try range.file.read(into: UnsafeMutableRawBufferPointer(rebasing: target[got...]),
                                                            offset: at)
                            if count == 0 {
                                failure = MeasurementError(shortReadCode, "short read at offset \(at)", subject: range.file.path)
                                break pieces
                            }
                            got += count
                        } catch {
                            failure = error
                            break pieces
                        }
                    }
                }
                results[slot] = failure.map { .failure($0) } ?? .success(0)
                filled.signal()
                if failure != nil { return }
            }
        }
        for (number, pieces) in plan.enumerated() {
            filled.wait()
            let slot = number % Self.slots
            if case let .failure(error) = results[slot] {
                throw error  // the reader stopped after this chunk
            }
            for piece in pieces {
                consume(piece.range, UnsafeRawBufferPointer(
                    rebasing: buffers[slot][piece.bufferOffset..<(piece.bufferOffset + piece.length)]))
            }
            free.signal()
        }
    }
}

