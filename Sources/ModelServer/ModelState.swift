import Synchronization

/// The model the server answers with: nil until the bundle has loaded (then `/ping` answers 200).
final class ModelState: Sendable {
    private let slot = Mutex<ScoringModel?>(nil)

    init(_ model: ScoringModel? = nil) {
        if let model { set(model) }
    }

    var current: ScoringModel? { slot.withLock { $0 } }

    func set(_ model: ScoringModel) { slot.withLock { $0 = model } }
}
