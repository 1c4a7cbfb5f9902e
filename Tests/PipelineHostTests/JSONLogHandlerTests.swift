import Foundation
import Logging
@testable import PipelineHost
import Testing

@Suite struct JSONLogHandlerTests {
    struct Refused: Error, CustomStringConvertible { var description: String { "refused by the peer" } }

    func line(_ event: LogEvent, handler: Logger.Metadata = [:]) throws -> [(String, JSONValue)] {
        let bytes = JSONLogHandler.line(event, handlerMetadata: handler, timestamp: "2026-12-01T00:00:00.000Z")
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1, "one line per event")
        return try #require(DocumentParser.parseValue(bytes).objectValue)
    }

    @Test func aLineHasTimeLevelMessageThenTheMetadataByKeyTheEventsOverTheHandlers() throws {
        let event = LogEvent(level: .warning, message: "sink \"a\" retrying", error: nil, metadata: ["stage": "a", "attempt": "2"],
                             source: nil, file: #fileID, function: #function, line: #line)
        let fields = try line(event, handler: ["pipeline": "p", "stage": "handler's"])
        #expect(fields.map(\.0) == ["ts", "level", "msg", "attempt", "pipeline", "stage"])
        #expect(fields.map(\.1) == [.string("2026-12-01T00:00:00.000Z"), .string("warning"), .string("sink \"a\" retrying"),
                                    .string("2"), .string("p"), .string("a")])
    }

    @Test func anErrorTheEventCarriesIsLoggedUnlessTheMetadataNamesOne() throws {
        let withError = LogEvent(level: .error, message: "failed", error: Refused(), metadata: nil,
                                 source: nil, file: #fileID, function: #function, line: #line)
        #expect(try line(withError).first { $0.0 == "error" }?.1 == .string("refused by the peer"))
        var named = withError
        named.metadata = ["error": "the stage's own words"]
        #expect(try line(named).filter { $0.0 == "error" }.map(\.1) == [.string("the stage's own words")])
    }
}
