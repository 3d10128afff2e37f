import SwitchyardFileIO
import Foundation
import SwitchyardVisionTransformer

/// What a configuration would allocate, estimated from its sizes before anything is allocated,
/// and the budget it must fit: a width or batch size of 10⁹ is refused with a message naming
/// the field and how large it may be, instead of the process aborting on a failed allocation.
///
/// With C channels, S×S images, patches of side p, T = (S/p)² + 1 tokens, width d, H heads,
/// D blocks, E experts of hidden width h, c classes, classifier hidden width c_h and batch B:
///
///     parameters  ≈ C·p²·d + T·d + D·(4d² + 2·d·E + E·(2dh + h + d) + 9d) + d·c_h + c_h·c + d·c
///     activations ≈ B·(C·S² + D·(16·T·d + 2·H·T² + 4·T·h·min(E, 2)))
///     bytes       = 16 · parameters (value, gradient, two Adam moments) + 4 · activations
///
/// (every block counted as an MoE block and the router as two d×E gates, so the estimate is
/// an upper bound of the parameter count). The estimate is not a memory model: it catches
/// sizes that cannot fit (``maximumBytes``), every preset is far below it (seed-cifar10, the
/// largest, needs about 6 GB by this estimate).
public struct MemoryBudget: Equatable, Sendable {
    /// The largest estimate a run may have: 64 GiB.
    public static let maximumBytes = 64.0 * 1024 * 1024 * 1024
    /// The size fields the estimate depends on (field path, increasing in it).
    static let fields = ["batchSize", "model.width", "model.depth", "model.experts", "model.expertHidden",
                         "model.heads", "model.imageSize", "model.imageChannels", "model.classifierHidden", "model.classes"]

    /// Estimated parameters (an upper bound).
    public let parameters: Double
    /// Estimated activation values of one training step.
    public let activations: Double

    /// The estimate for `configuration` (computed in floating point: no size can overflow).
    public init(_ configuration: TrainingConfiguration) {
        let m = configuration.model
        let C = Double(m.imageChannels), S = Double(m.imageSize), p = Double(max(m.patchSize, 1))
        let patches = (S / p).rounded(.down)
        let T = patches * patches + 1
        let d = Double(m.width), D = Double(m.depth), E = Double(m.experts), h = Double(m.expertHidden)
        let H = Double(m.heads), c = Double(m.classes), ch = Double(m.classifierHidden)
        let block = 4 * d * d + 2 * d * E + E * (2 * d * h + h + d) + 9 * d
        let head = ch > 0 ? d * ch + ch + ch * c + c : d * c + c
        parameters = C * p * p * d + T * d + D * block + head + 2 * d
        activations = Double(configuration.batchSize) * (C * S * S + D * (16 * T * d + 2 * H * T * T + 4 * T * h * min(E, 2)))
    }

    /// Estimated bytes: 16 per parameter, 4 per activation value.
    public var bytes: Double { 16 * parameters + 4 * activations }

    /// Whether the estimate is within ``maximumBytes``.
    public var fits: Bool { bytes <= MemoryBudget.maximumBytes }

    /// Throws an ``InputError`` naming the size field that departs most from its preset's value,
    /// its value and the largest value that would fit with the other fields as they are.
    public static func check(_ configuration: TrainingConfiguration) throws {
        let estimate = MemoryBudget(configuration)
        guard !estimate.fits else { return }
        let base = Presets.named(configuration.preset) ?? Presets.fmnistSmall
        let field = fields.max { ratio($0, configuration, base) < ratio($1, configuration, base) }!
        let value = get(field, configuration)
        // The largest value that fits, by bisection (the estimate grows with every field).
        var low = 0, high = value
        while low < high {
            let mid = low + (high - low + 1) / 2
            var trial = configuration
            set(field, mid, &trial)
            if MemoryBudget(trial).fits { low = mid } else { high = mid - 1 }
        }
        let gib = 1024.0 * 1024 * 1024
        let allowed = low >= 1 ? "1 to \(low) with the other sizes as they are"
            : "nothing fits with the other sizes as they are; reduce them too"
        throw InputError(location: field, message: """
            \(value) is not allowed: the run would need about \(format(estimate.bytes / gib)) GiB \
            (\(format(estimate.parameters)) parameters, \(format(estimate.activations)) activation values per step), \
            over the memory budget of \(format(maximumBytes / gib)) GiB (docs/reliability.md); expected \(allowed)
            """)
    }

    private static func ratio(_ field: String, _ c: TrainingConfiguration, _ base: TrainingConfiguration) -> Double {
        Double(get(field, c)) / Double(max(get(field, base), 1))
    }

    static func get(_ field: String, _ c: TrainingConfiguration) -> Int {
        switch field {
        case "batchSize": return c.batchSize
        case "model.width": return c.model.width
        case "model.depth": return c.model.depth
        case "model.experts": return c.model.experts
        case "model.expertHidden": return c.model.expertHidden
        case "model.heads": return c.model.heads
        case "model.imageSize": return c.model.imageSize
        case "model.imageChannels": return c.model.imageChannels
        case "model.classifierHidden": return c.model.classifierHidden
        default: return c.model.classes
        }
    }

    static func set(_ field: String, _ value: Int, _ c: inout TrainingConfiguration) {
        switch field {
        case "batchSize": c.batchSize = value
        case "model.width": c.model.width = value
        case "model.depth": c.model.depth = value
        case "model.experts": c.model.experts = value
        case "model.expertHidden": c.model.expertHidden = value
        case "model.heads": c.model.heads = value
        case "model.imageSize": c.model.imageSize = value
        case "model.imageChannels": c.model.imageChannels = value
        case "model.classifierHidden": c.model.classifierHidden = value
        default: c.model.classes = value
        }
    }

    private static func format(_ x: Double) -> String {
        x >= 1e6 ? String(format: "%.2g", x) : String(Int(x.rounded(.up)))
    }
}
