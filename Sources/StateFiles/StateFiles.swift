import Glibc

/// Opening the files a root process trusts: the state directory and what it holds (measurement log, AK file,
/// inventory, lock files).
///
/// Every file is opened with `O_NOFOLLOW` (a link planted by another user cannot redirect a write), created
/// with mode 0600 (directories 0700), and refused — with a code naming the path — when its owner is neither
/// root nor the current user or when group or others may write it. Directories are checked with `lstat`.
package enum StateFiles {
    /// Mode of files the tool creates.
    package static let fileMode: UInt32 = 0o600
    /// Mode of directories the tool creates.
    package static let directoryMode: UInt32 = 0o700

    static func errnoText(_ value: Int32 = errno) -> String { String(cString: strerror(value)) }

    /// Refuses ownership by another user and group/world write permission.
    static func checkOwnerAndMode(_ info: stat, path: String, what: String) throws(StateFileError) {
        let me = geteuid()
        guard info.st_uid == 0 || info.st_uid == me else {
            throw StateFileError(.unsafeOwner, path: path,
                                 "\(what) is owned by uid \(info.st_uid), neither root nor the current user (uid \(me))")
        }
        guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw StateFileError(.unsafeMode, path: path,
                                 "\(what) has mode 0\(mode): group or others may change it (chmod go-w \(path))")
        }
    }

    /// Checks the directory `path` (creating it with mode 0700, and missing parents, when `create` is set): it must
    /// be a real directory, not a link, owned by root or the current user, and not writable by group or others.
    package static func checkDirectory(_ path: String, create: Bool = false) throws(StateFileError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            let error = errno
            guard error == ENOENT, create else {
                throw StateFileError(.io, path: path, "cannot inspect the directory: \(errnoText(error))")
            }
            try makeDirectories(path)
            guard lstat(path, &info) == 0 else {
                throw StateFileError(.io, path: path, "cannot inspect the directory: \(errnoText())")
            }
        }
        if info.st_mode & S_IFMT == S_IFLNK {
            throw StateFileError(.symlink, path: path, "the directory is a symbolic link; give its real path")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StateFileError(.notRegular, path: path, "not a directory")
        }
        try checkOwnerAndMode(info, path: path, what: "the directory")
    }

    private static func makeDirectories(_ path: String) throws(StateFileError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, directoryMode) != 0, errno != EEXIST {
                throw StateFileError(.io, path: prefix, "cannot create the directory: \(errnoText())")
            }
        }
    }

    /// The directory part of `path` (`.` for a bare name).
    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Opens `path` without following a link. `flags` are `O_RDONLY`, `O_RDWR | O_APPEND` …; with `create`, a
    /// missing file is created with mode 0600. The opened file must be a regular file owned by root or the current
    /// user and not writable by group or others. Returns the descriptor (the caller closes it).
    package static func open(_ path: String, flags: Int32, create: Bool = false) throws(StateFileError) -> Int32 {
        let all = flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0)
        let fd = create ? Glibc.open(path, all, fileMode) : Glibc.open(path, all)
        guard fd >= 0 else {
            let error = errno
            if error == ELOOP {
                throw StateFileError(.symlink, path: path, "the file is a symbolic link; state files are never followed through links")
            }
            throw StateFileError(.io, path: path, "cannot open: \(errnoText(error))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = errno
            close(fd)
            throw StateFileError(.io, path: path, "cannot inspect: \(errnoText(error))")
        }
        do throws(StateFileError) {
            guard info.st_mode & S_IFMT == S_IFREG else { throw StateFileError(.notRegular, path: path, "not a regular file") }
            try checkOwnerAndMode(info, path: path, what: "the file")
        } catch {
            close(fd)
            throw error
        }
        // O_NONBLOCK only kept a FIFO from blocking the open; regular files ignore it, but clear it anyway.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Whether something (a file, a link, anything) exists at `path`, without following a link.
    package static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Reads a whole file opened as ``open(_:flags:create:)`` does; refuses more than `limit` bytes.
    package static func read(_ path: String, limit: Int) throws(StateFileError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        return try read(fd: fd, path: path, limit: limit)
    }

    /// Reads from the current position of `fd` to its end; refuses more than `limit` bytes.
    package static func read(fd: Int32, path: String, limit: Int) throws(StateFileError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StateFileError(.io, path: path, "read failed: \(errnoText())")
            }
            if count == 0 { return out }
            out.append(contentsOf: chunk[0..<count])
            if out.count > limit { throw StateFileError(.tooLarge, path: path, "larger than \(limit) bytes") }
        }
    }

    /// Writes all of `bytes` to `fd` (retrying short writes and EINTR).
    package static func write(fd: Int32, path: String, _ bytes: [UInt8]) throws(StateFileError) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress.map { $0 + written }, raw.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StateFileError(.io, path: path, "write failed: \(errnoText())")
            }
            written += count
        }
    }

    /// Replaces `path` with `bytes` atomically: a new 0600 file beside it (`O_EXCL`, so no link is followed),
    /// fsync, rename over the old name, fsync of the directory. An existing `path` is checked first, so a
    /// link or a file of another user is refused rather than silently replaced.
    package static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StateFileError) {
        let directory = directory(of: path)
        try checkDirectory(directory)
        if exists(path) { close(try open(path, flags: O_RDONLY)) }
        let temporary = path + ".tmp-\(getpid())"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw StateFileError(.io, path: temporary, "cannot create: \(errnoText())") }
        do throws(StateFileError) {
            defer { close(fd) }
            _ = fchmod(fd, fileMode)
            try write(fd: fd, path: temporary, bytes)
            guard fsync(fd) == 0 else { throw StateFileError(.io, path: temporary, "fsync failed: \(errnoText())") }
            guard rename(temporary, path) == 0 else { throw StateFileError(.io, path: path, "rename failed: \(errnoText())") }
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    /// fsync of a directory, so a create or rename in it is durable. Best effort.
    package static func syncDirectory(_ directory: String) {
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// An exclusive `flock` on `path` (a lock file, created 0600), held until the returned lock is released or
    /// dropped. Blocks until the lock is free: the holders are short critical sections.
    package static func lock(_ path: String) throws(StateFileError) -> StateFileLock {
        let fd = try open(path, flags: O_RDWR, create: true)
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let error = errno
            close(fd)
            throw StateFileError(.io, path: path, "cannot lock: \(errnoText(error))")
        }
        return StateFileLock(fd: fd)
    }
}

/// An exclusive lock held on a lock file; closing the descriptor releases it.
///
/// `@unchecked Sendable`: the descriptor is immutable and only closed in `deinit`.
package final class StateFileLock: @unchecked Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}
