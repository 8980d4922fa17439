import Foundation
import Glibc
import Synchronization

// smig-fuzz: one fuzz target per parser of outside bytes (FuzzTargets.swift).
//
//   smig-fuzz list
//   smig-fuzz run [--seconds N] [--seed S] [--corpus DIR] [TARGET...]   replay DIR/<target>/*, then mutate for N s
//   smig-fuzz libfuzzer TARGET [libFuzzer options] [CORPUS...]          (a build with -DSMIG_LIBFUZZER only)
//
// `run` exits 0 when no input trapped or hung. A trap kills the process (non-zero exit); the input is written
// to fuzz-crash-<target>.bin in the current directory first. An input that runs longer than 10 s is a hang:
// written to fuzz-hang-<target>.bin, then the process aborts.

/// The input being run, kept where a signal handler can write it out (async-signal-safe: preallocated memory,
/// write(2)).
enum CrashRecord {
    static let capacity = 4 << 20
    nonisolated(unsafe) static let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    nonisolated(unsafe) static var length = 0
    nonisolated(unsafe) static var fd: Int32 = -1

    static func arm(target: String) {
        if fd >= 0 { close(fd) }
        fd = open("fuzz-crash-\(target).bin", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            signal(sig) { sig in
                if CrashRecord.fd >= 0 { _ = write(CrashRecord.fd, CrashRecord.buffer, CrashRecord.length) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }

    static func set(_ bytes: [UInt8]) {
        let count = min(bytes.count, capacity)
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { buffer.update(from: base, count: count) }
        }
        length = count
    }

    static func disarm(target: String) {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink("fuzz-crash-\(target).bin")
    }
}

/// Aborts when one input runs longer than `limit` (a hang), after saving it.
final class Watchdog: Sendable {
    let started = Atomic<UInt64>(0)
    let target = Mutex<String>("")
    let limit: UInt64 = 10_000_000_000

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    func start() {
        let thread = Thread { [self] in
            while true {
                usleep(200_000)
                let began = started.load(ordering: .relaxed)
                if began != 0, Self.now() - began > limit {
                    let name = target.withLock { $0 }
                    let data = Data(bytes: CrashRecord.buffer, count: CrashRecord.length)
                    let saved = FileManager.default.createFile(atPath: "fuzz-hang-\(name).bin", contents: data)
                    let input = saved ? "fuzz-hang-\(name).bin" : "the input could not be saved"
                    FileHandle.standardError.write(Data("smig-fuzz: \(name): an input ran longer than 10 s (\(input))\n".utf8))
                    abort()
                }
            }
        }
        thread.start()
    }
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("smig-fuzz: \(text)\n".utf8))
    exit(2)
}

func corpus(_ directory: String, _ target: String) -> [[UInt8]] {
    let dir = directory + "/" + target
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    return names.compactMap { FileManager.default.contents(atPath: dir + "/" + $0).map { Array($0) } }
}

func runTargets(_ arguments: [String]) {
    var seconds = 5.0
    var seed = UInt64(Watchdog.now() & 0xFFFF_FFFF)
    var corpusDirectory = "Tests/Fuzz/corpus"
    var names: [String] = []
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        switch argument {
        case "--seconds": seconds = rest.popFirst().flatMap(Double.init) ?? { fail("--seconds needs a number") }()
        case "--seed": seed = rest.popFirst().flatMap { UInt64($0) } ?? { fail("--seed needs a number") }()
        case "--corpus": corpusDirectory = rest.popFirst() ?? { fail("--corpus needs a directory") }()
        default: names.append(argument)
        }
    }
    var targets: [FuzzTarget] = []
    for name in names {
        guard let target = FuzzTargets.named(name) else { fail("unknown target \(name)") }
        targets.append(target)
    }
    if targets.isEmpty { targets = FuzzTargets.all }
    let watchdog = Watchdog()
    watchdog.start()
    print("smig-fuzz: seed \(seed), \(seconds) s per target")
    for target in targets {
        let seeds = corpus(corpusDirectory, target.name)
        guard !seeds.isEmpty else { fail("\(target.name): no corpus in \(corpusDirectory)/\(target.name)") }
        CrashRecord.arm(target: target.name)
        watchdog.target.withLock { $0 = target.name }
        func one(_ input: [UInt8]) {
            CrashRecord.set(input)
            watchdog.started.store(Watchdog.now(), ordering: .relaxed)
            target.run(input)
            watchdog.started.store(0, ordering: .relaxed)
        }
        for input in seeds { one(input) }
        // A stable per-target stream: FNV-1a of the name mixed into the run's seed.
        var mutator = Mutator(seed: seed ^ target.name.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
        let maximumLength = max(4096, (seeds.map { $0.count }.max() ?? 0) * 2)
        let deadline = Watchdog.now() + UInt64(seconds * 1e9)
        var runs = seeds.count
        while Watchdog.now() < deadline {
            let base = seeds[mutator.below(seeds.count)]
            let other = seeds[mutator.below(seeds.count)]
            one(mutator.mutate(base, other: other, maximumLength: maximumLength))
            runs += 1
        }
        CrashRecord.disarm(target: target.name)
        print("smig-fuzz: \(target.name): \(runs) inputs (\(seeds.count) from the corpus), 0 traps, 0 hangs")
    }
}

#if SMIG_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) var libFuzzerTarget: FuzzTarget?

/// libFuzzer's archive also carries its own `main`, which needs this symbol; the build links with
/// --allow-multiple-definition so that ours (first on the link line) runs and picks the target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    libFuzzerTarget?.run(bytes)
    return 0
}

func runLibFuzzer(_ arguments: [String]) -> Never {
    guard let name = arguments.first, let target = FuzzTargets.named(name) else { fail("libfuzzer needs a target name") }
    libFuzzerTarget = target
    var argv: [UnsafeMutablePointer<CChar>?] = (["smig-fuzz"] + arguments.dropFirst()).map { strdup($0) } + [nil]
    var argc = Int32(arguments.count)
    let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var base = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &base) { data, size in
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
            libFuzzerTarget?.run(bytes)
            return 0
        }
    }
    exit(status)
}
#else
func runLibFuzzer(_ arguments: [String]) -> Never {
    fail("this build has no libFuzzer; scripts/fuzz builds one with -sanitize=fuzzer")
}
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "list": for target in FuzzTargets.all { print(target.name) }
case "run": runTargets(Array(arguments.dropFirst()))
case "libfuzzer": runLibFuzzer(Array(arguments.dropFirst()))
default: fail("usage: smig-fuzz list | run [--seconds N] [--seed S] [--corpus DIR] [TARGET...] | libfuzzer TARGET [OPTIONS]")
}
