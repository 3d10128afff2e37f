/// What the routers of a model did with a set of tokens: for every MoE layer and every
/// token, the experts that took it with their combine weights, plus what the statistics
/// need to explain it (the token's image label and patch position, the router's top
/// probability and entropy, optionally the full router probabilities).
///
/// This is the only thing the statistics read: they never see a model. Switchyard's
/// training runs write it (``RoutingTraceFile``, `docs/trace-format.md`), and other
/// frameworks' routing decisions can be imported from CSV or NumPy `.npy` arrays.
///
/// Tokens are numbered `0..<tokenCount` and are the same tokens in every layer.
public struct RoutingTrace: Equatable, Sendable {
    /// The number of experts in each MoE layer (all layers have the same count).
    public var expertCount: Int
    /// The number of tokens, the same in every layer.
    public var tokenCount: Int
    /// The class label of each token's image, or nil when unknown. Length ``tokenCount``.
    public var labels: [Int32]?
    /// Each token's position in its image (0 = CLS, 1… = patches), or nil. Length ``tokenCount``.
    public var positions: [Int32]?
    /// The number of classes the labels range over (labels are `0..<classCount`), or 0.
    public var classCount: Int
    /// Class names for reports, index = label; may be empty.
    public var classNames: [String]
    /// One entry per MoE layer, in model order.
    public var layers: [LayerRouting]
    /// The routing groups, or nil when unknown: the token counts of the consecutive runs of
    /// tokens that the routers routed together (one batch each, the unit of a capacity or of
    /// Expert Choice's per-expert k), in trace order; each at least 1, summing to
    /// ``tokenCount``. The statistics resample whole groups for the load numbers' intervals.
    public var routingGroups: [Int]?
    /// Free-form provenance: router name, run directory, epoch, … (written into reports).
    public var metadata: [String: String]
    /// Each token's domain — the corpus or source its sequence came from (code, arXiv, …),
    /// numbered `0..<maximumDomainCount` — given by the user for domain specialisation, or nil.
    /// Length ``tokenCount``.
    public var domains: [Int32]? = nil
    /// Domain names for outputs, index = domain; may be empty.
    public var domainNames: [String] = []

    /// Metadata key: the number of always-on shared experts per MoE layer, beside the routed ones.
    public static let sharedExpertCountKey = "sharedExpertCount"
    /// Metadata key: how they are weighted, "none" (weight 1 each) or "sigmoid" (a per-token gate).
    public static let sharedExpertGateKey = "sharedExpertGate"

    /// A trace; ``validate()`` checks that the parts agree.
    public init(expertCount: Int, tokenCount: Int, labels: [Int32]? = nil, positions: [Int32]? = nil,
                classCount: Int = 0, classNames: [String] = [], layers: [LayerRouting],
                routingGroups: [Int]? = nil, metadata: [String: String] = [:]) {
        self.expertCount = expertCount
        self.tokenCount = tokenCount
        self.labels = labels
        self.positions = positions
        self.classCount = classCount
        self.classNames = classNames
        self.layers = layers
        self.routingGroups = routingGroups
        self.metadata = metadata
    }

    /// The total number of (token, layer, expert) assignments.
    public var assignmentCount: Int { layers.reduce(0) { $0 + $1.experts.count } }
}

/// One MoE layer's routing of all tokens, in compressed-sparse-row form: the
/// assignments of token `t` are the entries `offsets[t] ..< offsets[t + 1]` of
/// ``experts`` and ``weights``. A token with no assignment was dropped (Switch over
/// capacity) or picked by no expert (Expert Choice).
public struct LayerRouting: Equatable, Sendable {
    /// The layer's index in the model (block number).
    public var layer: Int
    /// Row offsets, length tokenCount + 1, starting at 0 and non-decreasing.
    public var offsets: [Int32]
    /// The expert of each assignment, in `0..<expertCount`.
    public var experts: [Int32]
    /// The combine weight of each assignment (≥ 0).
    public var weights: [Float]
    /// The router's largest probability for each token, or nil when the router has none.
    public var topProbability: [Float]?
    /// The entropy in nats of the router's distribution for each token, or nil.
    public var routerEntropy: [Float]?
    /// The full router probabilities, tokenCount × expertCount row-major, or nil.
    public var probabilities: [Float]?
    /// The router's first-choice expert for each token before capacity limits (−1 for a token
    /// the router preferred no expert for, as ReMoE when all its gates are 0), or nil. With
    /// it, dropped tokens and top-1 agreement can be computed exactly.
    public var preferredExpert: [Int32]?
    /// Each expert's capacity in tokens summed over all routing groups (batches) of the trace,
    /// when the router had one, else nil: expert e's utilisation is its load / capacity.
    public var capacity: Int?
    /// Each token's gate of the layer's one gated shared expert (Qwen2-MoE:
    /// sigmoid(shared_expert_gate(x)), in [0, 1]), or nil. The shared expert itself is always on
    /// and outside ``experts``: the trace's metadata says how many there are
    /// (``RoutingTrace/sharedExpertCountKey``).
    public var sharedGate: [Float]? = nil

    /// A layer's routing; ``RoutingTrace/validate()`` checks it.
    public init(layer: Int, offsets: [Int32], experts: [Int32], weights: [Float],
                topProbability: [Float]? = nil, routerEntropy: [Float]? = nil,
                probabilities: [Float]? = nil, preferredExpert: [Int32]? = nil, capacity: Int? = nil) {
        self.layer = layer
        self.offsets = offsets
        self.experts = experts
        self.weights = weights
        self.topProbability = topProbability
        self.routerEntropy = routerEntropy
        self.probabilities = probabilities
        self.preferredExpert = preferredExpert
        self.capacity = capacity
    }

    /// The routing of consecutive token ranges of one layer as one (the first part's layer number
    /// and capacity); a per-token array missing from any part is missing from the whole.
    public static func concatenating(_ parts: [LayerRouting]) -> LayerRouting {
        var whole = LayerRouting(layer: parts.first?.layer ?? 0, offsets: [0], experts: [], weights: [],
                                 capacity: parts.first?.capacity)
        func joined<T>(_ key: KeyPath<LayerRouting, [T]?>) -> [T]? {
            parts.allSatisfy { $0[keyPath: key] != nil } ? parts.flatMap { $0[keyPath: key]! } : nil
        }
        for part in parts {
            let base = Int32(whole.experts.count)
            whole.offsets += part.offsets.dropFirst().map { $0 + base }
            whole.experts += part.experts
            whole.weights += part.weights
        }
        whole.topProbability = joined(\.topProbability)
        whole.routerEntropy = joined(\.routerEntropy)
        whole.probabilities = joined(\.probabilities)
        whole.preferredExpert = joined(\.preferredExpert)
        whole.sharedGate = joined(\.sharedGate)
        return whole
    }

    /// The number of experts that took token `t`.
    @inlinable public func expertsPerToken(_ t: Int) -> Int { Int(offsets[t + 1] - offsets[t]) }
}

extension RoutingTrace {
    /// Routing groups (``routingGroups``) from one group id per token, as the CSV `group`
    /// column and `groups.npy` give them: each run of equal ids in token order is one group.
    /// Fails with the first token whose id is negative or returns to a group that an earlier
    /// run already closed (a group's tokens must be consecutive).
    public static func routingGroups(fromTokenGroups ids: [Int32]) -> Result<[Int], GroupIDError> {
        var scanner = GroupScanner()
        if let error = scanner.add(ids) { return .failure(error) }
        return .success(scanner.sizes)
    }

    /// ``routingGroups(fromTokenGroups:)`` over ids given a chunk at a time: the group sizes so
    /// far, and the first error.
    public struct GroupScanner: Sendable {
        public private(set) var sizes: [Int] = []
        private var closed = Set<Int32>()
        private var current: Int32? = nil
        private var token = 0

        public init() {}

        /// Adds the ids of the next tokens; returns the first error (the token numbered over all chunks).
        public mutating func add(_ ids: [Int32]) -> GroupIDError? {
            for id in ids {
                defer { token += 1 }
                if id < 0 { return GroupIDError(token: token, group: id, message: "group \(id) is negative; every token needs its routing group (≥ 0)") }
                if id == current {
                    sizes[sizes.count - 1] += 1
                    continue
                }
                if let current { closed.insert(current) }
                if closed.contains(id) {
                    return GroupIDError(token: token, group: id, message: "group \(id) continues after other groups; a routing group's tokens must be consecutive")
                }
                current = id
                sizes.append(1)
            }
            return nil
        }
    }

    /// Why a per-token group id cannot form routing groups: the token, its id and the reason.
    public struct GroupIDError: Error, Equatable, Sendable {
        /// The token whose id is wrong.
        public var token: Int
        /// Its group id.
        public var group: Int32
        /// What is wrong, naming the id.
        public var message: String
    }
}

extension RoutingTrace {
    /// What a trace's tokens are: patches of images (a vision transformer) or tokens of
    /// sequences (a language model). Statistics and reports follow it where the two differ
    /// (which tokens are neighbours, how labels are named).
    public enum Kind: String, Sendable {
        case images, sequences
    }

    /// The metadata key that records the kind.
    public static let kindKey = "traceKind"

    /// The kind recorded in the metadata (an importer sets it when its source says), or nil.
    public var kind: Kind? { metadata[Self.kindKey].flatMap(Kind.init(rawValue:)) }
}
