import BuiltinPlugins
import FuzzSupport
import PipelineHost

// Bytes → the spec document parser → interpolation → validation against the builtin plugin registry: exactly
// what `pipeline-host validate` runs (PipelineSpec.load reads the file, then parse). Every outcome must be a
// PipelineSpec or SpecErrors with usable diagnostics; a trap anywhere is a bug.

let registry = BuiltinPlugins.registry
/// A fixed environment, so `${VAR}`, `${VAR:-d}` and `${VAR:?m}` in mutated specs take every branch:
/// set, set-but-empty, unset; numbers and booleans for the coercion of interpolated strings.
let environment = [
    "FUZZ_NAME": "fuzz", "FUZZ_INT": "42", "FUZZ_BOOL": "true", "FUZZ_DURATION": "250ms", "FUZZ_EMPTY": "",
    "REGION": "eu-west-1", "STAGE": "staging",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    do {
        let spec = try PipelineSpec.parse(bytes, file: "fuzz.json", registry: registry, environment: environment)
        // A spec that validates is runnable: the invariants the runner relies on without checking again.
        check(!spec.name.isEmpty, "valid spec with an empty name")
        check(!spec.sinks.isEmpty, "valid spec without sinks")
        check((1...1024).contains(spec.runtime.channelCapacity), "channel_capacity \(spec.runtime.channelCapacity) out of range")
        check(spec.checkpoint.interval.isFinite && spec.checkpoint.interval >= 0, "checkpoint interval \(spec.checkpoint.interval)")
        let ids = [spec.source.id] + spec.transforms.map(\.id) + spec.sinks.map(\.config.id) + [spec.deadLetter.id]
        check(Set(ids).count == ids.count, "valid spec with duplicate ids \(ids)")
        if let admin = spec.admin { check((0...65535).contains(admin.port), "admin port \(admin.port)") }
    } catch {
        // Typed throws: the error is SpecErrors. It must say something, and say where.
        check(!error.diagnostics.isEmpty, "SpecErrors without diagnostics for \(preview(bytes))")
        for d in error.diagnostics {
            check(!d.message.isEmpty, "empty diagnostic message at \(d.path)")
            check(d.path.hasPrefix("$"), "diagnostic path \(d.path.debugDescription) is not a JSON path")
            check(d.location.line >= 1 && d.location.column >= 1, "diagnostic without a position: \(d)")
        }
        _ = error.description
    }

    // The document parser on its own: what it accepts, written back with JSONWriter, parses to an equal value.
    if let root = try? DocumentParser.parse(bytes) {
        let value = root.json
        if !value.containsNonFinite {
            var w = JSONWriter()
            w.write(value)
            do {
                let again = try DocumentParser.parseValue(w.bytes)
                check(again == value, "round trip changed \(preview(bytes)) into \(preview(w.bytes))")
            } catch {
                check(false, "JSONWriter output does not parse: \(error) in \(preview(w.bytes))")
            }
        }
    }
    return 0
}
