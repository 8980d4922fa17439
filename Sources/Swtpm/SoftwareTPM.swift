import ChildProcesses
package import Foundation

/// A software TPM (swtpm) started for tests, benchmarks and the demo: the Swift twin of
/// `swtpm-setup/swtpm-ctl` (same swtpm_setup options, same local-CA layout, same swtpm flags).
///
/// `create` makes a TPM state with EK certificates (RSA-2048, ECC P-384) and a platform certificate signed by
/// a local CA in `root/localca`; `start` serves it on a free loopback port; `stop` (or deinit) ends it.
package final class SoftwareTPM: @unchecked Sendable {
    // @unchecked Sendable: all mutable state (`process`) is touched only under `lock`.
    package let root: URL
    package let stateDirectory: URL
    package private(set) var port: Int = 0
    private var process: Process?
    private let lock = NSLock()

    package var tcti: String { "swtpm:host=127.0.0.1,port=\(port)" }

    /// Whether swtpm and swtpm_setup are installed.
    package static var isAvailable: Bool { Executables.which("swtpm") != nil && Executables.which("swtpm_setup") != nil && Executables.which("swtpm_localca") != nil }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Creates a new TPM state under `root` (a fresh temporary directory when nil).
    package init(root: URL? = nil) throws {
        let base = root ?? FileManager.default.temporaryDirectory.appendingPathComponent("smig-swtpm-\(UUID().uuidString)")
        self.root = base.standardizedFileURL
        self.stateDirectory = self.root.appendingPathComponent("tpm")
        guard Self.isAvailable else { throw Failure(description: "swtpm, swtpm_setup or swtpm_localca not found (apt-get install swtpm swtpm-tools)") }
        try create()
    }

    deinit { stop() }

    private func create() throws {
        let fm = FileManager.default
        let ca = root.appendingPathComponent("localca")
        try fm.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        try fm.createDirectory(at: ca, withIntermediateDirectories: true)
        try """
        statedir = \(ca.path)
        signingkey = \(ca.path)/signkey.pem
        issuercert = \(ca.path)/issuercert.pem
        certserial = \(ca.path)/certserial

        """.write(to: ca.appendingPathComponent("swtpm-localca.conf"), atomically: true, encoding: .utf8)
        try """
        --platform-manufacturer smig-attest
        --platform-version 2.1
        --platform-model swtpm

        """.write(to: ca.appendingPathComponent("swtpm-localca.options"), atomically: true, encoding: .utf8)
        try """
        create_certs_tool = \(Executables.which("swtpm_localca")!)
        create_certs_tool_config = \(ca.path)/swtpm-localca.conf
        create_certs_tool_options = \(ca.path)/swtpm-localca.options

        """.write(to: stateDirectory.appendingPathComponent("swtpm_setup.conf"), atomically: true, encoding: .utf8)
        let (status, output) = try Self.run(Executables.which("swtpm_setup")!, [
            "--tpm2", "--tpmstate", stateDirectory.path, "--config", stateDirectory.appendingPathComponent("swtpm_setup.conf").path,
            "--createek", "--create-ek-cert", "--create-platform-cert", "--overwrite",
            "--logfile", stateDirectory.appendingPathComponent("swtpm_setup.log").path,
        ])
        guard status == 0 else {
            let log = (try? String(contentsOf: stateDirectory.appendingPathComponent("swtpm_setup.log"), encoding: .utf8)) ?? ""
            throw Failure(description: "swtpm_setup failed (\(status)): \(output)\(log)")
        }
    }

    /// The local CA's certificate: the trust anchor for this TPM's EK certificates.
    package var issuerCertificate: URL { root.appendingPathComponent("localca/issuercert.pem") }

    /// Starts swtpm on a free loopback port (retrying on a port race) and waits until it accepts connections.
    package func start() throws {
        lock.lock()
        defer { lock.unlock() }
        guard process == nil else { return }
        for _ in 0..<10 {
            let candidate = try Self.freePortPair()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Executables.which("swtpm")!)
            p.arguments = [
                "socket", "--tpm2", "--tpmstate", "dir=\(stateDirectory.path)",
                "--server", "type=tcp,port=\(candidate),bindaddr=127.0.0.1",
                "--ctrl", "type=tcp,port=\(candidate + 1),bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear",
                "--log", "file=\(stateDirectory.appendingPathComponent("swtpm.log").path)",
            ]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            for _ in 0..<200 where p.isRunning {
                if Self.canConnect(port: candidate) {
                    process = p
                    port = candidate
                    return
                }
                usleep(10_000)
            }
            if p.isRunning { p.terminate(); p.waitUntilExit() }
        }
        throw Failure(description: "swtpm did not start (see \(stateDirectory.path)/swtpm.log)")
    }

    /// Stops swtpm (SIGTERM, then waits), keeping its state for the next ``start()``. Safe to call twice.
    package func stop() {
        stop(keepingState: true)
    }

    /// Stops swtpm and deletes its state. With no state to keep, swtpm is killed at once (SIGKILL): its orderly
    /// exit takes one to two seconds, which tests that make many TPMs would otherwise wait for every time.
    package func destroy() {
        stop(keepingState: false)
        try? FileManager.default.removeItem(at: root)
    }

    private func stop(keepingState: Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard let p = process else { return }
        // swtpm may not act on SIGTERM while a client keeps its connection open: give it two seconds, then SIGKILL.
        p.stop(grace: keepingState ? .seconds(2) : .zero)
        process = nil
    }

    // MARK: helpers


    static func run(_ tool: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A port N such that N and N+1 are both free on 127.0.0.1 right now (swtpm's server and control ports), never
    /// handed out before by this process (``LoopbackPorts``).
    package static func freePortPair() throws -> Int {
        guard let port = LoopbackPorts.shared.reservePair(isFree: isFree) else {
            throw Failure(description: "no free loopback port pair below the system's ephemeral ports")
        }
        return port
    }

    private static func isFree(_ port: Int) -> Bool {
        withLoopbackSocket(port: port) { fd, address, length in bind(fd, address, length) == 0 }
    }

    static func canConnect(port: Int) -> Bool {
        withLoopbackSocket(port: port) { fd, address, length in connect(fd, address, length) == 0 }
    }

    /// Runs `body` with a fresh TCP socket and the address 127.0.0.1:`port`; the socket is closed afterwards.
    private static func withLoopbackSocket(port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
