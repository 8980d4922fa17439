#if canImport(Glibc)
import Glibc
#endif

/// The claim of one running RC-TCB on its directory: an exclusive advisory lock (flock) on `DIR/rctcb.lock`,
/// held for the life of the process. The kernel drops it when the process ends, however it ends, so a crashed
/// RC-TCB leaves no stale claim; the pid written into the file only names the holder for the error message.
///
/// Two RC-TCBs on one directory would both seed and change the same IVT, evacuate the same VMs and each issue
/// enrolment challenges the other cannot open.
package final class DirectoryLock: Sendable {
    /// The lock file's descriptor, open (with its lock) until deinit. A plain `Int32`, never changed: Sendable.
    let descriptor: Int32

    /// Takes the lock of `directory`, or fails with `rctcb.directory-in-use` naming the directory and the pid of
    /// the process that holds it (when it wrote one).
    package init(_ directory: RegionDirectory) throws(RegionError) {
        let path = directory.lockFile
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RegionError(.unsafeFile, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            let holder = Self.pid(in: fd)
            close(fd)
            guard e == EWOULDBLOCK else { throw RegionError(.unsafeFile, "cannot lock \(path): \(String(cString: strerror(e)))") }
            throw RegionError(.directoryInUse, "\(directory.path) is already served by another RC-TCB\(holder.map { " (pid \($0))" } ?? "")"
                + " (hint: stop it first, or give this one its own directory)")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// The pid the holder wrote into the lock file, if it has written one yet.
    static func pid(in fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }, as: UTF8.self))
    }
}
