// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "smig-attest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "smig-attest", targets: ["smig-attest"]),
        .library(name: "TPMWire", targets: ["TPMWire"]),
        .library(name: "Attestation", targets: ["Attestation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C libraries (module map + shim.h only).
        .systemLibrary(
            name: "CTSS2",
            pkgConfig: "tss2-esys tss2-mu tss2-rc tss2-tctildr",
            providers: [.apt(["libtss2-dev"])]
        ),
        // Headers only: the libraries are opened with dlopen when the xen source is used (Measurement's LibXenControl).
        .systemLibrary(
            name: "CXen",
            providers: [.apt(["libxen-dev"])]
        ),
        // Headers only: libvirt is opened with dlopen on the first connection (Libvirt's LibvirtLibrary).
        .systemLibrary(
            name: "CLibvirt",
            providers: [.apt(["libvirt-dev"])]
        ),

        // Pure Swift: the protocol every module's error type conforms to (a stable code; equal when the codes are).
        .target(name: "CodedError", swiftSettings: upcoming),

        // The build's version, git commit and date (`smig-attest --version`), written before each build.
        .target(name: "BuildInfo", swiftSettings: upcoming, plugins: ["BuildInfoPlugin"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),

        // Pure Swift: TPM 2.0 wire structures. No C, no I/O.
        .target(
            name: "TPMWire",
            dependencies: ["CodedError", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: upcoming
        ),

        // Pure Swift: golden-value and region policies (YAML, strict, file:line:column errors).
        .target(
            name: "Policy",
            dependencies: [
                "TPMWire", "CodedError",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: upcoming
        ),

        // Pure Swift: quote verification, event logs, policies, evaluation. No C, no I/O.
        .target(
            name: "Attestation",
            dependencies: [
                "TPMWire", "Policy", "CodedError",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "BigInt", package: "BigInt"),
            ],
            swiftSettings: upcoming
        ),

        // Pure Swift + Glibc: opening state files and directories without following links, with safe owners
        // and modes, and the lock around the measurement log. Shared by TPM, Measurement and Migration.
        .target(name: "StateFiles", dependencies: ["CodedError"], swiftSettings: upcoming),

        // Pure Swift + Glibc: ending a child process (SIGTERM, a grace period, SIGKILL) and waiting for the port file a
        // listener writes; one helper for every child the toolkit and its tests supervise.
        .target(name: "ChildProcesses", swiftSettings: upcoming),

        // The only target that calls ESYS.
        .target(
            name: "TPM",
            dependencies: [
                "CTSS2", "TPMWire", "StateFiles", "CodedError",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),

        // Measurement sources and the measurement log. The only target that calls Xen.
        .target(
            name: "Measurement",
            dependencies: [
                "CXen", "TPMWire", "Attestation", "Policy", "StateFiles", "CodedError",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),

        // MigrationDriver protocol, QEMU (QMP) and Xen (xl) drivers, VM inventory.
        .target(
            name: "Migration",
            dependencies: [
                "StateFiles", "ChildProcesses", "CodedError", "DurationUnits",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),

        // The only target that calls libvirt: connections, the host's domains, live peer-to-peer migration with
        // the destination paused, job progress and abort. What the agents move VMs with on libvirt hosts.
        .target(name: "Libvirt", dependencies: ["CLibvirt", "CodedError"], swiftSettings: upcoming),

        // libvirt hosts on one machine, each its own network, mount and UTS namespace with its own address, libvirtd
        // and virtlogd, joined by a bridge in the root namespace: the lab the demo, the benchmarks and the tests share.
        .target(name: "NamespaceLab", swiftSettings: upcoming),

        // A software TPM (swtpm with EK certificates from a local CA) for the demo, the benchmarks and the tests;
        // not part of the TPM library, which only talks to a TPM.
        .target(name: "Swtpm", dependencies: ["ChildProcesses"], swiftSettings: upcoming),

        // The built-in guests (boot sectors that count) that `vm start`, `bench migrate`, the demo and the tests
        // boot, and reading their counter from guest memory. Not part of the Migration library.
        .target(
            name: "BuiltInGuests",
            dependencies: ["Migration"],
            exclude: ["counter.asm", "ticker.asm"],
            swiftSettings: upcoming
        ),

        // TCG PC Client crypto-agile boot event logs built as firmware writes them: the "firmware" of the lab's
        // software TPMs and the boot logs of the tests. Not part of the Attestation library, which reads them.
        .target(name: "SyntheticBootLogs", dependencies: ["TPMWire"], swiftSettings: upcoming),

        // Region wire messages and the mutual-TLS plumbing shared by the agent and the RC-TCB.
        .target(
            name: "RegionProtocol",
            dependencies: [
                "Attestation", "TPMWire", "CodedError", "DurationUnits",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),

        // The region's HTTPS listeners (the RC-TCB's and every agent's): TLS, handshake/header/body/idle time-outs, a
        // connection cap per peer address, and the request context that reads the peer's region identity.
        .target(
            name: "RegionListener",
            dependencies: [
                "RegionProtocol", "DurationUnits",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),

        // The Region Critical TCB: region CA, enrolment, IVT store, ring, report intake, its HTTPS service.
        .target(
            name: "RegionTCB",
            dependencies: [
                "Attestation", "TPMWire", "Policy", "RegionProtocol", "Migration", "RegionListener", "CodedError", "DurationUnits",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),

        // The region store on PostgreSQL (``RegionStore``'s second backend): the only target that imports PostgresNIO.
        .target(
            name: "RegionStorePostgres",
            dependencies: [
                "RegionTCB", "RegionProtocol", "Migration", "DurationUnits", "TPMWire",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),

        // The per-host agent: enrolment, measure loop, quote endpoint, ring duty, migration orders (its VM manager).
        .target(
            name: "Agent",
            dependencies: [
                "Attestation", "TPMWire", "TPM", "Measurement", "Policy", "RegionProtocol", "StateFiles", "RegionListener", "Libvirt", "Migration", "DurationUnits",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: upcoming
        ),

        .target(
            name: "SmigAttestCLI",
            dependencies: [
                "BuildInfo", "TPMWire", "Attestation", "TPM", "Measurement", "Migration", "BuiltInGuests", "Policy", "StateFiles", "RegionProtocol", "RegionTCB", "RegionStorePostgres", "Agent", "RegionLab", "RegionListener", "Benchmarks", "DurationUnits",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: upcoming
        ),
        // A whole region on loopback from real parts (swtpm, agents, RC-TCB, QEMU): `demo` and `bench response`.
        .target(
            name: "RegionLab",
            dependencies: ["Migration", "BuiltInGuests", "Swtpm", "SyntheticBootLogs", "RegionTCB", "TPM", "TPMWire", "ChildProcesses", "Measurement", "NamespaceLab"],
            swiftSettings: upcoming
        ),
        // A throw-away PostgreSQL cluster (initdb, pg_ctl as an unprivileged user, loopback only) for the tests and
        // `bench region --store postgresql`. Not part of the RC-TCB or its store.
        .target(name: "PostgresLab", dependencies: ["Swtpm", "NamespaceLab"], swiftSettings: upcoming),
        // A Duration in seconds or milliseconds (Double), or whole milliseconds: one conversion, written once.
        .target(name: "DurationUnits", swiftSettings: upcoming),
        .testTarget(name: "DurationUnitsTests", dependencies: ["DurationUnits"], swiftSettings: upcoming),
        // The benchmarks (`smig-attest bench …`) and their doubles: outside the RC-TCB, which keeps one seam for them
        // (IVTStore.enrolBenchmarkDoubles, refused by any IVT but a benchmark-only one). The CLI parses and prints.
        .target(
            name: "Benchmarks",
            dependencies: [
                "Attestation", "TPMWire", "TPM", "Swtpm", "Measurement", "Migration", "BuiltInGuests", "Policy",
                "RegionProtocol", "RegionTCB", "RegionStorePostgres", "RegionLab", "PostgresLab", "DurationUnits", "ChildProcesses", "CodedError", "Agent",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "smig-attest",
            dependencies: ["SmigAttestCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: upcoming
        ),

        // Fuzz targets for every parser of outside bytes (not shipped): `scripts/fuzz`, corpus in Tests/Fuzz/corpus.
        .executableTarget(
            name: "smig-fuzz",
            dependencies: ["TPMWire", "Attestation", "Policy", "Measurement", "Migration", "RegionProtocol"],
            path: "Tests/Fuzz/Harness",
            swiftSettings: upcoming
        ),

        // A throw-away PostgreSQL cluster (initdb, pg_ctl) for the tests and `bench failover`. Not a store: no TCB code imports it.

        // Helpers shared by the test targets (process runner, executable lookup, the two-host libvirt lab). Not shipped.
        .target(
            name: "SmigTestSupport",
            dependencies: ["Swtpm", "ChildProcesses", "Measurement", "Attestation", "NamespaceLab", "PostgresLab"],
            path: "Tests/SmigTestSupport",
            swiftSettings: upcoming
        ),

        .testTarget(name: "StateFilesTests", dependencies: ["StateFiles"], swiftSettings: upcoming),
        .testTarget(name: "CodedErrorTests", dependencies: ["CodedError", "TPMWire", "StateFiles", "Attestation"], swiftSettings: upcoming),
        .testTarget(name: "TPMWireTests", dependencies: ["TPMWire", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: upcoming),
        .testTarget(
            name: "AttestationTests",
            dependencies: ["Attestation", "TPMWire", "Policy", "SyntheticBootLogs", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Vectors")],
            swiftSettings: upcoming
        ),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"], swiftSettings: upcoming),
        .testTarget(name: "TPMTests", dependencies: ["TPM", "TPMWire", "Attestation", "Swtpm", "SmigTestSupport"], swiftSettings: upcoming),
        .testTarget(
            name: "MeasurementTests",
            dependencies: ["Measurement", "Attestation", "Policy", "TPM", "TPMWire", "Swtpm", "SyntheticBootLogs", "SmigTestSupport"],
            swiftSettings: upcoming
        ),
        // The agent's parts against real ones: QEMU's text measured into a swtpm's PCR 15 through the agent's extender.
        .testTarget(
            name: "AgentTests",
            dependencies: ["Agent", "Measurement", "Attestation", "Policy", "TPM", "TPMWire", "Swtpm", "SmigTestSupport"],
            swiftSettings: upcoming
        ),
        // Test tool: one orchestrated migration (local, or by orders to the agents) that SIGKILLs itself after a given step
        // (crash-recovery tests).
        .executableTarget(name: "smig-migration-crash", dependencies: ["Migration", "RegionProtocol", "RegionTCB"], path: "Tests/MigrationCrashTool", swiftSettings: upcoming),
        // Test tool: the RC-TCB with a step hook injected into its decision engine (a crash or a command after a
        // given evacuation step) for the evacuation tests. Not shipped: `rctcb serve` has no such option.
        .executableTarget(
            name: "smig-rctcb-hooked",
            dependencies: ["RegionTCB", "RegionStorePostgres", .product(name: "Logging", package: "swift-log")],
            path: "Tests/RCTCBHookTool",
            swiftSettings: upcoming
        ),
        .testTarget(name: "MigrationTests", dependencies: ["Migration", "BuiltInGuests", "Swtpm", "SmigTestSupport"], swiftSettings: upcoming),
        .testTarget(
            name: "RegionTests",
            dependencies: [
                "RegionTCB", "RegionProtocol", "Agent", "Attestation", "TPMWire", "TPM", "Policy", "Migration", "BuiltInGuests", "Swtpm", "RegionLab", "SyntheticBootLogs", "SmigTestSupport", "RegionListener", "Benchmarks", "NamespaceLab",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        // The region store's behaviour on both backends (SQLite, and PostgreSQL in a cluster each test starts).
        .testTarget(name: "RegionStoreTests", dependencies: ["RegionTCB", "RegionStorePostgres", "SmigTestSupport", "Swtpm", "Attestation", "TPMWire",
                                                     "Migration", "BuiltInGuests", "RegionProtocol", "RegionLab"], swiftSettings: upcoming),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "SmigTestSupport", "NamespaceLab"], swiftSettings: upcoming),
        .testTarget(
            name: "SmigAttestCLITests",
            dependencies: ["SmigAttestCLI", "Attestation", "TPMWire", "TPM", "Measurement", "Swtpm", "SmigTestSupport",
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1")],
            swiftSettings: upcoming
        ),
    ]
)
