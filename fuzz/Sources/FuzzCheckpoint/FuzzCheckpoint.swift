import FuzzSupport
import PipelineHost

// Bytes → what LocalCheckpointStore.load does (DocumentParser, then Checkpoint(json:)). A damaged or
// hand-edited checkpoint file must be refused with a PipelineError(.checkpoint), never trap; a checkpoint
// that loads, saved the way the store saves it, loads back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    guard let value = try? DocumentParser.parseValue(bytes) else { return 0 }
    let checkpoint: Checkpoint
    do {
        checkpoint = try Checkpoint(json: value)
    } catch let error as PipelineError {
        check(error.code == .checkpoint, "checkpoint refused with code \(error.code)")
        return 0
    } catch {
        check(false, "checkpoint refused with a non-PipelineError \(error)")
        return 0
    }
    guard !value.containsNonFinite, checkpoint.createdAt.isFinite else { return 0 }
    var w = JSONWriter()
    w.write(checkpoint.json)
    do {
        let back = try Checkpoint(json: try DocumentParser.parseValue(w.bytes))
        check(back == checkpoint, "checkpoint changed on save and load: \(preview(bytes)) → \(preview(w.bytes))")
    } catch {
        check(false, "a saved checkpoint does not load: \(error) in \(preview(w.bytes))")
    }
    return 0
}
