import ModelCore
import PipelineHost

/// What a request asks to have explained, from SageMaker's CustomAttributes: `explain_top=N` (1–50) and
/// optionally `explain_threshold=T` (default the bundle's alert_threshold). Pairs are separated by `,` or `;`;
/// other keys are left alone (the attributes are the caller's, other tools use them too).
struct Explanation: Sendable {
    static let header = "x-amzn-sagemaker-custom-attributes"

    var top: Int
    var threshold: Double

    static func parse(_ attributes: String?, model: ScoringModel) throws(InvocationError) -> Explanation? {
        guard let attributes else { return nil }
        var top: Int?
        var threshold: Double?
        for pair in attributes.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { continue }
            switch kv[0] {
            case "explain_top":
                guard let n = Int(kv[1]), (0...50).contains(n) else {
                    throw InvocationError(.wrongType, "explain_top must be a whole number from 0 to 50, got \"\(kv[1].prefix(20))\"", field: "X-Amzn-SageMaker-Custom-Attributes")
                }
                top = n
            case "explain_threshold":
                guard let t = Double(kv[1]), t.isFinite else {
                    throw InvocationError(.wrongType, "explain_threshold must be a number, got \"\(kv[1].prefix(20))\"", field: "X-Amzn-SageMaker-Custom-Attributes")
                }
                threshold = t
            default:
                continue
            }
        }
        guard let top, top > 0 else { return nil }
        return Explanation(top: top, threshold: threshold ?? model.bundle.alertThreshold)
    }

    /// Row's top_features when its score is at or above the threshold, else nil (only those rows pay).
    func reasons(_ score: Float, scaled: [Float], model: ScoringModel, raw: (Int) -> JSONValue?) -> JSONValue? {
        guard Double(score) >= threshold else { return nil }
        return scaled.withUnsafeBufferPointer { model.bundle.topFeatures(scaled: $0, top: top, raw: raw) }
    }
}
