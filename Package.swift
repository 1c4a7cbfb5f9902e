// swift-tools-version: 6.0
import PackageDescription

/// One target per plugin under Sources/Plugins/<Name>; the executable holds the one registration list.
func plugin(_ name: String, _ deps: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: ["PipelineHost"] + deps, path: "Sources/Plugins/\(name)")
}

let package = Package(
    name: "fraud-pipeline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pipeline-host", targets: ["PipelineHostCLI"]),
        .library(name: "PipelineHost", targets: ["PipelineHost"]),
        .library(name: "BuiltinPlugins", targets: ["BuiltinPlugins"]),
        .executable(name: "model-server", targets: ["ModelServer"]),
        .executable(name: "scorer-bench", targets: ["ScorerBench"]),
        .executable(name: "signing-bench", targets: ["SigningBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),  // LogHandler.log(event:)
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),  // MetricNameDescriptor
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),  // the admin server's graceful stop
    ],
    targets: [
        .systemLibrary(name: "CYajl", pkgConfig: "yajl", providers: [.apt(["libyajl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CGlibcCompat"),
        .target(name: "CTreeSHAP"),
        .target(name: "CPrefetch"),
        .target(name: "AWSCore", dependencies: ["PipelineHost", "CCurl", "COpenSSL"]),
        .target(
            name: "PipelineHost",
            dependencies: [
                "CYajl", "CZlib", "CPrefetch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "ModelCore", dependencies: ["PipelineHost", "AWSCore", "CTreeSHAP"]),
        .executableTarget(name: "ScorerBench", dependencies: ["ModelCore", "PipelineHost"], path: "bench/ScorerBench"),
        .executableTarget(name: "SigningBench", dependencies: ["AWSCore"], path: "bench/SigningBench"),
        .target(name: "LambdaRuntime", dependencies: ["PipelineHost", "AWSCore"]),
        .target(name: "SpecTesting", dependencies: ["PipelineHost", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Backtest", dependencies: ["PipelineHost", "ModelCore", "AWSCore", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "HTTPServerLimits",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        .target(
            name: "AdminHTTP",
            dependencies: [
                "PipelineHost", "HTTPServerLimits",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        plugin("FileSource"),
        plugin("FileSink"),
        plugin("StdoutSink"),
        plugin("Passthrough"),
        plugin("Fields", ["ModelCore"]),
        plugin("FeatureScaler", ["ModelCore"]),
        plugin("LocalModelScorer", ["ModelCore"]),
        plugin("ABSplit"),
        plugin("RollingAggregates"),
        plugin("DynamoBroadcast", ["AWSCore"]),
        plugin("SageMakerScorer", ["AWSCore", "ModelCore"]),
        plugin("SlackSink", ["AWSCore"]),
        plugin("KinesisSource", ["AWSCore"]),
        plugin("SNSSink", ["AWSCore"]),
        plugin("S3Sink", ["AWSCore"]),
        plugin("LambdaSNSSource", ["LambdaRuntime"]),
        .target(name: "BuiltinPlugins", dependencies: [
            "PipelineHost", "FileSource", "FileSink", "StdoutSink", "Passthrough", "Fields", "FeatureScaler", "LocalModelScorer", "ABSplit",
            "RollingAggregates", "DynamoBroadcast", "SageMakerScorer", "SlackSink", "LambdaSNSSource",
            "KinesisSource", "SNSSink", "S3Sink",
        ]),
        .executableTarget(
            name: "PipelineHostCLI",
            dependencies: [
                "PipelineHost", "AdminHTTP", "BuiltinPlugins", "ModelCore", "LambdaRuntime", "CGlibcCompat", "Backtest", "SpecTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "PipelineHostTests",
            dependencies: ["PipelineHost", "BuiltinPlugins", "FileSource", "FileSink", "StdoutSink", "ModelCore", "LocalModelScorer", "ABSplit", "Fields", "RollingAggregates", "DynamoBroadcast", "SageMakerScorer", "AWSCore", "TestSupport", "AdminHTTP",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["AWSCore", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .executableTarget(
            name: "ModelServer",
            dependencies: [
                "PipelineHost", "ModelCore", "HTTPServerLimits",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "ModelServerTests", dependencies: ["ModelServer", "ModelCore", "PipelineHost", "BuiltinPlugins", "TestSupport"]),
        .testTarget(name: "AWSPluginTests", dependencies: [
            "PipelineHost", "AWSCore", "KinesisSource", "SNSSink", "S3Sink", "FileSink", "FileSource", "RollingAggregates", "TestSupport",
        ]),
        .testTarget(name: "AlertingTests", dependencies: [
            "SlackSink", "LambdaSNSSource", "LambdaRuntime", "AWSCore", "PipelineHost", "FileSource", "FileSink", "StdoutSink", "TestSupport",
            "KinesisSource", "DynamoBroadcast", "RollingAggregates", "S3Sink", "SNSSink",
        ]),
        .testTarget(name: "AWSCoreTests", dependencies: ["AWSCore", "PipelineHost", "TestSupport"]),
        .testTarget(name: "BacktestTests", dependencies: ["Backtest", "PipelineHost", "AWSCore", "TestSupport"]),
    ]
)
