import SwitchyardFileIO
import Foundation

/// Routing traces from NumPy arrays in a directory, as a PyTorch or JAX script dumps
/// them with `np.save` (see `docs/trace-format.md`):
///
/// | file            | shape              | type    | meaning                                         |
/// |-----------------|--------------------|---------|-------------------------------------------------|
/// | `experts.npy`   | n×k or L×n×k       | integer | the k experts of each token; < 0 = empty slot   |
/// | `weights.npy`   | same as experts    | float   | combine weights (optional)                      |
/// | `probs.npy`     | n×E or L×n×E       | float   | the router's probabilities (optional)           |
/// | `labels.npy`    | n                  | integer | class label of each token's image, −1 = unknown |
/// | `positions.npy` | n                  | integer | position in the image, −1 = unknown             |
/// | `groups.npy`    | n                  | integer | routing group (batch) of each token, ≥ 0        |
/// | `domains.npy`   | n                  | integer | domain (source corpus) of each token, ≥ 0       |
/// | `shared_gate.npy` | L×n (or n)       | float   | gate of the layer's gated shared expert, [0, 1] |
///
/// Layers are numbered `0..<L` (a 2-D `experts.npy` is one layer, 0), or by the `blocks` of a
/// `meta.json` beside the arrays (``ExportMetadata``: the Hugging Face exporter's, which also
/// marks the trace as sequences of token ids). Without
/// `weights.npy` a token's m experts get weight 1/m each. With `probs.npy` each layer
/// gets the full probabilities, the top probability, the first-choice (preferred) expert
/// and, when every row sums to 1 within 10⁻³, the entropy `−Σ p ln p`. With `groups.npy`
/// each run of equal group ids is one routing group (``RoutingTrace/routingGroups``); a
/// group's tokens must be consecutive.
public enum RoutingTraceNPY {
    /// The file names read from the directory.
    public static let fileNames = ["experts.npy", "weights.npy", "probs.npy", "labels.npy", "positions.npy", "groups.npy",
                                   "domains.npy", "shared_gate.npy"]

    /// The most router probabilities (layers × tokens × E) kept whole in the trace: 2^29, 2 GiB, the
    /// largest `probs.npy` that was read whole before files were read in chunks.
    public static let maximumKeptProbabilities = 1 << 29

    /// Reads a trace from `directory`, which must hold `experts.npy`. `expertCount`
    /// fixes the number of experts; nil takes the last dimension of `probs.npy`, or
    /// the largest expert + 1 within ``ExpertCountInference``'s bound (noted in
    /// `metadata["importWarnings"]`).
    /// `maximumKeptProbabilities` bounds the router probabilities kept whole.
    public static func read(directory: String, expertCount given: Int? = nil,
                            maximumKeptProbabilities: Int = maximumKeptProbabilities) throws -> RoutingTrace {
        try read(directory: directory, expertCount: given, maximumKeptProbabilities: maximumKeptProbabilities,
                 rowsPerChunk: nil)
    }

    /// ``read(directory:expertCount:maximumKeptProbabilities:)`` reading `rowsPerChunk` tokens of
    /// a layer at a time (nil: about 256 KiB of experts or 1 MiB of probabilities; tests use a few).
    static func read(directory: String, expertCount given: Int?, maximumKeptProbabilities: Int,
                     rowsPerChunk: Int?) throws -> RoutingTrace {
        let source = try NPYTraceSource(directory: directory, expertCount: given)
        let n = source.tokenCount, all = 0..<source.tokenCount
        // Full probabilities only up to a size; beyond it each token keeps its top probability,
        // preferred expert and entropy (docs/trace-format.md).
        let keepProbabilities = source.probabilityValues <= maximumKeptProbabilities
        let (layers, layerNotes) = try source.layers(all, keepProbabilities: keepProbabilities, rowsPerChunk: rowsPerChunk)
        var notes = layerNotes.compactMap { $0 }
        if source.probabilityValues > 0 && !keepProbabilities {
            notes.append("probs.npy holds \(source.probabilityValues) values, more than the \(maximumKeptProbabilities) kept: each token keeps its top probability, preferred expert and entropy, and the class × expert mean probabilities are left out")
        }
        let labels = try source.labels(all)
        let positions = try source.positions(all)
        let classCount = labels.map { Int(($0.max() ?? -1) + 1) } ?? 0
        var routingGroups: [Int]? = nil
        if let ids = try source.groupIDs(all) {
            switch RoutingTrace.routingGroups(fromTokenGroups: ids) {
            case .success(let sizes): routingGroups = sizes
            case .failure(let error): throw source.groupError(error)
            }
        }

        var trace = RoutingTrace(expertCount: source.expertCount, tokenCount: n, labels: labels, positions: positions,
                                 classCount: classCount, layers: layers, routingGroups: routingGroups,
                                 metadata: source.metadata(notes: notes))
        trace.domains = try source.domains(all)
        if let meta = source.exportMetadata { try meta.apply(to: &trace, file: source.metadataPath) }
        try trace.validate(file: directory)
        return trace
    }
}
