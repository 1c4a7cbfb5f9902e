import PipelineHost

/// Some of the lines of one read, parsed into records (or dead letters) by one parser.
///
/// The file source splits a batch's lines between two of these when there are enough of them, one run by a child
/// task, so parsing (about a microsecond an event, the longest stage of a simple job) uses both cores; the halves
/// are merged in line order, and positions are computed before parsing, so nothing else changes.
///
/// `@unchecked Sendable`: `base` points into the source's read buffer, which is neither written nor freed until
/// both halves have been parsed (the source awaits the child before it reads on or compacts the buffer), and
/// `parser` is used by the task running the job and by no other until it returns.
struct LineParseJob: @unchecked Sendable {
    let base: UnsafeRawPointer
    /// Each line's offset from `base` and length, without its newline.
    let spans: ArraySlice<(start: Int, length: Int)>
    /// The line number of `spans.first`.
    let firstLine: Int64
    let file: SourceFile
    let parser: RecordParser

    func run() -> (records: [Record], deadLetters: [DeadLetter]) {
        var records: [Record] = []
        var deadLetters: [DeadLetter] = []
        records.reserveCapacity(spans.count)
        var line = firstLine
        for span in spans {
            let bytes = UnsafeRawBufferPointer(start: base + span.start, count: span.length)
            do throws(RecordParser.ParseError) {
                if let record = try parser.parseRecord(bytes, origin: .line(file: file, line: line)) {
                    records.append(record)
                }
            } catch {
                let bad = Record(fields: [], raw: Array(bytes), origin: .line(file: file, line: line))
                deadLetters.append(DeadLetter(record: bad, reason: "line \(line): \(error.message)", stage: "source"))
            }
            line += 1
        }
        return (records, deadLetters)
    }

    /// The lines parsed in order: with `inHalves`, from 256 lines on, in two halves on two tasks; else on this task.
    static func parse(_ spans: [(start: Int, length: Int)], base: UnsafeRawPointer, firstLine: Int64, file: SourceFile,
                      parsers: (RecordParser, RecordParser), inHalves: Bool) async -> (records: [Record], deadLetters: [DeadLetter]) {
        guard inHalves, spans.count >= 256 else {
            return LineParseJob(base: base, spans: spans[...], firstLine: firstLine, file: file, parser: parsers.0).run()
        }
        let mid = spans.count / 2
        let first = LineParseJob(base: base, spans: spans[..<mid], firstLine: firstLine, file: file, parser: parsers.1)
        let second = LineParseJob(base: base, spans: spans[mid...], firstLine: firstLine + Int64(mid), file: file, parser: parsers.0)
        async let head = first.run()
        var tail = second.run()
        var result = await head
        Self.move(&tail.records, to: &result.records)
        result.deadLetters.append(contentsOf: tail.deadLetters)
        return result
    }

    /// Appends `source`'s records to `destination`, leaving `source` empty. Moved one by one (`popLast` hands an
    /// element out): `append(contentsOf:)` copies each record, a retain and later a release of each of its arrays.
    static func move(_ source: inout [Record], to destination: inout [Record]) {
        guard !destination.isEmpty else {
            swap(&source, &destination)
            return
        }
        destination.reserveCapacity(destination.count + source.count)
        // Reversed through the buffer, whose swaps move; the array's own `reverse` copies each record.
        source.withUnsafeMutableBufferPointer { $0.reverse() }
        while let record = source.popLast() { destination.append(record) }
    }
}
