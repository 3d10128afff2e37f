import SwitchyardFileIO
import SwitchyardTraces

/// What the one-pass analysis (``analyzeStream(_:options:tokensPerChunk:)``) must know before
/// its chunks: from one pass over the per-token arrays (labels, positions, routing groups,
/// domains), never the routing, the decisions the in-memory analysis makes over the whole trace —
/// whether labels count (none unknown), their dense classes (``OccurringLabels``), the position
/// table's rows, image and routing-group boundaries, domains. Memory: the unit boundaries (one
/// integer per image or group) and, for labels over more than 2²⁶ ids, the set of those seen.
struct StreamLayout {
    /// Labels as the statistics take them: present and none −1 (``RoutingTrace/labelledForStatistics()``).
    var labelsUsable = false
    var unknownLabels = 0
    /// Classes (1 without labels) and, when the labels were renumbered, each class's label.
    var classCount = 1
    var classIDs: [Int32]?
    var labelIndex: ((Int32) -> Int32)?
    /// Rows of the position × expert tables (0: none), and the largest position.
    var positionCount = 0
    var largestPosition = -1
    /// Image starts (plus the end) when the tokens are patches of images, else nil.
    var imageStarts: [Int32]?
    /// Routing-group starts (plus the end), nil without `groups.npy`.
    var groupStarts: [Int32]?
    /// Domains (largest + 1; 0 without `domains.npy`), and whether each routing group holds one.
    var domainCount = 0
    var domainsFollowGroups = false

    /// Tokens in the trace.
    let tokenCount: Int

    /// The boundaries chunks are cut at: images, else routing groups, else none.
    var unitStarts: [Int32]? { imageStarts ?? groupStarts }

    init(_ source: NPYTraceSource, kind: RoutingTrace.Kind?, file: String?, limits: ResamplingLimits) throws {
        let n = source.tokenCount, layerCount = source.layerCount, e = source.expertCount
        tokenCount = n
        let block = 1 << 20
        var largestLabel: Int32 = -1
        var groups = RoutingTrace.GroupScanner()
        // Images: positions that restart at the first token's position, one label per run.
        var imageRuns: ImageRuns? = kind != .sequences && source.hasPositions ? ImageRuns() : nil
        var domainsConstant = true, groupDomain: Int32 = -1, lastGroup: Int32 = -1
        for a in stride(from: 0, to: n, by: block) {
            let range = a..<min(n, a + block)
            let labels = try source.labels(range)
            if let labels {
                for x in labels { if x < 0 { unknownLabels += 1 } else { largestLabel = max(largestLabel, x) } }
            }
            if let positions = try source.positions(range) {
                largestPosition = max(largestPosition, try SwitchyardRoutingStatistics.largestPosition(positions, firstToken: a, source: file))
                imageRuns?.add(positions, labels: labels)
            }
            let ids = try source.groupIDs(range)
            if let ids, let error = groups.add(ids) { throw source.groupError(error) }
            if let domains = try source.domains(range) {
                for (i, d) in domains.enumerated() {
                    domainCount = max(domainCount, Int(d) + 1)
                    guard let ids else { continue }
                    if ids[i] != lastGroup { lastGroup = ids[i]; groupDomain = d } else if d != groupDomain { domainsConstant = false }
                }
            }
        }
        labelsUsable = source.hasLabels && unknownLabels == 0
        imageStarts = imageRuns?.groups(labelled: labelsUsable)
        if source.hasGroups {
            var starts: [Int32] = [0]
            starts.reserveCapacity(groups.sizes.count + 1)
            for size in groups.sizes { starts.append(starts.last! + Int32(size)) }
            groupStarts = starts
            domainsFollowGroups = domainsConstant
        }

        if labelsUsable {
            let range = Int(largestLabel) + 1
            classCount = range
            if range.multipliedReportingOverflow(by: layerCount * e).overflow || range * layerCount * e > limits.occurringLabelCells {
                var presence = OccurringLabels.Presence(range: range)
                for a in stride(from: 0, to: n, by: block) { try presence.add(source.labels(a..<min(n, a + block))!) }
                let ids = presence.ids
                if ids.count < range {
                    classIDs = ids
                    labelIndex = OccurringLabels.denseIndex(ids: ids, range: range)
                    classCount = ids.count
                }
            }
            try checkClassTable(classes: classCount, largestLabel: largestLabel, layers: layerCount, experts: e, source: file)
        }
        positionCount = largestPosition + 1
        if positionCount * layerCount * e > maximumPositionCells { positionCount = 0 }
    }

    /// The chunks: consecutive token ranges of at most `tokens` tokens, cut at unit boundaries
    /// where they can be: an image longer than `tokens` is one chunk, a routing group (or a trace
    /// without units) longer than `tokens` is cut (``NeighbourTally`` pairs across the cut).
    func chunks(tokens: Int) -> [Range<Int>] {
        let n = tokenCount, starts = unitStarts ?? [0, Int32(n)]
        var out: [Range<Int>] = []
        var a = 0, i = 0  // starts[i] ≤ a < starts[i + 1]
        while a < n {
            while Int(starts[i + 1]) <= a { i += 1 }
            var j = i + 1
            while j + 1 < starts.count && Int(starts[j + 1]) - a <= tokens { j += 1 }
            var b = Int(starts[j])
            if b - a > tokens && imageStarts == nil { b = a + tokens }
            out.append(a..<b)
            a = b
        }
        return out
    }

    /// The units of `range` (a chunk from ``chunks(tokens:)``) as starts relative to its
    /// first token plus its end, and whether its first unit began in the previous chunk and its
    /// last goes on in the next.
    func units(in range: Range<Int>) -> (starts: [Int32], continuesPrevious: Bool, continuesNext: Bool) {
        let starts = unitStarts ?? [0, Int32(tokenCount)]
        var low = 0, high = starts.count
        while low < high {
            let mid = (low + high) / 2
            if Int(starts[mid]) < range.lowerBound { low = mid + 1 } else { high = mid }
        }
        let continuesPrevious = low >= starts.count || Int(starts[low]) != range.lowerBound
        var out: [Int32] = continuesPrevious ? [0] : []
        var k = low
        while k < starts.count && Int(starts[k]) <= range.upperBound {
            out.append(starts[k] - Int32(range.lowerBound))
            k += 1
        }
        let continuesNext = out.last != Int32(range.count)
        if continuesNext { out.append(Int32(range.count)) }
        return (out, continuesPrevious && range.lowerBound > 0, continuesNext)
    }
}
