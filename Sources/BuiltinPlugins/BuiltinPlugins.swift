import ABSplit
import DynamoBroadcast
import FeatureScaler
import FileSink
import FileSource
import KinesisSource
import LambdaSNSSource
import LocalModelScorer
import Passthrough
import Fields
import RollingAggregates
import S3Sink
import SageMakerScorer
import SNSSink
import SlackSink
import PipelineHost
import StdoutSink

/// The one list of the plugins this host is built with. Adding a plugin is one line here plus its target.
public enum BuiltinPlugins {
    public static let all: [PluginRegistration] = [
        .source(FileSource.self),
        .source(KinesisSource.self),
        .source(LambdaSNSSource.self),
        .sink(FileSink.self),
        .sink(StdoutSink.self),
        .sink(SlackSink.self),
        .sink(S3Sink.self),
        .sink(SNSSink.self),
        .transform(Passthrough.self),
        .transform(FieldsTransform.self),
        .transform(FeatureScalerTransform.self),
        .transform(LocalModelScorer.self),
        .transform(SageMakerScorer.self),
        .transform(ABSplit.self),
        .transform(DynamoBroadcast.self),
        .transform(RollingAggregates.self),
    ]

    public static let registry = PluginRegistry(all)
}
