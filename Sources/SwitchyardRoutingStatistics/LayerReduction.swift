import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// One layer of a trace reduced to what the statistics need.
struct LayerReduction {
    /// The layer's index in the model.
    var layerNumber: Int
    /// Each token's routing pattern and each pattern's experts.
    var members: PatternMembers
    /// Assignments by class and expert, row-major `classCount × E`.
    var classExpert: [Double]
    /// Tokens by number of experts and class: `expertsPerToken[k][c]`, k = 0…most per token.
    var expertsPerToken: [[Double]]
    /// Each token's top-1 expert (-1 = none): the preferred expert when recorded, else
    /// the assigned expert with the largest weight (first on ties), else the argmax of
    /// the router probabilities.
    var top1: [Int32]
    /// Assignments by position and expert, row-major `positionCount × E`, or nil.
    var positionExpert: [Double]?
    /// Tokens that no expert took.
    var tokensWithoutExpert: Int
    /// Dropped tokens.
    var dropped: Int
    /// How drops were counted.
    var droppedDefinition: String
    /// Expert capacity, when the router had one.
    var capacity: Int?
    /// Mean largest router probability, or nil.
    var routerConfidence: Double?
    /// Mean router entropy in nats, or nil.
    var meanRouterEntropy: Double?
    /// Sums of router probabilities by class and expert (`classCount × E`), or nil.
    var probabilityByClass: [Double]?
    /// Tokens per class (for the probability means).
    var classTokens: [Double]

    var patternCount: Int { members.count }

    /// The counted part only, for the one-pass analysis, which resamples nothing: no routing
    /// patterns and no first experts.
    init(layerNumber: Int, tally: LayerTally) {
        self.init(layerNumber: layerNumber, members: PatternMembers(tokensOf: LayerRouting(layer: layerNumber, offsets: [0], experts: [], weights: [])),
                  tally: tally, top1: [])
    }

    init(layerNumber: Int, members: PatternMembers, tally: LayerTally, top1: [Int32]) {
        self.layerNumber = layerNumber
        self.members = members
        self.top1 = top1
        classExpert = tally.classExpert
        expertsPerToken = tally.levels
        positionExpert = tally.positionExpert
        tokensWithoutExpert = tally.tokensWithoutExpert
        dropped = tally.dropped
        droppedDefinition = tally.droppedDefinition
        capacity = tally.capacity
        routerConfidence = tally.routerConfidence
        meanRouterEntropy = tally.meanRouterEntropy
        probabilityByClass = tally.probabilityByClass
        classTokens = tally.classTokens
    }
    /// The largest number of experts a token of the layer has.
    var mostExpertsPerToken: Int { expertsPerToken.count - 1 }
}

/// Reduces one layer of `trace` in a few passes over its tokens: its ``LayerTally``, each
/// token's first expert and routing pattern.
/// `maximumPatterns` bounds the routing patterns numbered (``PatternTable``); beyond it each
/// token is its own pattern.
func reduceLayer(_ layer: LayerRouting, of trace: RoutingTrace, shape: TraceShape,
                 source: String?, maximumPatterns: Int = ResamplingLimits().maxPatterns) throws -> LayerReduction {
    let n = trace.tokenCount, e = trace.expertCount
    var tally = LayerTally(expertCount: e, classCount: shape.classCount, positionCount: shape.positionCount)
    try tally.add(layer, labels: trace.labels, positions: trace.positions, firstToken: 0, source: source)
    let patterns = PatternTable(expertCount: e, limit: maximumPatterns)
    var patternOfToken = [Int32](repeating: 0, count: n)
    var tokenIsPattern = false
    layer.offsets.withUnsafeBufferPointer { off in
    layer.experts.withUnsafeBufferPointer { ex in
    patternOfToken.withUnsafeMutableBufferPointer { pat in
        let exBase = ex.baseAddress ?? UnsafePointer(bitPattern: 8)!
        for t in 0..<n {
            let s = Int(off[t]), k = Int(off[t + 1]) - s
            let id = patterns.id(exBase + s, k)
            if id < 0 { tokenIsPattern = true; break }
            pat[t] = id
        }
    }}}
    return LayerReduction(
        layerNumber: layer.layer,
        members: tokenIsPattern ? PatternMembers(tokensOf: layer) : PatternMembers(patternOfToken: patternOfToken, table: patterns),
        tally: tally, top1: firstExperts(layer, expertCount: e))
}
