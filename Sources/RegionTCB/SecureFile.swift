#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(CDispatch)
import CDispatch
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and writes the RC-TCB's key and certificate files: keys are created 0600, nothing is overwritten
/// unless asked, symbolic links are never followed.
enum SecureFile {
    /// Writes `bytes` to `path` with `mode`; refuses an existing file unless `replace`.
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t, replace: Bool) throws(RegionError) {
        if replace { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST { throw RegionError(.directoryExists, "\(path) exists (use --force to replace it)") }
            throw RegionError(.unsafeFile, "cannot create \(path): \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        fchmod(fd, mode)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw RegionError(.unsafeFile, "cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw RegionError(.unsafeFile, "cannot sync \(path)") }
    }

    /// Reads `path` (at most 1 MiB), refusing symbolic links, and — when `secret` — files that others may read
    /// or write.
    static func read(_ path: String, secret: Bool) throws(RegionError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ELOOP { throw RegionError(.unsafeFile, "\(path) is a symbolic link; refusing to follow it") }
            throw RegionError(.directoryMissing, "cannot open \(path): \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw RegionError(.unsafeFile, "\(path) is not a regular file") }
        if secret, st.st_mode & 0o077 != 0 {
            throw RegionError(.unsafeFile, "\(path) has mode \(String(st.st_mode & 0o777, radix: 8)); a key file must be 0600")
        }
        if st.st_mode & 0o022 != 0 {
            throw RegionError(.unsafeFile, "\(path) is writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8)))")
        }
        guard st.st_size <= 1 << 20 else { throw RegionError(.unsafeFile, "\(path) is larger than 1 MiB") }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var offset = 0
        while offset < out.count {
            let n = out[offset...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw RegionError(.unsafeFile, "cannot read \(path)") }
            offset += n
        }
        return out
    }

    /// Creates `path` as a 0700 directory (or checks an existing one is a directory, not a link, not writable by others).
    static func directory(_ path: String) throws(RegionError) {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw RegionError(.unsafeFile, "\(path) is not a directory (or is a symbolic link)") }
            guard st.st_mode & 0o022 == 0 else { throw RegionError(.unsafeFile, "\(path) is writable by group or others") }
            return
        }
        guard mkdir(path, 0o700) == 0 else { throw RegionError(.unsafeFile, "cannot create \(path): \(String(cString: strerror(errno)))") }
    }
}
