import SwitchyardTraces

/// A trace's expert-parallel cost over several device counts and both built-in placements:
/// the numbers behind the reports' "Cost under expert parallelism" sections.
public struct CostSweep: Equatable, Sendable {
    /// One device count and placement.
    public struct Row: Equatable, Sendable {
        /// Devices D.
        public var devices: Int
        /// Contiguous or balanced.
        public var placement: ExpertPlacement.Kind
        /// The dropless simulation (straggler factor, step time).
        public var dropless: CostSummary
        /// Dropped fraction at each of ``capacityFactors``.
        public var droppedFraction: [Double]
    }

    /// Machine and model sizes used.
    public var model: ClusterModel
    /// The capacity factors drops are given for.
    public var capacityFactors: [Double]
    /// Where the dispatch steps came from, and how many there are.
    public var groupSource: DispatchGroups.Source
    public var groupCount: Int
    /// Rows by device count, contiguous before balanced.
    public var rows: [Row]

    /// Device counts for a trace with E experts: 2, 4, 8, … below E, then E (at most 1,024).
    public static func deviceCounts(experts: Int) -> [Int] {
        let top = min(experts, SimulationOptions.maximumDevices)
        guard top >= 2 else { return [] }
        var counts: [Int] = []
        var d = 2
        while d < top { counts.append(d); d *= 2 }
        return counts + [top]
    }

    /// Simulates `trace` at every D of ``deviceCounts(experts:)`` with contiguous and balanced
    /// placement, dropless and at `capacityFactors`.
    public init(_ trace: RoutingTrace, model: ClusterModel, capacityFactors: [Double] = [1.0, 1.25]) throws {
        let groups = try DispatchGroups(trace)
        self.model = model
        self.capacityFactors = capacityFactors
        groupSource = groups.source
        groupCount = groups.count
        rows = []
        for d in Self.deviceCounts(experts: trace.expertCount) {
            for placement in [ExpertPlacement.contiguous(experts: trace.expertCount, devices: d, layers: trace.layers.count),
                              PlacementOptimizer.balanced(trace, devices: d)] {
                func run(_ cf: Double?) throws -> CostSummary {
                    try ExpertParallelSimulation.run(trace, groups: groups, placement: placement,
                                                     options: SimulationOptions(devices: d, capacityFactor: cf, model: model)).overall
                }
                rows.append(Row(devices: d, placement: placement.kind, dropless: try run(nil),
                                droppedFraction: try capacityFactors.map { try run($0).droppedFraction }))
            }
        }
    }
}
