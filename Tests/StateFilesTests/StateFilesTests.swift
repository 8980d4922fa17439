import Foundation
import Glibc
import StateFiles
import Testing

@Suite("State files")
struct StateFilesTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("smig-state-\(UUID().uuidString)").path
        try StateFiles.checkDirectory(path, create: true)
        return path
    }

    static func code(_ body: () throws(StateFileError) -> Void) -> StateFileError.Code? {
        do {
            try body()
            return nil
        } catch {
            return error.code
        }
    }

    static func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func createdDirectoriesAndFilesAreOwnerOnly() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.mode(dir) == 0o700)
        let nested = dir + "/a/b"
        try StateFiles.checkDirectory(nested, create: true)
        #expect(try Self.mode(dir + "/a") == 0o700)
        #expect(try Self.mode(nested) == 0o700)
        close(try StateFiles.open(dir + "/f", flags: O_WRONLY, create: true))
        #expect(try Self.mode(dir + "/f") == 0o600)
        try StateFiles.writeAtomically(dir + "/g", Array("x".utf8))
        #expect(try Self.mode(dir + "/g") == 0o600)
        #expect(try StateFiles.read(dir + "/g", limit: 10) == Array("x".utf8))
    }

    @Test func linkToAMissingFileIsRefusedAndNothingIsCreated() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/log", withDestinationPath: dir + "/target")
        #expect(Self.code { () throws(StateFileError) in close(try StateFiles.open(dir + "/log", flags: O_WRONLY, create: true)) } == .symlink)
        #expect(!FileManager.default.fileExists(atPath: dir + "/target"))
        #expect(Self.code { () throws(StateFileError) in try StateFiles.writeAtomically(dir + "/log", [1]) } == .symlink)
        #expect(!FileManager.default.fileExists(atPath: dir + "/target"))
    }

    @Test func linkedDirectoryIsRefused() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/state", withDestinationPath: dir)
        #expect(Self.code { () throws(StateFileError) in try StateFiles.checkDirectory(dir + "/state") } == .symlink)
    }

    @Test(arguments: [0o666, 0o620, 0o602])
    func writableByOthersIsRefused(_ mode: Int) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try StateFiles.writeAtomically(dir + "/ak.json", [1])
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: dir + "/ak.json")
        #expect(Self.code { () throws(StateFileError) in _ = try StateFiles.read(dir + "/ak.json", limit: 10) } == .unsafeMode)
        // Replacing it is refused too: an atomic write does not paper over a loosened file.
        #expect(Self.code { () throws(StateFileError) in try StateFiles.writeAtomically(dir + "/ak.json", [2]) } == .unsafeMode)
    }

    /// Owned by another user (uid 65534, nobody): refused even when its mode is tight. Needs root to chown,
    /// as the tool itself runs; the test fails rather than skips when it cannot.
    @Test func ownedByAnotherUserIsRefused() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try StateFiles.writeAtomically(dir + "/ak.json", [1])
        #expect(chown(dir + "/ak.json", 65534, 65534) == 0, "chown needs root")
        #expect(Self.code { () throws(StateFileError) in _ = try StateFiles.read(dir + "/ak.json", limit: 10) } == .unsafeOwner)
        try StateFiles.checkDirectory(dir + "/other", create: true)
        #expect(chown(dir + "/other", 65534, 65534) == 0)
        #expect(Self.code { () throws(StateFileError) in try StateFiles.checkDirectory(dir + "/other") } == .unsafeOwner)
    }

    @Test(arguments: [0o777, 0o770, 0o1777])
    func writableDirectoryIsRefused(_ mode: Int) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: dir)
        #expect(Self.code { () throws(StateFileError) in try StateFiles.checkDirectory(dir) } == .unsafeMode)
    }

    @Test func notARegularFileIsRefused() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        #expect(Self.code { () throws(StateFileError) in _ = try StateFiles.read(dir + "/fifo", limit: 10) } == .notRegular)
        try StateFiles.checkDirectory(dir + "/sub", create: true)
        #expect(Self.code { () throws(StateFileError) in _ = try StateFiles.read(dir + "/sub", limit: 10) } != nil)
    }

    @Test func sizeLimitIsEnforced() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try StateFiles.writeAtomically(dir + "/big", [UInt8](repeating: 1, count: 100))
        #expect(Self.code { () throws(StateFileError) in _ = try StateFiles.read(dir + "/big", limit: 99) } == .tooLarge)
    }

    @Test func theLockIsExclusiveAcrossDescriptors() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lock = try StateFiles.lock(dir + "/l.lock")
        let other = open(dir + "/l.lock", O_RDWR)
        defer { close(other) }
        #expect(flock(other, LOCK_EX | LOCK_NB) != 0)
        withExtendedLifetime(lock) {}
        _ = consume lock
        #expect(flock(other, LOCK_EX | LOCK_NB) == 0)
    }
}
