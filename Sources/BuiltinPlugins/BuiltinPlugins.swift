import FileSink
import FileSource
import PipelineHost
import StdoutSink

/// The one list of the plugins this host is built with. Adding a plugin is one line here plus its target.
public enum BuiltinPlugins {
    public static let all: [PluginRegistration] = [
        .source(FileSource.self),
        .sink(FileSink.self),
        .sink(StdoutSink.self),
    ]

    public static let registry = PluginRegistry(all)
}
