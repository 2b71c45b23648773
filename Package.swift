// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "stockboom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stockboom", targets: ["stockboom"]),
        .executable(name: "stockboom-sim", targets: ["stockboom-sim"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Projections", targets: ["Projections"]),
        .library(name: "Jobs", targets: ["Jobs"]),
        .library(name: "Gateway", targets: ["Gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries, one module map each; imported by exactly one Swift module.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // No pkgConfig on purpose: Debian's hiredis.pc carries a flag SwiftPM prohibits (SWIFT-NOTES P2).
        .systemLibrary(name: "CHiredis"),
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),

        // The append-only segmented log. Knows bytes, offsets and time; nothing about trading.
        .target(
            name: "Ledger",
            dependencies: ["CLZ4", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Replication of the log's commits over NATS JetStream: the C client's wrapper, the replicator (a primary's
        // sink), the follower's copier, the leadership lease. Knows bytes and offsets, nothing about trading.
        .target(name: "Replication", dependencies: ["CNATS", "Ledger"]),
        // The trading domain: pure, deterministic, no I/O (no threads, no files: the compiler checks it).
        .target(name: "Engine", dependencies: ["Ledger"]),
        // The engine at run time: the single writer's thread, the log it appends to, snapshots.
        .target(
            name: "Runtime",
            dependencies: ["Engine", "Ledger", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Storage clients: libpq and hiredis wrappers, the connection pool, the blocking pool, sealed secrets.
        .target(
            name: "Storage",
            dependencies: [
                "CLibPQ", "CHiredis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Read models: PostgreSQL schema (migrations), the projection runner, one file per read model, read queries.
        .target(name: "Telemetry", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")]),
        .target(name: "Projections", dependencies: ["Storage", "Runtime", "Engine", "Ledger"]),
        // Jobs: queue names, the BullMQ-layout store in Redis, job derivation and the dispatcher, and the
        // wire contract between the worker and the engine's internal routes.
        .target(
            name: "Jobs",
            dependencies: ["Storage", "Runtime", "Engine", "Ledger", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The HTTP side: health, metrics, API.
        .target(
            name: "Gateway",
            dependencies: [
                "Projections", "Jobs", "Storage", "Runtime", "Engine", "Ledger", "Telemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        // The side-effect half: queue consumers, the KIS REST client, SMTP. Talks to the engine through the
        // gateway's internal command endpoint (the engine process is the log's only writer).
        .target(
            name: "Worker",
            dependencies: [
                "Jobs", "Storage", "Engine", "Ledger", "Telemetry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The only wiring of the system: the serve side and the worker side (one table of queues), and what the
        // command-line programs share (options, log lines). `serve`, `worker`, the demo, the benchmarks and the
        // end-to-end tests all start the system through it.
        .target(
            name: "Assembly",
            dependencies: [
                "Gateway", "Worker", "Projections", "Jobs", "Storage", "Runtime", "Engine", "Ledger", "Replication",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The operator's command-line program: argument parsing and calls into Assembly and the libraries.
        .executableTarget(
            name: "stockboom",
            dependencies: [
                "Assembly", "Ledger", "Engine", "Runtime", "Storage", "Projections", "Jobs", "Gateway", "Worker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The simulated market's program: the demo, the benchmarks, the engine stress run (not shipped to operators).
        .executableTarget(
            name: "stockboom-sim",
            dependencies: [
                "Assembly", "Simulation", "Ledger", "Engine", "Runtime", "Storage", "Projections", "Jobs", "Gateway",
                "Worker", "Replication", "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Simulated counterparts for tests, the demo and the benchmarks: command generators, the KIS fake.
        .target(
            name: "Simulation",
            dependencies: [
                "Engine", "Ledger", "Runtime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // libFuzzer target for the log's batch decoder: `scripts/fuzz.sh` builds it with --sanitize=fuzzer.
        .executableTarget(name: "FuzzBatchDecoder", dependencies: ["Ledger"]),

        // Helpers shared by the test targets (temporary directories, seeded randomness, the built executable).
        .target(name: "TestSupport", dependencies: ["Storage"], path: "Sources/TestSupport"),

        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "TestSupport"]),
        // Replication against three real nats-servers clustered on loopback (scripts/nats-cluster.sh).
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "Replication", "Ledger", "Engine", "Runtime", "Storage", "TestSupport", "Simulation", "Projections",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: ["Engine", "Runtime", "Ledger", "Storage", "Projections", "Simulation", "TestSupport"],
            exclude: ["Reference"]
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: [
                "Projections", "Jobs", "Storage", "Runtime", "Engine", "Ledger", "Simulation", "TestSupport",
            ]
        ),
        // The operations files (docker/, .env.example) against real validators, and the commands' log lines.
        .testTarget(
            name: "OperationsTests",
            dependencies: ["Projections", "Storage", "TestSupport", "Assembly", "Worker", "Jobs"],
            exclude: ["validate_operations.py"]
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "Gateway", "Projections", "Jobs", "Storage", "Runtime", "Engine", "Ledger", "Simulation",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "Projections", "Jobs", "Storage", "Runtime", "Engine", "Ledger", "Simulation", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // Our code builds without warnings, and stays so.
    settings.append(.treatAllWarnings(as: .error))
    target.swiftSettings = settings
}
