// swift-tools-version: 6.0
// libFuzzer targets for the host's parsers (docs/fuzzing.md). Built only by fuzz/run.sh, with
// `-sanitize=fuzzer,address`. Each target defines `LLVMFuzzerTestOneInput`; its main.swift starts libFuzzer
// through `LLVMFuzzerRunDriver`, because SwiftPM links an executable's entry point as `<Module>_main`.
import Foundation
import PackageDescription

/// A path dependency's identity is its directory's name, which depends on where the repository is cloned.
let host = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "fraud-pipeline-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: [.product(name: "PipelineHost", package: host)]),
        .executableTarget(name: "FuzzSpec", dependencies: [
            "FuzzSupport", "CFuzzerDriver",
            .product(name: "PipelineHost", package: host),
            .product(name: "BuiltinPlugins", package: host),
        ]),
        .executableTarget(name: "FuzzRecord", dependencies: ["FuzzSupport", "CFuzzerDriver", .product(name: "PipelineHost", package: host)]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzSupport", "CFuzzerDriver", .product(name: "PipelineHost", package: host)]),
        .executableTarget(name: "FuzzInterpolation", dependencies: ["FuzzSupport", "CFuzzerDriver", .product(name: "PipelineHost", package: host)]),
    ]
)
