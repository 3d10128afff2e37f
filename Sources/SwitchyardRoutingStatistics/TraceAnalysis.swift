/// Everything ``analyze(trace:options:)`` found in a routing trace: one
/// ``LayerAnalysis`` per MoE layer, one for all layers together (``overall``), the
/// dependence between consecutive layers' choices, and how the uncertainty was computed.
///
/// Its JSON form (snake_case keys, undefined values as `null`) is the machine-readable
/// report; ``summary()`` is the terminal form. See `docs/statistics.md` for every field.
public struct TraceAnalysis: Codable, Sendable, Equatable {
    /// Experts per MoE layer.
    public var expertCount: Int
    /// Tokens in the trace.
    public var tokenCount: Int
    /// MoE layers in the trace.
    public var layerCount: Int
    /// Classes the labels range over (0 without labels).
    public var classCount: Int
    /// Class names from the trace (may be empty).
    public var classNames: [String]
    /// When the labels were renumbered to those that occur (token ids of a large vocabulary,
    /// ``OccurringLabels``): the label of each class, ascending. Every per-class number
    /// (table rows, dominant classes, ``classCount``, ``classNames``) then counts these classes.
    public var classIds: [Int]?

    /// "49937 token ids occur, of 0…49999" when the labels were renumbered (``classIds``), nil
    /// otherwise; `noun` names the labels.
    public func occurringLabels(_ noun: String) -> String? {
        classIds.map { "\($0.count) \(noun) occur, of 0…\($0.last ?? 0)" }
    }
    /// The trace's provenance metadata.
    public var metadata: [String: String]
    /// How the bootstrap and permutation tests resampled.
    public var resampling: ResamplingSummary
    /// One analysis per layer, in model order.
    public var layers: [LayerAnalysis]
    /// All layers together: the model's L·E experts (layer, expert) treated as one
    /// population of FFNs; compute per token is summed over layers.
    public var overall: LayerAnalysis
    /// Dependence between consecutive layers' top-1 experts.
    public var layerTransitions: [LayerTransition]
    /// Per layer, how often neighbouring tokens share their first expert (nil in analyses
    /// written before it existed).
    public var neighbourAgreement: [NeighbourAgreement]?
    /// Per layer with tokens of two or more experts, which experts go together.
    public var coActivation: [CoActivation]?
    /// Per layer, how much a token's id decides its first expert (traces whose labels are per
    /// token, such as token ids; nil for images and traces without labels).
    public var vocabularySpecialisation: [VocabularySpecialisation]? = nil
    /// Domain specialisation per layer, when the trace has domains.
    public var domainSpecialisation: [DomainSpecialisation]? = nil
    /// The shared experts' share of the combine weight per layer, when the model has any.
    public var sharedExperts: [SharedExpertShare]? = nil

    enum CodingKeys: String, CodingKey {
        case expertCount = "expert_count", tokenCount = "token_count", layerCount = "layer_count"
        case classCount = "class_count", classNames = "class_names", classIds = "class_ids", metadata, resampling
        case layers, overall, layerTransitions = "layer_transitions"
        case neighbourAgreement = "neighbour_agreement", coActivation = "co_activation"
        case vocabularySpecialisation = "vocabulary_specialisation"
        case domainSpecialisation = "domain_specialisation"
        case sharedExperts = "shared_experts"
    }
}

/// How uncertainty was computed for a ``TraceAnalysis``.
public struct ResamplingSummary: Codable, Sendable, Equatable {
    /// "tokens" or "images": what the bootstrap resampled and the permutation test permuted.
    public var unit: String
    /// Number of resampling units (tokens or images).
    public var units: Int
    /// Bootstrap resamples (0 = no intervals).
    public var bootstrapResamples: Int
    /// Confidence level of the intervals.
    public var confidenceLevel: Double
    /// Label permutations of the mutual-information test (0 = no test).
    public var permutations: Int
    /// The seed of every random draw.
    public var seed: UInt64
    /// "grouped" when interchangeable tokens were merged and resampled by multinomial
    /// and multivariate-hypergeometric counts, "per_unit" when every unit was drawn,
    /// "blocks" when blocks of ``blockSize`` consecutive same-class units were drawn.
    public var method: String
    /// Units per resampled block (1 unless ``method`` is "blocks").
    public var blockSize: Int
    /// Whether the bootstrap kept each class's size (always, when there are labels).
    public var stratifiedByClass: Bool
    /// When set, the intervals of the load numbers (CV, Gini, MaxVio, mean experts per token)
    /// come from resampling whole routing groups (``Traces/RoutingTrace/routingGroups``, one
    /// batch each), not ``unit``: the number of groups in the trace. Nil when the trace records
    /// fewer than ten groups, when its layers × experts exceed the replicate budget (2²⁰ / 10),
    /// or without resamples.
    public var loadRoutingGroups: Int?
    /// Consecutive routing groups drawn together as one unit (1 unless the groups are too many
    /// for one replicate's budget); nil with ``loadRoutingGroups``.
    public var loadGroupsPerUnit: Int?
    /// The routing groups the trace records (nil without them), whether or not the load
    /// intervals used them.
    public var routingGroups: Int?
    /// The chunks of the one-pass analysis (``method`` "one_pass": no intervals, no permutation
    /// tests); nil otherwise.
    public var chunks: Int? = nil

    /// A summary; the load fields stay nil when the load numbers were resampled by ``unit``.
    public init(unit: String, units: Int, bootstrapResamples: Int, confidenceLevel: Double, permutations: Int,
                seed: UInt64, method: String, blockSize: Int, stratifiedByClass: Bool,
                loadRoutingGroups: Int? = nil, loadGroupsPerUnit: Int? = nil, routingGroups: Int? = nil) {
        self.unit = unit
        self.units = units
        self.bootstrapResamples = bootstrapResamples
        self.confidenceLevel = confidenceLevel
        self.permutations = permutations
        self.seed = seed
        self.method = method
        self.blockSize = blockSize
        self.stratifiedByClass = stratifiedByClass
        self.loadRoutingGroups = loadRoutingGroups
        self.loadGroupsPerUnit = loadGroupsPerUnit
        self.routingGroups = routingGroups
    }

    enum CodingKeys: String, CodingKey {
        case unit, units, bootstrapResamples = "bootstrap_resamples"
        case confidenceLevel = "confidence_level", permutations, seed, method
        case blockSize = "block_size", stratifiedByClass = "stratified_by_class"
        case loadRoutingGroups = "load_routing_groups", loadGroupsPerUnit = "load_groups_per_unit"
        case routingGroups = "routing_groups", chunks
    }
}

/// The statistics of one layer, or of all layers (``TraceAnalysis/overall``).
public struct LayerAnalysis: Codable, Sendable, Equatable {
    /// The layer's index in the model (``LayerRouting/layer``), nil for all layers.
    @Nullable public var layer: Int?
    /// "layer N" or "all layers".
    public var scope: String
    /// Load balance across experts.
    public var load: LoadStatistics
    /// Dependence of expert choice on class and position; router confidence.
    public var affinity: AffinityStatistics
    /// How many experts process each token.
    public var heterogeneity: HeterogeneityStatistics
    /// Bootstrap intervals of the headline numbers (nil with 0 resamples).
    @Nullable public var uncertainty: UncertaintyStatistics?

    enum CodingKeys: String, CodingKey {
        case layer, scope, load, affinity, heterogeneity, uncertainty
    }
}

extension LayerAnalysis {
    /// The CV the summary and reports show: bias-corrected (the interval's estimate, else
    /// ``LoadStatistics/cvCorrected``), the plug-in when neither exists.
    public var headlineCV: Double? { uncertainty?.cv?.estimate ?? load.cvCorrected ?? load.cv }
    /// Gini shown: bootstrap bias-corrected when intervals were computed, else the plug-in.
    public var headlineGini: Double? { uncertainty?.gini?.estimate ?? load.gini }
    /// MaxVio shown: bootstrap bias-corrected when intervals were computed, else the plug-in.
    public var headlineMaxVio: Double? { uncertainty?.maxVio?.estimate ?? load.maxVio }
    /// Mutual information shown: the interval's bias-corrected estimate when intervals were
    /// computed, else Miller–Madow corrected, else the plug-in.
    public var headlineMutualInformationBits: Double? {
        uncertainty?.mutualInformationBits?.estimate ?? affinity.mutualInformationCorrectedBits
            ?? affinity.mutualInformationBits
    }
    /// Cramér's V shown: the interval's bias-corrected estimate, else Bergsma's Ṽ, else the plug-in.
    public var headlineCramersV: Double? {
        uncertainty?.cramersV?.estimate ?? affinity.cramersVCorrected ?? affinity.cramersV
    }
}

extension TraceAnalysis {
    /// Whether tokens are not independent draws: the trace groups them into images (the
    /// resampling unit) or records routing groups. Then the χ² tests, which assume independent
    /// tokens, are left out of the summary and reports (they stay in the JSON).
    public var tokensAreClustered: Bool {
        resampling.unit == "images" || (resampling.routingGroups ?? 0) > 1
    }
}

/// Load balance: how assignments spread over experts.
///
/// For ``TraceAnalysis/overall`` the "experts" are the L·E (layer, expert) pairs in
/// layer-major order (index `layer position · E + expert`), token counts are
/// (token, layer) pairs, and χ² sums the per-layer tests.
public struct LoadStatistics: Codable, Sendable, Equatable {
    /// Experts in this scope (E, or L·E for all layers).
    public var experts: Int
    /// Tokens routed (for all layers: token-layer pairs).
    public var tokens: Int
    /// Assignments: (token, expert) pairs.
    public var assignments: Int
    /// Assignments per expert.
    public var counts: [Int]
    /// Each expert's share of the assignments (nil entries when there are none).
    public var fractions: [Double?]
    /// Mean assignments per expert.
    @Nullable public var mean: Double?
    /// Coefficient of variation of the counts, population standard deviation over mean.
    @Nullable public var cv: Double?
    /// CV².
    @Nullable public var cvSquared: Double?
    /// CV² from the unbiased estimate of Σ p² (``Statistics/unbiasedCVSquared(_:)``); can be
    /// negative for a sample more even than chance.
    @Nullable public var cvSquaredUnbiased: Double?
    /// `√max(0, cvSquaredUnbiased)`: the bias-corrected CV the summary and reports show.
    @Nullable public var cvCorrected: Double?
    /// Miller–Madow corrected load entropy, nats (``Statistics/millerMadowEntropy(_:)``).
    @Nullable public var entropyMillerMadowNats: Double?
    /// `(max − mean) / mean`.
    @Nullable public var maxVio: Double?
    /// `max / mean`.
    @Nullable public var maxOverMean: Double?
    /// Gini coefficient of the counts: 0 balanced, (E − 1)/E all on one expert.
    @Nullable public var gini: Double?
    /// Entropy of the load distribution in nats.
    @Nullable public var entropyNats: Double?
    /// Entropy over its maximum ln E (1 = uniform).
    @Nullable public var entropyRatio: Double?
    /// `KL(load ‖ uniform) = ln E − entropy`, nats.
    @Nullable public var klFromUniformNats: Double?
    /// How many experts the top and bottom shares are taken over: `max(1, ⌊0.2 E + 0.5⌋)`.
    public var shareGroupSize: Int
    /// Share of assignments held by the ``shareGroupSize`` most loaded experts.
    @Nullable public var topShare: Double?
    /// Share held by the ``shareGroupSize`` least loaded experts.
    @Nullable public var bottomShare: Double?
    /// Experts with no assignment.
    public var unusedExperts: [Int]
    /// Tokens that no expert took.
    public var tokensWithoutExpert: Int
    /// ``tokensWithoutExpert`` over ``tokens``.
    @Nullable public var tokensWithoutExpertFraction: Double?
    /// Dropped tokens (see ``droppedDefinition``).
    public var droppedTokens: Int
    /// ``droppedTokens`` over ``tokens``.
    @Nullable public var droppedFraction: Double?
    /// "preferred_expert_not_taken" (the trace records each token's first choice) or
    /// "no_expert" (tokens without any expert); "mixed" for all layers when layers differ.
    public var droppedDefinition: String
    /// Each expert's capacity when the router had one.
    @Nullable public var capacity: Int?
    /// Assignments over total capacity `E · capacity`.
    @Nullable public var capacityUtilization: Double?
    /// The most loaded expert's count over capacity.
    @Nullable public var maxCapacityUtilization: Double?
    /// Experts whose count reached capacity.
    @Nullable public var expertsAtCapacity: Int?
    /// Pearson's χ² of the counts against a uniform spread.
    @Nullable public var chi2: Double?
    /// Its degrees of freedom (E − 1; L(E − 1) for all layers).
    public var chi2DF: Int
    /// Its p-value: small means the load is not uniform.
    @Nullable public var chi2P: Double?

    enum CodingKeys: String, CodingKey {
        case experts, tokens, assignments, counts, fractions, mean, cv
        case cvSquared = "cv_squared", cvSquaredUnbiased = "cv_squared_unbiased", cvCorrected = "cv_corrected"
        case entropyMillerMadowNats = "entropy_miller_madow_nats", maxVio = "max_vio", maxOverMean = "max_over_mean", gini
        case entropyNats = "entropy_nats", entropyRatio = "entropy_ratio"
        case klFromUniformNats = "kl_from_uniform_nats", shareGroupSize = "share_group_size"
        case topShare = "top_share", bottomShare = "bottom_share", unusedExperts = "unused_experts"
        case tokensWithoutExpert = "tokens_without_expert"
        case tokensWithoutExpertFraction = "tokens_without_expert_fraction"
        case droppedTokens = "dropped_tokens", droppedFraction = "dropped_fraction"
        case droppedDefinition = "dropped_definition", capacity
        case capacityUtilization = "capacity_utilization"
        case maxCapacityUtilization = "max_capacity_utilization"
        case expertsAtCapacity = "experts_at_capacity", chi2, chi2DF = "chi2_df", chi2P = "chi2_p"
    }
}

/// Token–expert affinity: how much the expert choice depends on the token's class (and
/// position), and how confident the router was. Class fields are nil without labels.
public struct AffinityStatistics: Codable, Sendable, Equatable {
    /// Non-empty classes.
    public var classes: Int
    /// Assignments by class (rows) and expert (columns), when labels are known and
    /// tables were requested.
    @Nullable public var classExpertCounts: [[Int]]?
    /// Mutual information between class and expert, bits (assignment-weighted).
    @Nullable public var mutualInformationBits: Double?
    /// `2I / (H(class) + H(expert))`.
    @Nullable public var normalizedMutualInformation: Double?
    /// Entropy of the class margin of the table, bits.
    @Nullable public var classEntropyBits: Double?
    /// Entropy of the expert margin of the table, bits.
    @Nullable public var expertEntropyBits: Double?
    /// χ² statistic of independence of class and expert.
    @Nullable public var chi2: Double?
    /// `(classes − 1)(experts − 1)` over non-empty rows and columns.
    @Nullable public var chi2DF: Int?
    /// χ² p-value.
    @Nullable public var chi2P: Double?
    /// Cramér's V of the class × expert table.
    @Nullable public var cramersV: Double?
    /// Miller–Madow corrected mutual information, bits: the headline when no bootstrap ran.
    @Nullable public var mutualInformationCorrectedBits: Double?
    /// Bergsma's bias-corrected Cramér's V: the headline when no bootstrap ran.
    @Nullable public var cramersVCorrected: Double?
    /// What the χ² test assumes: "independent tokens" (each assignment an independent draw).
    /// With images or routing groups it is not the headline test; the permutation test is.
    public var chi2Assumes: String?
    /// Permutation p-value of the mutual information, `(1 + #{I* ≥ I}) / (1 + B)`.
    @Nullable public var mutualInformationPermutationP: Double?
    /// Label permutations B behind that p-value.
    public var permutations: Int
    /// When the test ran on a random subset of units (too many assignments for the permutations'
    /// work budget): how many units, and the subset's own mutual information, which the p is
    /// about; nil when it used every unit.
    public var permutationUnits: Int?
    public var permutationMutualInformationBits: Double?
    /// For each expert, its dominant class.
    public var dominantClasses: [DominantClass]
    /// Mean over tokens of the router's largest probability.
    @Nullable public var routerConfidence: Double?
    /// Mean over tokens of the router's entropy, nats.
    @Nullable public var meanRouterEntropyNats: Double?
    /// Mean router entropy over ln E.
    @Nullable public var meanRouterEntropyRatio: Double?
    /// Mean router probability of each expert (the Switch loss's P_e).
    @Nullable public var meanProbabilityPerExpert: [Double]?
    /// Mean router probability by class (rows) and expert (columns).
    @Nullable public var classExpertMeanProbability: [[Double?]]?
    /// Assignments by position (rows, 0 = CLS) and expert, when positions are known and
    /// tables were requested.
    @Nullable public var positionExpertCounts: [[Int]]?
    /// Association of position and expert.
    @Nullable public var position: ContingencyStatistics?

    enum CodingKeys: String, CodingKey {
        case classes, classExpertCounts = "class_expert_counts"
        case mutualInformationBits = "mutual_information_bits"
        case normalizedMutualInformation = "normalized_mutual_information"
        case classEntropyBits = "class_entropy_bits", expertEntropyBits = "expert_entropy_bits"
        case chi2, chi2DF = "chi2_df", chi2P = "chi2_p", cramersV = "cramers_v"
        case mutualInformationCorrectedBits = "mutual_information_miller_madow_bits"
        case cramersVCorrected = "cramers_v_bias_corrected", chi2Assumes = "chi2_assumes"
        case mutualInformationPermutationP = "mutual_information_permutation_p", permutations
        case permutationUnits = "permutation_units"
        case permutationMutualInformationBits = "permutation_mutual_information_bits"
        case dominantClasses = "dominant_classes", routerConfidence = "router_confidence"
        case meanRouterEntropyNats = "mean_router_entropy_nats"
        case meanRouterEntropyRatio = "mean_router_entropy_ratio"
        case meanProbabilityPerExpert = "mean_probability_per_expert"
        case classExpertMeanProbability = "class_expert_mean_probability"
        case positionExpertCounts = "position_expert_counts", position
    }
}

/// An expert's most frequent class.
public struct DominantClass: Codable, Sendable, Equatable {
    /// The expert (for all layers: layer position · E + expert).
    public var expert: Int
    /// Its most frequent class (lowest index on ties), nil when it took no token.
    @Nullable public var dominantClass: Int?
    /// That class's name when the trace has one.
    @Nullable public var className: String?
    /// That class's share of the expert's assignments.
    @Nullable public var share: Double?
    /// The expert's assignments.
    public var assignments: Int

    enum CodingKeys: String, CodingKey {
        case expert, dominantClass = "class", className = "class_name", share, assignments
    }
}

/// How many experts each token gets (Expert Choice gives 0, 1, 2, … experts).
public struct HeterogeneityStatistics: Codable, Sendable, Equatable {
    /// Tokens with 0, 1, 2, 3 and 4 or more experts (for all layers: token-layer pairs).
    public var expertsPerTokenHistogram: [Int]
    /// Tokens with exactly k experts, k = 0, 1, … (for all layers: token-layer pairs).
    public var expertsPerTokenCounts: [Int]
    /// Fraction of tokens with at least t experts, t = 0, 1, … (entry 0 is 1).
    public var fractionWithAtLeast: [Double]
    /// Mean experts per token (for all layers: per token-layer pair).
    @Nullable public var meanExpertsPerToken: Double?
    /// Compute per token: experts per token (for all layers: summed over layers).
    public var computePerToken: ComputeStatistics
    /// Mean compute per token by class.
    @Nullable public var meanComputeByClass: [Double?]?
    /// Tokens per class.
    @Nullable public var classTokenCounts: [Int]?
    /// Kruskal–Wallis test that compute per token has the same distribution in every class.
    @Nullable public var kruskalWallis: KruskalWallisTest?

    enum CodingKeys: String, CodingKey {
        case expertsPerTokenHistogram = "experts_per_token_histogram"
        case expertsPerTokenCounts = "experts_per_token_counts"
        case fractionWithAtLeast = "fraction_with_at_least"
        case meanExpertsPerToken = "mean_experts_per_token", computePerToken = "compute_per_token"
        case meanComputeByClass = "mean_compute_by_class", classTokenCounts = "class_token_counts"
        case kruskalWallis = "kruskal_wallis"
    }
}

/// The distribution of compute (expert FFN evaluations) per token.
public struct ComputeStatistics: Codable, Sendable, Equatable {
    /// Mean.
    @Nullable public var mean: Double?
    /// Sample variance (n − 1).
    @Nullable public var variance: Double?
    /// Gini coefficient across tokens.
    @Nullable public var gini: Double?
    /// Tokens with compute 0, 1, 2, ….
    public var histogram: [Int]
}

/// Bootstrap intervals of the headline numbers.
public struct UncertaintyStatistics: Codable, Sendable, Equatable {
    /// Of ``LoadStatistics/cv``.
    @Nullable public var cv: BootstrapInterval?
    /// Of ``LoadStatistics/gini``.
    @Nullable public var gini: BootstrapInterval?
    /// Of ``LoadStatistics/maxVio``.
    @Nullable public var maxVio: BootstrapInterval?
    /// Of ``AffinityStatistics/mutualInformationBits``.
    @Nullable public var mutualInformationBits: BootstrapInterval?
    /// Of ``AffinityStatistics/cramersV``.
    @Nullable public var cramersV: BootstrapInterval?
    /// Of ``HeterogeneityStatistics/meanExpertsPerToken``.
    @Nullable public var meanExpertsPerToken: BootstrapInterval?

    enum CodingKeys: String, CodingKey {
        case cv, gini, maxVio = "max_vio", mutualInformationBits = "mutual_information_bits"
        case cramersV = "cramers_v", meanExpertsPerToken = "mean_experts_per_token"
    }
}

extension UncertaintyStatistics {
    /// Loads that no resample can change (``BootstrapInterval/fixedBy``): CV, Gini, MaxVio and
    /// experts per token become their plug-in values in `h`, fixed by `reason`.
    mutating func fixLoads(at h: Headline, by reason: String) {
        cv = .fixed(at: h.cv, by: reason)
        gini = .fixed(at: h.gini, by: reason)
        maxVio = .fixed(at: h.maxVio, by: reason)
        meanExpertsPerToken = .fixed(at: h.meanExpertsPerToken, by: reason)
    }
}

/// A percentile bootstrap interval, or the estimate itself when the statistic cannot vary
/// (``fixedBy``).
public struct BootstrapInterval: Codable, Sendable, Equatable {
    /// The statistic on the data.
    @Nullable public var estimate: Double?
    /// Lower end.
    public var lower: Double
    /// Upper end.
    public var upper: Double
    /// Standard deviation of the replicates.
    @Nullable public var standardError: Double?
    /// Replicates with a finite value (0 when ``fixedBy`` is set).
    public var resamples: Int
    /// Set when the statistic is fixed by the router's design rather than estimated: then
    /// `lower` = `upper` = the estimate, no replicate is used, and this names the reason.
    /// `"capacity"`: the trace comes from Expert Choice (metadata `router` = `expert-choice`)
    /// and in this scope every expert took exactly its capacity. Expert Choice does so by design
    /// (each expert takes k = n·c/E tokens of every batch, unless a per-token cap holds it
    /// below), so the loads — and CV, Gini, MaxVio and the mean experts per token — are the
    /// same for any sample the router is run on; resampling the recorded tokens instead would
    /// break the per-batch balance and give an interval above the estimate. Token-choice
    /// routers are never marked `capacity`, even with every buffer full (a capacity factor
    /// below 1): a different sample could leave one short. `"routing alike in every image"` (or `routing
    /// group`, `token`, `block`): every resampling unit loads the experts in the same
    /// proportions (routing by position, for example), so no resample changes the loads and
    /// the plug-in values are exact (``LoadsAlike``). Absent otherwise.
    public var fixedBy: String?
    /// How the interval was formed: "basic" (basic bootstrap interval of the bias-corrected
    /// statistic), "percentile", "moment selection" (MaxVio), "shrunk-world basic" (MI, V),
    /// "shrunk-world iterated bootstrap" (Gini), or "fixed" (``fixedBy``); docs/statistics.md.
    public var method: String?
    /// The uncorrected (plug-in) value when ``estimate`` is bias-corrected.
    public var plugIn: Double?
    /// True when the permutation test did not reject independence at 1 − level: the lower end
    /// is then 0 ("no detectable affinity"; the interval bounds the affinity from above).
    public var noDetectableEffect: Bool?
    /// True when the interval is `(lower, upper]`, open at a lower end of 0: the permutation
    /// test rejected independence, so 0 is outside the confidence set although the bootstrap
    /// interval reaches it (the set is the test's inversion at 0; docs/statistics.md).
    public var lowerOpen: Bool?
    /// Set when the interval does not contain ``estimate`` (a skewed bootstrap distribution):
    /// read the interval with care.
    public var warning: String?
    /// For mutual information and Cramér's V: the share of the class × expert table's expected
    /// counts below 5, set when it exceeds 0.2 (Cochran 1954): the table is too sparse for the
    /// bias correction and its bootstrap, so summaries and reports show no interval (``lower``
    /// and ``upper`` are kept for reference only); the permutation test's p stands.
    public var sparseTableShare: Double?

    /// An interval; `fixedBy` as described above.
    public init(estimate: Double?, lower: Double, upper: Double, standardError: Double?, resamples: Int,
                fixedBy: String? = nil) {
        self.estimate = estimate
        self.lower = lower
        self.upper = upper
        self.standardError = standardError
        self.resamples = resamples
        self.fixedBy = fixedBy
    }

    /// How reports show a fixed statistic's interval, e.g. "(fixed by capacity)"; nil for an
    /// ordinary interval.
    public var fixedLabel: String? { fixedBy.map { "(fixed by \($0))" } }

    /// The degenerate interval of a statistic fixed by `reason` (see ``fixedBy``), or nil for
    /// a non-finite estimate.
    static func fixed(at estimate: Double?, by reason: String) -> BootstrapInterval? {
        guard let estimate, estimate.isFinite else { return nil }
        var interval = BootstrapInterval(estimate: estimate, lower: estimate, upper: estimate, standardError: 0,
                                         resamples: 0, fixedBy: reason)
        interval.method = "fixed"
        return interval
    }

    /// The interval of MI or V not bootstrapped because every scope's table is sparse
    /// (``sparseTableShare`` is set afterwards): `method` "withheld", no replicates, both ends
    /// at the estimate (Miller–Madow or Bergsma, the headline without a bootstrap).
    static func withheld(estimate: Double, plugIn: Double) -> BootstrapInterval? {
        guard estimate.isFinite else { return nil }
        var interval = BootstrapInterval(estimate: estimate, lower: estimate, upper: estimate, standardError: nil,
                                         resamples: 0)
        interval.method = "withheld"
        interval.plugIn = finite(plugIn)
        return interval
    }

    /// This interval for a statistic whose permutation test found no dependence: lower end 0.
    func withoutDetectableEffect() -> BootstrapInterval {
        var out = self
        out.lower = 0
        out.upper = max(upper, estimate ?? 0)
        out.noDetectableEffect = true
        out.warning = nil
        return out
    }

    /// This interval for a statistic whose permutation test rejected independence: 0 leaves the
    /// set, so a lower end of 0 becomes open.
    func withDetectedEffect() -> BootstrapInterval {
        guard lower <= 0 else { return self }
        var out = self
        out.lowerOpen = true
        out.warning = nil
        out.checkContainsEstimate()
        return out
    }

    /// Whether `x` is in the interval (``lowerOpen`` respected).
    public func contains(_ x: Double) -> Bool {
        (lowerOpen == true ? lower < x : lower <= x) && x <= upper
    }

    /// This interval withheld for a sparse table (see ``sparseTableShare``).
    func withheld(sparseShare share: Double) -> BootstrapInterval {
        var out = self
        out.sparseTableShare = share
        out.warning = nil
        return out
    }

    /// How reports show a withheld interval; nil when it is shown.
    public var withheldLabel: String? {
        sparseTableShare.map { String(format: "(no interval: sparse table, %.0f%% of expected counts below 5)", 100 * $0) }
    }

    /// Sets ``warning`` when the interval excludes the estimate.
    mutating func checkContainsEstimate() {
        guard let estimate, !contains(estimate) else { return }
        warning = "the interval does not contain the estimate"
    }

    enum CodingKeys: String, CodingKey {
        case estimate, lower, upper, standardError = "standard_error", resamples, fixedBy = "fixed_by"
        case method, plugIn = "plug_in", noDetectableEffect = "no_detectable_effect", lowerOpen = "lower_open", warning
        case sparseTableShare = "sparse_table_share"
    }
}

/// Dependence between one layer's top-1 expert and the next layer's.
public struct LayerTransition: Codable, Sendable, Equatable {
    /// The earlier layer's index.
    public var fromLayer: Int
    /// The later layer's index.
    public var toLayer: Int
    /// Tokens with a top-1 expert in both layers.
    public var tokens: Int
    /// Mutual information of the two top-1 experts, bits.
    @Nullable public var mutualInformationBits: Double?
    /// `2I / (H(from) + H(to))`.
    @Nullable public var normalizedMutualInformation: Double?
    /// Cramér's V of the E × E table.
    @Nullable public var cramersV: Double?
    /// χ² of independence.
    @Nullable public var chi2: Double?
    /// Its degrees of freedom.
    public var chi2DF: Int
    /// Its p-value (assumes independent tokens).
    @Nullable public var chi2P: Double?
    /// Miller–Madow corrected mutual information, bits.
    public var mutualInformationCorrectedBits: Double?
    /// Permutation p of the mutual information: the later layer's top-1 experts permuted over
    /// units (tokens, or whole images of equal length) against the earlier layer's.
    public var mutualInformationPermutationP: Double?
    /// Permutations behind that p-value (0 = none).
    public var permutations: Int = 0
    /// When the test ran on a random subset of units (too many tokens for the permutations'
    /// work budget): how many units, and the subset's own mutual information, which the p is
    /// about; nil when it used every unit.
    public var permutationUnits: Int?
    public var permutationMutualInformationBits: Double?
    /// With every layer pair analysed (`analyze --layer-pairs all`): the tokens' joint top-1
    /// counts, `coOccurrence[i][j]` tokens with expert ``coOccurrenceExperts``[i] in the earlier
    /// layer and [j] in the later one (experts no token chose in either layer left out).
    public var coOccurrence: [[Int]]?
    public var coOccurrenceExperts: [Int]?

    public init(fromLayer: Int, toLayer: Int, tokens: Int, mutualInformationBits: Double?,
                normalizedMutualInformation: Double?, cramersV: Double?, chi2: Double?, chi2DF: Int,
                chi2P: Double?) {
        self.fromLayer = fromLayer
        self.toLayer = toLayer
        self.tokens = tokens
        self.mutualInformationBits = mutualInformationBits
        self.normalizedMutualInformation = normalizedMutualInformation
        self.cramersV = cramersV
        self.chi2 = chi2
        self.chi2DF = chi2DF
        self.chi2P = chi2P
    }

    enum CodingKeys: String, CodingKey {
        case mutualInformationCorrectedBits = "mutual_information_miller_madow_bits"
        case mutualInformationPermutationP = "mutual_information_permutation_p", permutations
        case permutationUnits = "permutation_units"
        case permutationMutualInformationBits = "permutation_mutual_information_bits"
        case fromLayer = "from_layer", toLayer = "to_layer", tokens
        case mutualInformationBits = "mutual_information_bits"
        case normalizedMutualInformation = "normalized_mutual_information"
        case cramersV = "cramers_v", chi2, chi2DF = "chi2_df", chi2P = "chi2_p"
        case coOccurrence = "co_occurrence", coOccurrenceExperts = "co_occurrence_experts"
    }
}
