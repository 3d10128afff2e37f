import Foundation
import SwitchyardTensorCore

/// Softmax cross-entropy over class logits, fused: loss = mean_b (logsumexp(z_b) − z_b[y_b]),
/// dL/dz = (softmax(z) − onehot(y)) / B.
public final class CrossEntropy {
    private var probabilities = Tensor(shape: [0])
    private var labels: UnsafePointer<Int32>?
    private var batch = 0
    private var classes = 0
    /// The count the gradient averages over, when not the batch: under expert parallelism a
    /// rank's share of a batch of N images has gradient (softmax − onehot)/N, so that the sum
    /// over ranks is the whole batch's. nil = the batch.
    public var gradientDenominator: Int?

    /// A loss with no state yet.
    public init() {}

    /// The softmax of the last forward's logits, [B, classes].
    public var softmax: UnsafePointer<Float> { UnsafePointer(probabilities.pointer) }

    /// Mean cross-entropy of `batch` rows of `logits` ([B, classes]) against `labels`, and the
    /// number of rows whose largest logit is the label. `labels` must stay valid until backward.
    public func forward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int)
        -> (loss: Float, correct: Int) {
        if probabilities.count < batch * classes { probabilities = Tensor(shape: [batch * classes]) }
        self.labels = labels
        self.batch = batch
        self.classes = classes
        softmaxRows(logits, into: probabilities.pointer, rows: batch, width: classes)
        var total = 0.0
        var correct = 0
        for b in 0..<batch {
            let row = probabilities.pointer + b * classes
            let y = Int(labels[b])
            total -= Double(logf(max(row[y], Float.leastNormalMagnitude)))
            var best = 0
            for j in 1..<classes where row[j] > row[best] { best = j }
            if best == y { correct += 1 }
        }
        return (Float(total / Double(max(batch, 1))), correct)
    }

    /// dL/d(logits) of the last forward, [B, classes] (in the loss's own buffer).
    public func backward() -> UnsafePointer<Float> {
        guard let labels else { preconditionFailure("CrossEntropy.backward before forward") }
        let inv = 1 / Float(gradientDenominator ?? batch)
        let g = probabilities.pointer
        for b in 0..<batch {
            let row = g + b * classes
            row[Int(labels[b])] -= 1
            for j in 0..<classes { row[j] *= inv }
        }
        return UnsafePointer(g)
    }
}
