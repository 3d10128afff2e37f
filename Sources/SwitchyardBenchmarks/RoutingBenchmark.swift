import Foundation
import SwitchyardLayers
import SwitchyardRouting
import SwitchyardTensorCore

/// The routing microbenchmark of `switchyard bench route`: the cost of one MoE layer call
/// without its experts, over a grid of tokens n, width d, experts E and experts per token k.
///
/// Forward = `router.route` (the gate GEMM, softmax, selection, capacity, auxiliary loss)
/// + ``MoEDataMovement/dispatch(_:width:plan:into:)`` (gather) + ``MoEDataMovement/combine(_:width:plan:into:)``
/// (weighted scatter-add); backward = ``MoEDataMovement/combineBackward(dOutput:expertOutput:width:plan:dExpertOutput:dWeights:)``
/// + ``MoEDataMovement/dispatchBackward(_:width:plan:into:)`` + `router.backward` (through the
/// combine weights and the auxiliary loss, into the gate and the input). These are the very
/// functions ``MoELayer`` calls. **Expert compute is not included**: the expert is the identity
/// (its output is the gathered buffer itself, its input gradient the output gradient), so no
/// time is spent between dispatch and combine.
///
/// Each cell is timed in `repetitions` rounds of enough calls to last `roundSeconds`, after two
/// untimed calls (the second sets the calls per round); the median round's time per call is
/// reported, forward and backward apart.
/// Routing runs in training mode (training capacity factors, noise) with a fixed seed.
///
/// ```swift
/// let grid = RoutingBenchmark.Grid(router: "switch", tokens: [1000, 10000], width: 64,
///                                  experts: [4, 8], ks: [1])
/// let cells = try RoutingBenchmark.run(grid)
/// print(RoutingBenchmark.markdown(cells))
/// ```
public enum RoutingBenchmark {
    /// What to measure.
    public struct Grid: Sendable {
        /// The router's registered name.
        public var router: String
        /// Token counts n.
        public var tokens: [Int]
        /// Token width d.
        public var width: Int
        /// Expert counts E.
        public var experts: [Int]
        /// Experts per token k (see ``routerOptions(router:k:experts:registry:)``).
        public var ks: [Int]
        /// Further router options, applied after k's (and winning over them).
        public var routerOptions: [String: String]
        /// Timed rounds per cell; the median is reported.
        public var repetitions: Int
        /// Minimum length of a round, seconds.
        public var roundSeconds: Double
        /// Cells whose estimated memory exceeds this many bytes are skipped.
        public var memoryLimitBytes: Int
        /// Seed of the inputs and the routers.
        public var seed: UInt64

        /// A grid; defaults as `switchyard bench route`'s.
        public init(router: String, tokens: [Int], width: Int, experts: [Int], ks: [Int],
                    routerOptions: [String: String] = [:], repetitions: Int = 5, roundSeconds: Double = 0.05,
                    memoryLimitBytes: Int = 8 << 30, seed: UInt64 = 0) {
            self.router = router
            self.tokens = tokens
            self.width = width
            self.experts = experts
            self.ks = ks
            self.routerOptions = routerOptions
            self.repetitions = repetitions
            self.roundSeconds = roundSeconds
            self.memoryLimitBytes = memoryLimitBytes
            self.seed = seed
        }
    }

    /// One cell of the grid.
    public struct Cell: Codable, Sendable {
        /// The router.
        public var router: String
        /// Tokens n.
        public var tokens: Int
        /// Width d.
        public var width: Int
        /// Experts E.
        public var experts: Int
        /// Experts per token k.
        public var k: Int
        /// The router options used for the cell.
        public var routerOptions: [String: String]
        /// Assignments the router made per token (after capacity).
        public var assignmentsPerToken: Double
        /// Calls per timed round.
        public var callsPerRound: Int
        /// Timed rounds.
        public var rounds: Int
        /// Median forward time per call, seconds.
        public var forwardSeconds: Double
        /// Median backward time per call, seconds.
        public var backwardSeconds: Double
        /// The estimated memory of the cell, bytes.
        public var estimatedBytes: Int
        /// Why the cell was not measured, or nil.
        public var skipped: String?

        /// Forward + backward seconds per call.
        public var totalSeconds: Double { forwardSeconds + backwardSeconds }
        /// Forward nanoseconds per token.
        public var forwardNanosecondsPerToken: Double { forwardSeconds * 1e9 / Double(tokens) }
        /// Backward nanoseconds per token.
        public var backwardNanosecondsPerToken: Double { backwardSeconds * 1e9 / Double(tokens) }
        /// Forward + backward nanoseconds per token.
        public var totalNanosecondsPerToken: Double { totalSeconds * 1e9 / Double(tokens) }

        enum CodingKeys: String, CodingKey {
            case router, tokens, width, experts, k, routerOptions, assignmentsPerToken, callsPerRound, rounds
            case forwardSeconds, backwardSeconds, estimatedBytes, skipped
            case forwardNanosecondsPerToken, backwardNanosecondsPerToken, totalNanosecondsPerToken
        }

        /// Encodes the stored fields and the per-token figures.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(router, forKey: .router)
            try c.encode(tokens, forKey: .tokens)
            try c.encode(width, forKey: .width)
            try c.encode(experts, forKey: .experts)
            try c.encode(k, forKey: .k)
            try c.encode(routerOptions, forKey: .routerOptions)
            try c.encode(assignmentsPerToken, forKey: .assignmentsPerToken)
            try c.encode(callsPerRound, forKey: .callsPerRound)
            try c.encode(rounds, forKey: .rounds)
            try c.encode(forwardSeconds, forKey: .forwardSeconds)
            try c.encode(backwardSeconds, forKey: .backwardSeconds)
            try c.encode(estimatedBytes, forKey: .estimatedBytes)
            try c.encodeIfPresent(skipped, forKey: .skipped)
            if skipped == nil {
                try c.encode(forwardNanosecondsPerToken, forKey: .forwardNanosecondsPerToken)
                try c.encode(backwardNanosecondsPerToken, forKey: .backwardNanosecondsPerToken)
                try c.encode(totalNanosecondsPerToken, forKey: .totalNanosecondsPerToken)
            }
        }

        /// Decodes the stored fields (the per-token figures are recomputed).
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            router = try c.decode(String.self, forKey: .router)
            tokens = try c.decode(Int.self, forKey: .tokens)
            width = try c.decode(Int.self, forKey: .width)
            experts = try c.decode(Int.self, forKey: .experts)
            k = try c.decode(Int.self, forKey: .k)
            routerOptions = try c.decode([String: String].self, forKey: .routerOptions)
            assignmentsPerToken = try c.decode(Double.self, forKey: .assignmentsPerToken)
            callsPerRound = try c.decode(Int.self, forKey: .callsPerRound)
            rounds = try c.decode(Int.self, forKey: .rounds)
            forwardSeconds = try c.decode(Double.self, forKey: .forwardSeconds)
            backwardSeconds = try c.decode(Double.self, forKey: .backwardSeconds)
            estimatedBytes = try c.decode(Int.self, forKey: .estimatedBytes)
            skipped = try c.decodeIfPresent(String.self, forKey: .skipped)
        }

        init(router: String, tokens: Int, width: Int, experts: Int, k: Int, routerOptions: [String: String],
             estimatedBytes: Int, skipped: String? = nil) {
            self.router = router
            self.tokens = tokens
            self.width = width
            self.experts = experts
            self.k = k
            self.routerOptions = routerOptions
            self.assignmentsPerToken = 0
            self.callsPerRound = 0
            self.rounds = 0
            self.forwardSeconds = 0
            self.backwardSeconds = 0
            self.estimatedBytes = estimatedBytes
            self.skipped = skipped
        }
    }

    /// The k values a router takes when `--k` is not given: those of 1 and 2 it can be set to
    /// (``RouterRegistry/Entry/optionsForExpertsPerToken``), or its own k.
    public static func defaultKs(router: String, registry: RouterRegistry = .shared) -> [Int] {
        guard let entry = registry.entry(named: router) else { return [1] }
        let ks = [1, 2].filter { entry.optionsForExpertsPerToken($0, 8) != nil }
        return ks.isEmpty ? [1] : ks
    }

    /// The router options that make `router` send tokens to k experts (the router's own
    /// ``Router/options(expertsPerToken:experts:)``: `k=K` for routers with a `k` option,
    /// `capacityFactor=K` for Expert Choice, `secondPolicy=all` for top-2 at k = 2), or an error
    /// saying that it cannot.
    public static func routerOptions(router: String, k: Int, experts: Int,
                                     registry: RouterRegistry = .shared) throws -> [String: String] {
        guard let entry = registry.entry(named: router) else {
            throw BenchmarkError("no router named '\(router)'; routers: \(registry.all.map(\.name).joined(separator: ", "))")
        }
        guard k >= 1 else { throw BenchmarkError("k must be at least 1, got \(k)") }
        guard let options = entry.optionsForExpertsPerToken(k, experts) else {
            let possible = (1...max(1, min(experts, 16))).filter { entry.optionsForExpertsPerToken($0, experts) != nil }
            throw BenchmarkError("router \(router) cannot send each token to k = \(k) of E = \(experts) experts; "
                                 + "it takes k = \(possible.map(String.init).joined(separator: ", "))")
        }
        return options
    }

    /// Router scratch buffers of n × E floats assumed per router (logits, their gradient,
    /// probabilities, selection scores, noise…): an upper bound over the built-in routers.
    static let routerBuffersPerTokenExpert = 10

    /// The estimated memory of a cell: inputs, outputs and their gradients (4·n·d floats), the
    /// gathered rows and their gradient (2·a·d with a = k·n assignments, 1.25·n for top-1
    /// routers with capacity), the plan, and the router's n × E buffers.
    public static func estimatedBytes(router: String, tokens n: Int, width d: Int, experts e: Int, k: Int) -> Int {
        let assignments = Int((Double(n) * Double(max(k, 1)) * 1.25).rounded(.up))
        let floats = 4 * n * d + 2 * assignments * d + 2 * assignments + routerBuffersPerTokenExpert * n * e
        return 4 * floats + 16 * n
    }

    /// Checks a grid before anything runs; throws a ``BenchmarkError`` saying what is wrong.
    public static func validate(_ grid: Grid, registry: RouterRegistry = .shared) throws {
        guard registry.entry(named: grid.router) != nil else {
            throw BenchmarkError("no router named '\(grid.router)'; routers: \(registry.all.map(\.name).joined(separator: ", "))")
        }
        if (try? registry.describe(name: grid.router, options: grid.routerOptions, expertCount: 4))?.traits.soft == true {
            throw BenchmarkError("router \(grid.router) returns soft plans (trait soft), which have no token dispatch and "
                                 + "combine for this benchmark to time; `switchyard bench train` times it in the model")
        }
        guard !grid.tokens.isEmpty, grid.tokens.allSatisfy({ $0 >= 1 && $0 <= 100_000_000 }) else {
            throw BenchmarkError("--tokens needs one or more counts from 1 to 100000000, got \(grid.tokens)")
        }
        guard grid.width >= 1 && grid.width <= 65536 else { throw BenchmarkError("--width must be 1 to 65536, got \(grid.width)") }
        guard !grid.experts.isEmpty, grid.experts.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else {
            throw BenchmarkError("--experts needs one or more counts from 1 to 4096, got \(grid.experts)")
        }
        guard !grid.ks.isEmpty else { throw BenchmarkError("--k needs at least one value") }
        guard grid.repetitions >= 1 else { throw BenchmarkError("--repetitions must be at least 1, got \(grid.repetitions)") }
        guard grid.roundSeconds >= 0 && grid.roundSeconds.isFinite else {
            throw BenchmarkError("the round length must be a finite number ≥ 0, got \(grid.roundSeconds)")
        }
        for k in grid.ks {
            // k > E is skipped per cell; any other k a router cannot take is an error now.
            _ = try routerOptions(router: grid.router, k: k, experts: max(k, grid.experts.max()!), registry: registry)
        }
        for e in grid.experts {
            for k in grid.ks where !(k > e && !acceptsK(grid.router, k, e, registry)) {
                var options = try routerOptions(router: grid.router, k: k, experts: e, registry: registry)
                for (key, value) in grid.routerOptions { options[key] = value }
                do {
                    _ = try registry.resolvedOptions(name: grid.router, options: options, expertCount: e)
                } catch {
                    throw BenchmarkError("\(error)")
                }
            }
        }
    }

    /// Whether `router` can take k experts of E (a k above E is skipped, not an error, for
    /// routers that refuse it).
    static func acceptsK(_ router: String, _ k: Int, _ e: Int, _ registry: RouterRegistry) -> Bool {
        registry.entry(named: router)?.optionsForExpertsPerToken(k, e) != nil
    }

    /// Measures every cell of `grid` (n outermost, then E, then k), calling `log` with a line
    /// per cell.
    public static func run(_ grid: Grid, registry: RouterRegistry = .shared,
                           log: (String) -> Void = { _ in }) throws -> [Cell] {
        try validate(grid, registry: registry)
        var cells: [Cell] = []
        let d = grid.width
        for n in grid.tokens {
            var inputs: (x: Tensor, dy: Tensor)?
            for e in grid.experts {
                for k in grid.ks {
                    let bytes = estimatedBytes(router: grid.router, tokens: n, width: d, experts: e, k: k)
                    if k > e && !acceptsK(grid.router, k, e, registry) {
                        cells.append(Cell(router: grid.router, tokens: n, width: d, experts: e, k: k, routerOptions: [:],
                                          estimatedBytes: bytes, skipped: "k > E"))
                        continue
                    }
                    var options = try routerOptions(router: grid.router, k: k, experts: e, registry: registry)
                    for (key, value) in grid.routerOptions { options[key] = value }
                    if bytes > grid.memoryLimitBytes {
                        let gib = String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
                        cells.append(Cell(router: grid.router, tokens: n, width: d, experts: e, k: k, routerOptions: options,
                                          estimatedBytes: bytes, skipped: "needs about \(gib), over the memory limit"))
                        log("n \(n), E \(e), k \(k): skipped (about \(gib))")
                        continue
                    }
                    if inputs == nil {
                        var rng = SeededRNG.derived(seed: grid.seed, stream: UInt64(n))
                        let x = Tensor(shape: [n, d]), dy = Tensor(shape: [n, d])
                        rng.fillGaussian(x.pointer, count: x.count)
                        rng.fillGaussian(dy.pointer, count: dy.count)
                        inputs = (x, dy)
                    }
                    let cell = try measure(router: grid.router, options: options, x: inputs!.x, dOutput: inputs!.dy,
                                           tokens: n, width: d, experts: e, k: k, grid: grid, registry: registry)
                    cells.append(Cell(router: cell.router, tokens: n, width: d, experts: e, k: k, routerOptions: options,
                                      estimatedBytes: bytes).with(cell))
                    log(String(format: "n %d, E %d, k %d: forward %.1f ns/token, backward %.1f ns/token",
                               n, e, k, cell.forwardNanosecondsPerToken, cell.backwardNanosecondsPerToken))
                }
            }
        }
        return cells
    }

    private static func measure(router name: String, options: [String: String], x: Tensor, dOutput dy: Tensor,
                                tokens n: Int, width d: Int, experts e: Int, k: Int, grid: Grid,
                                registry: RouterRegistry) throws -> Cell {
        var rng = SeededRNG.derived(seed: grid.seed, stream: 1_000 + UInt64(e))
        let router = try registry.makeRouter(name: name, options: options, modelWidth: d, expertCount: e, rng: &rng)
        let plan = RoutingPlan()
        let y = Tensor(shape: [n, d]), dx = Tensor(shape: [n, d])
        var gathered = Tensor(shape: [0]), dGathered = Tensor(shape: [0]), dWeights = Tensor(shape: [0])
        let context = RoutingContext(training: true)
        var routingRNG = SeededRNG.derived(seed: grid.seed, stream: 2_000 + UInt64(e))

        func forward() throws {
            try router.route(x.pointer, tokenCount: n, context: context, rng: &routingRNG, plan: plan)
            let a = plan.assignmentCount
            if gathered.count < a * d {
                gathered = Tensor(shape: [a + a / 4, d])
                dGathered = Tensor(shape: [a + a / 4, d])
                dWeights = Tensor(shape: [a + a / 4])
            }
            MoEDataMovement.dispatch(x.pointer, width: d, plan: plan, into: gathered.pointer)
            // Identity expert: its output is the gathered buffer.
            MoEDataMovement.combine(gathered.pointer, width: d, plan: plan, into: y.pointer)
        }
        func backward() {
            MoEDataMovement.combineBackward(dOutput: dy.pointer, expertOutput: gathered.pointer, width: d, plan: plan,
                                            dExpertOutput: dGathered.pointer, dWeights: dWeights.pointer)
            // Identity expert: its input gradient is its output gradient.
            MoEDataMovement.dispatchBackward(dGathered.pointer, width: d, plan: plan, into: dx.pointer)
            router.backward(plan: plan, dWeights: dWeights.pointer, auxiliaryLossScale: 1, input: x.pointer,
                            dInput: dx.pointer)
        }
        func zeroRouterGradients() { for p in router.parameters { p.gradient.zero() } }

        try forward()   // allocates the buffers
        backward()
        let t0 = monotonicSeconds()
        try forward()
        backward()
        let once = max(monotonicSeconds() - t0, 1e-9)
        let assignments = Double(plan.assignmentCount) / Double(n)
        let calls = max(1, Int((grid.roundSeconds / once).rounded(.up)))
        var forwardRounds: [Double] = [], backwardRounds: [Double] = []
        for _ in 0..<grid.repetitions {
            var forwardTotal = 0.0, backwardTotal = 0.0
            for _ in 0..<calls {
                zeroRouterGradients()
                let a = monotonicSeconds()
                try forward()
                let b = monotonicSeconds()
                backward()
                let c = monotonicSeconds()
                forwardTotal += b - a
                backwardTotal += c - b
            }
            forwardRounds.append(forwardTotal / Double(calls))
            backwardRounds.append(backwardTotal / Double(calls))
        }
        var cell = Cell(router: name, tokens: n, width: d, experts: e, k: k, routerOptions: options, estimatedBytes: 0)
        cell.assignmentsPerToken = assignments
        cell.callsPerRound = calls
        cell.rounds = grid.repetitions
        cell.forwardSeconds = median(forwardRounds)
        cell.backwardSeconds = median(backwardRounds)
        return cell
    }

    /// The cells as a markdown table, with the scaling ratios:
    ///
    /// - `t(n)/t(n′)`: the time per call over the time at the previous n of the grid (same E,
    ///   k), beside n/n′ — linear cost in n gives the same number;
    /// - `t(E)/t(E′)`: the time per call over the time at the previous E (same n, k), beside
    ///   the E·log₂E bound (E·log₂E)/(E′·log₂E′) — cost no worse than E·log E stays at or
    ///   below it (no bound from E′ = 1).
    ///
    /// Then the worst excess over each ideal, so that a glance says whether the targets hold.
    public static func markdown(_ cells: [Cell]) -> String {
        var byKey: [String: Cell] = [:]
        for c in cells where c.skipped == nil { byKey["\(c.tokens)/\(c.experts)/\(c.k)"] = c }
        let ns = orderedUnique(cells.map(\.tokens)), es = orderedUnique(cells.map(\.experts))
        func previous(_ list: [Int], _ value: Int) -> Int? {
            guard let i = list.firstIndex(of: value), i > 0 else { return nil }
            return list[i - 1]
        }
        func f1(_ x: Double) -> String { String(format: "%.1f", x) }
        func f2(_ x: Double) -> String { String(format: "%.2f", x) }
        var lines = [
            "| router | n | d | E | k | assignments/token | forward ns/token | backward ns/token | total ns/token | t(n)/t(n′) (n/n′) | t(E)/t(E′) (E log E bound) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        var worstN: (excess: Double, text: String)?, worstE: (excess: Double, text: String)?
        for c in cells {
            let head = "| \(c.router) | \(c.tokens) | \(c.width) | \(c.experts) | \(c.k) |"
            guard c.skipped == nil else {
                lines.append(head + " — | skipped: \(c.skipped!) | | | | |")
                continue
            }
            var nRatio = "—", eRatio = "—"
            if let pn = previous(ns, c.tokens), let p = byKey["\(pn)/\(c.experts)/\(c.k)"] {
                let ratio = c.totalSeconds / p.totalSeconds, ideal = Double(c.tokens) / Double(pn)
                nRatio = "\(f2(ratio)) (\(f2(ideal)))"
                let excess = ratio / ideal
                if excess > (worstN?.excess ?? -1) {
                    worstN = (excess, "\(f2(excess))× at n \(pn) → \(c.tokens), E \(c.experts), k \(c.k)")
                }
            }
            if let pe = previous(es, c.experts), let p = byKey["\(c.tokens)/\(pe)/\(c.k)"] {
                let ratio = c.totalSeconds / p.totalSeconds
                if pe >= 2 {
                    let bound = Double(c.experts) * log2(Double(c.experts)) / (Double(pe) * log2(Double(pe)))
                    eRatio = "\(f2(ratio)) (≤ \(f2(bound)))"
                    let excess = ratio / bound
                    if excess > (worstE?.excess ?? -1) {
                        worstE = (excess, "\(f2(excess))× at E \(pe) → \(c.experts), n \(c.tokens), k \(c.k)")
                    }
                } else {
                    eRatio = "\(f2(ratio)) (—)"
                }
            }
            lines.append(head + " \(f2(c.assignmentsPerToken)) | \(f1(c.forwardNanosecondsPerToken)) | " +
                         "\(f1(c.backwardNanosecondsPerToken)) | \(f1(c.totalNanosecondsPerToken)) | \(nRatio) | \(eRatio) |")
        }
        lines.append("")
        lines.append("Expert compute is not included (identity experts): route + dispatch (gather) + combine " +
                     "(scatter-add), forward and backward, per MoE layer call; median of the rounds.")
        if let worstN {
            lines.append("Largest t(n)/t(n′) over n/n′ (1 = linear in n): \(worstN.text).")
        }
        if let worstE {
            lines.append("Largest t(E)/t(E′) over the E log E bound (≤ 1 = no worse than E log E): \(worstE.text).")
        }
        return lines.joined(separator: "\n")
    }

    static func orderedUnique(_ values: [Int]) -> [Int] {
        var seen = Set<Int>(), out: [Int] = []
        for v in values where seen.insert(v).inserted { out.append(v) }
        return out
    }
}

extension RoutingBenchmark.Cell {
    /// This cell with the measurements of `measured`.
    func with(_ measured: RoutingBenchmark.Cell) -> RoutingBenchmark.Cell {
        var c = self
        c.assignmentsPerToken = measured.assignmentsPerToken
        c.callsPerRound = measured.callsPerRound
        c.rounds = measured.rounds
        c.forwardSeconds = measured.forwardSeconds
        c.backwardSeconds = measured.backwardSeconds
        return c
    }
}
