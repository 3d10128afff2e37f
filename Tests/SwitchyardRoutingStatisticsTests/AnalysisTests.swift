import SwitchyardFileIO
import Foundation
import SwitchyardTraces
import XCTest
@testable import SwitchyardRoutingStatistics

final class AnalysisTests: XCTestCase {
    let quick = AnalysisOptions(bootstrapResamples: 0, permutations: 0)

    /// 8 tokens, E = 4, two classes, Expert-Choice-like (0 to 3 experts per token):
    ///   class 0: t0 {0,1}, t1 {0}, t2 {0,2}, t3 {}
    ///   class 1: t4 {3}, t5 {3,1,2}, t6 {3}, t7 {0}
    func handTrace() -> RoutingTrace {
        trace(experts: 4, labels: [0, 0, 0, 0, 1, 1, 1, 1], classCount: 2, classNames: ["cat", "dog"],
              layers: [[[0, 1], [0], [0, 2], [], [3], [3, 1, 2], [3], [0]]])
    }

    func testHandComputedLayer() throws {
        let a = try analyze(trace: handTrace(), options: quick)
        let load = a.layers[0].load
        // Counts (4, 2, 2, 3), total 11, mean 2.75; population sd √0.6875.
        XCTAssertEqual(load.counts, [4, 2, 2, 3])
        XCTAssertEqual(load.assignments, 11)
        XCTAssertEqual(try XCTUnwrap(load.mean), 2.75, accuracy: 1e-15)
        // numpy: c.std() / c.mean() → 0.30151134457776363
        XCTAssertEqual(try XCTUnwrap(load.cv), 0.30151134457776363, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(load.cvSquared), 0.6875 / (2.75 * 2.75), accuracy: 1e-14)
        // (4 − 2.75) / 2.75
        XCTAssertEqual(try XCTUnwrap(load.maxVio), 1.25 / 2.75, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(load.maxOverMean), 4 / 2.75, accuracy: 1e-15)
        // sorted (2, 2, 3, 4): (−3·2 − 1·2 + 1·3 + 3·4) / (4 · 11) = 7/44
        XCTAssertEqual(try XCTUnwrap(load.gini), 7.0 / 44.0, accuracy: 1e-15)
        // numpy: H = −Σ p ln p → 1.3421131789144005; / ln 4 → 0.9681300137657639; ln 4 − H → 0.044181182205490055
        XCTAssertEqual(try XCTUnwrap(load.entropyNats), 1.3421131789144005, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(load.entropyRatio), 0.9681300137657639, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(load.klFromUniformNats), 0.044181182205490055, accuracy: 1e-14)
        // E = 4: group of max(1, ⌊0.8 + 0.5⌋) = 1 expert: top 4/11, bottom 2/11.
        XCTAssertEqual(load.shareGroupSize, 1)
        XCTAssertEqual(try XCTUnwrap(load.topShare), 4.0 / 11.0, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(load.bottomShare), 2.0 / 11.0, accuracy: 1e-15)
        XCTAssertEqual(load.unusedExperts, [])
        XCTAssertEqual(load.tokensWithoutExpert, 1)
        XCTAssertEqual(load.droppedTokens, 1)
        XCTAssertEqual(load.droppedDefinition, "no_expert")
        XCTAssertEqual(try XCTUnwrap(load.droppedFraction), 0.125, accuracy: 0)
        XCTAssertNil(load.capacity)
        // scipy.stats.chisquare([4, 2, 2, 3]) → 1.0000000000000002, p 0.8012519569012008
        XCTAssertEqual(try XCTUnwrap(load.chi2), 1, accuracy: 1e-13)
        XCTAssertEqual(load.chi2DF, 3)
        XCTAssertEqual(try XCTUnwrap(load.chi2P), 0.8012519569012008, accuracy: 1e-14)

        let affinity = a.layers[0].affinity
        XCTAssertEqual(affinity.classExpertCounts, [[3, 1, 1, 0], [1, 1, 1, 3]])
        // scipy.stats.chi2_contingency([[3,1,1,0],[1,1,1,3]], correction=False) → 3.9416666666666664,
        //   p 0.2678323615654296, dof 3; association(..., "cramer") → 0.5986094998689324;
        //   MI (numpy) 0.3353836207645444 bits
        XCTAssertEqual(try XCTUnwrap(affinity.chi2), 3.9416666666666664, accuracy: 1e-12)
        XCTAssertEqual(affinity.chi2DF, 3)
        XCTAssertEqual(try XCTUnwrap(affinity.chi2P), 0.2678323615654296, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(affinity.cramersV), 0.5986094998689324, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(affinity.mutualInformationBits), 0.3353836207645444, accuracy: 1e-13)
        // Dominant classes: expert 0 → cat 3/4; expert 1 → tie 1:1 → lowest class (cat) 1/2;
        // expert 3 → dog 3/3.
        XCTAssertEqual(affinity.dominantClasses[0].dominantClass, 0)
        XCTAssertEqual(affinity.dominantClasses[0].className, "cat")
        XCTAssertEqual(try XCTUnwrap(affinity.dominantClasses[0].share), 0.75, accuracy: 0)
        XCTAssertEqual(affinity.dominantClasses[1].dominantClass, 0)
        XCTAssertEqual(try XCTUnwrap(affinity.dominantClasses[1].share), 0.5, accuracy: 0)
        XCTAssertEqual(affinity.dominantClasses[3].className, "dog")
        XCTAssertEqual(try XCTUnwrap(affinity.dominantClasses[3].share), 1, accuracy: 0)

        let h = a.layers[0].heterogeneity
        // k per token (2, 1, 2, 0, 1, 3, 1, 1)
        XCTAssertEqual(h.expertsPerTokenHistogram, [1, 4, 2, 1, 0])
        XCTAssertEqual(h.expertsPerTokenCounts, [1, 4, 2, 1])
        XCTAssertEqual(h.fractionWithAtLeast, [1, 7.0 / 8, 3.0 / 8, 1.0 / 8])
        XCTAssertEqual(try XCTUnwrap(h.meanExpertsPerToken), 11.0 / 8, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(h.computePerToken.mean), 11.0 / 8, accuracy: 1e-15)
        // numpy: k.var(ddof=1) → 0.8392857142857143; Gini of k → 0.32954545454545453
        XCTAssertEqual(try XCTUnwrap(h.computePerToken.variance), 0.8392857142857143, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(h.computePerToken.gini), 0.32954545454545453, accuracy: 1e-14)
        XCTAssertEqual(h.classTokenCounts, [4, 4])
        XCTAssertEqual(try XCTUnwrap(h.meanComputeByClass?[0]), 5.0 / 4, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(h.meanComputeByClass?[1]), 6.0 / 4, accuracy: 1e-15)
        // scipy.stats.kruskal([2,1,2,0], [1,3,1,1]) → 0.023972602739724663, p 0.876954642633825
        let kw = try XCTUnwrap(h.kruskalWallis)
        XCTAssertEqual(try XCTUnwrap(kw.h), 0.023972602739724663, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(kw.p), 0.876954642633825, accuracy: 1e-13)
    }

    func testUniformRoutingHasZeroCVAndChiSquareOne() throws {
        // 12 tokens round-robin over E = 4, two layers.
        let a = try analyze(trace: top1Trace(experts: 4, assignment: (0..<12).map { $0 % 4 }, layerCount: 2),
                            options: quick)
        for scope in a.layers + [a.overall] {
            XCTAssertEqual(try XCTUnwrap(scope.load.cv), 0, accuracy: 1e-15)
            XCTAssertEqual(try XCTUnwrap(scope.load.gini), 0, accuracy: 1e-15)
            XCTAssertEqual(try XCTUnwrap(scope.load.maxVio), 0, accuracy: 1e-15)
            XCTAssertEqual(try XCTUnwrap(scope.load.chi2P), 1, accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(scope.load.entropyRatio), 1, accuracy: 1e-14)
            XCTAssertEqual(try XCTUnwrap(scope.load.klFromUniformNats), 0, accuracy: 1e-14)
        }
        XCTAssertEqual(a.overall.load.experts, 8)
        XCTAssertEqual(a.overall.load.chi2DF, 6)   // 2 layers × (4 − 1)
    }

    func testCollapseOntoOneExpertHasGiniEMinusOneOverE() throws {
        for e in [2, 4, 8] {
            let a = try analyze(trace: top1Trace(experts: e, assignment: [Int](repeating: 1, count: 20), layerCount: 2),
                                options: quick)
            let expected = Double(e - 1) / Double(e)
            XCTAssertEqual(try XCTUnwrap(a.layers[0].load.gini), expected, accuracy: 1e-14)
            XCTAssertEqual(try XCTUnwrap(a.overall.load.gini), expected, accuracy: 1e-14)
            XCTAssertEqual(try XCTUnwrap(a.layers[0].load.maxVio), Double(e - 1), accuracy: 1e-13)
            XCTAssertEqual(a.layers[0].load.unusedExperts.count, e - 1)
            XCTAssertEqual(try XCTUnwrap(a.layers[0].load.entropyNats), 0, accuracy: 0)
            XCTAssertEqual(try XCTUnwrap(a.layers[0].load.topShare), 1, accuracy: 0)
            XCTAssertEqual(try XCTUnwrap(a.layers[0].load.chi2P), 0, accuracy: 1e-5)
        }
    }

    func testIndependenceGivesZeroMutualInformation() throws {
        // Every class sends the same number of tokens to every expert.
        var assignment: [Int] = [], labels: [Int32] = []
        for c in 0..<3 { for e in 0..<4 { for _ in 0..<5 { assignment.append(e); labels.append(Int32(c)) } } }
        let a = try analyze(trace: top1Trace(experts: 4, assignment: assignment, labels: labels),
                            options: AnalysisOptions(bootstrapResamples: 0, permutations: 99, seed: 3))
        let affinity = a.layers[0].affinity
        XCTAssertEqual(try XCTUnwrap(affinity.mutualInformationBits), 0, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(affinity.cramersV), 0, accuracy: 1e-7)
        XCTAssertEqual(try XCTUnwrap(affinity.chi2P), 1, accuracy: 1e-12)
        // Any permutation has I* ≥ 0 = I: p = 1.
        XCTAssertEqual(try XCTUnwrap(affinity.mutualInformationPermutationP), 1, accuracy: 0)
    }

    func testOverallTreatsLayerExpertPairsAsExpertsAndSumsCompute() throws {
        // Layer 0: token t → expert t % 2 (top-1); layer 1: every token gets {0, 1}.
        let t = trace(experts: 2, labels: [0, 1, 0, 1], classCount: 2,
                      layers: [[[0], [1], [0], [1]], [[0, 1], [0, 1], [0, 1], [0, 1]]])
        let a = try analyze(trace: t, options: quick)
        XCTAssertEqual(a.overall.load.counts, [2, 2, 4, 4])
        XCTAssertEqual(a.overall.load.tokens, 8)
        XCTAssertEqual(a.overall.heterogeneity.computePerToken.histogram, [0, 0, 0, 4])
        XCTAssertEqual(a.overall.heterogeneity.expertsPerTokenCounts, [0, 4, 4])
        XCTAssertEqual(try XCTUnwrap(a.overall.heterogeneity.meanExpertsPerToken), 1.5, accuracy: 0)
        XCTAssertEqual(try XCTUnwrap(a.overall.heterogeneity.computePerToken.mean), 3, accuracy: 0)
        // Class × (layer, expert): class 0 → (1, 0, 2, 2), class 1 → (0, 1, 2, 2).
        XCTAssertEqual(a.overall.affinity.classExpertCounts, [[2, 0, 2, 2], [0, 2, 2, 2]])
        // Layer 0: perfect association (1 bit); layer 1: none. Overall I(C; slot) = 1/3 bit
        // (slot distribution mixes them: H(C) − H(C | slot) = 1 − (2/3)·1).
        XCTAssertEqual(try XCTUnwrap(a.layers[0].affinity.mutualInformationBits), 1, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(a.layers[1].affinity.mutualInformationBits), 0, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(a.overall.affinity.mutualInformationBits), 1.0 / 3.0, accuracy: 1e-14)
        // Layer 0's chosen expert fully predicts layer 1's top-1 (always expert 0): MI 0.
        XCTAssertEqual(a.layerTransitions.count, 1)
        XCTAssertEqual(try XCTUnwrap(a.layerTransitions[0].mutualInformationBits), 0, accuracy: 1e-14)
    }

    func testLayerTransitionMutualInformation() throws {
        // Layer 1's expert is a relabelling of layer 0's: I = H(top-1 of layer 0) = log2(4) = 2 bits.
        let l0 = (0..<16).map { [$0 % 4] }, l1 = (0..<16).map { [($0 % 4 + 1) % 4] }
        let a = try analyze(trace: trace(experts: 4, layers: [l0, l1]), options: quick)
        XCTAssertEqual(try XCTUnwrap(a.layerTransitions[0].mutualInformationBits), 2, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(a.layerTransitions[0].normalizedMutualInformation), 1, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(a.layerTransitions[0].cramersV), 1, accuracy: 1e-13)
        XCTAssertEqual(a.layerTransitions[0].tokens, 16)
    }

    /// Layers 0 and 2 choose the same expert; layer 1 is independent of both. Consecutive pairs
    /// see nothing; every pair finds 0 → 2, with its co-occurrence counts and permutation test.
    func testEveryLayerPairFindsDependenceBeyondConsecutiveLayers() throws {
        var rng = TestLCG(state: 11)
        let tokens = 400
        let first = (0..<tokens).map { _ in rng.next(below: 4) }
        let middle = (0..<tokens).map { _ in rng.next(below: 4) }
        let t = trace(experts: 4, layers: [first.map { [$0] }, middle.map { [$0] }, first.map { [$0] }])
        var options = AnalysisOptions(bootstrapResamples: 0, permutations: 199, seed: 3)
        let adjacent = try analyze(trace: t, options: options)
        XCTAssertEqual(adjacent.layerTransitions.map { [$0.fromLayer, $0.toLayer] }, [[0, 1], [1, 2]])
        XCTAssertNil(adjacent.layerTransitions[0].coOccurrence)
        options.allLayerPairs = true
        let all = try analyze(trace: t, options: options)
        XCTAssertEqual(all.layerTransitions.map { [$0.fromLayer, $0.toLayer] }, [[0, 1], [0, 2], [1, 2]])
        // The consecutive pairs keep their numbers and permutation streams.
        XCTAssertEqual(all.layerTransitions[0], { var x = adjacent.layerTransitions[0]; x.coOccurrence = all.layerTransitions[0].coOccurrence
            x.coOccurrenceExperts = all.layerTransitions[0].coOccurrenceExperts; return x }())
        XCTAssertEqual(all.layerTransitions[2].mutualInformationPermutationP, adjacent.layerTransitions[1].mutualInformationPermutationP)
        for x in [all.layerTransitions[0], all.layerTransitions[2]] {
            XCTAssertGreaterThan(try XCTUnwrap(x.mutualInformationPermutationP), 0.01, "independent layers")
        }
        let far = all.layerTransitions[1]
        XCTAssertEqual(try XCTUnwrap(far.normalizedMutualInformation), 1, accuracy: 1e-12)
        XCTAssertEqual(far.mutualInformationPermutationP, 1.0 / 200.0, "no permutation reaches identical layers")
        // Co-occurrence: the diagonal holds every token, by expert.
        let counts = try XCTUnwrap(far.coOccurrence)
        XCTAssertEqual(far.coOccurrenceExperts, [0, 1, 2, 3])
        for i in 0..<4 {
            XCTAssertEqual(counts[i][i], first.filter { $0 == i }.count)
            XCTAssertEqual(counts[i].reduce(0, +), counts[i][i])
        }
    }

    func testDroppedTokensAndCapacityFromPreferredExpert() throws {
        // Switch top-1 with capacity 2 over E = 3: tokens prefer (0, 0, 0, 1, 2, 2);
        // the third token preferring expert 0 is dropped.
        let routed = layer(0, [[0], [0], [], [1], [2], [2]], preferred: [0, 0, 0, 1, 2, 2], capacity: 2)
        let t = RoutingTrace(expertCount: 3, tokenCount: 6, layers: [routed])
        let load = try analyze(trace: t, options: quick).layers[0].load
        XCTAssertEqual(load.droppedTokens, 1)
        XCTAssertEqual(load.droppedDefinition, "preferred_expert_not_taken")
        XCTAssertEqual(try XCTUnwrap(load.droppedFraction), 1.0 / 6, accuracy: 1e-15)
        XCTAssertEqual(load.capacity, 2)
        XCTAssertEqual(try XCTUnwrap(load.capacityUtilization), 5.0 / 6, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(load.maxCapacityUtilization), 1, accuracy: 0)
        XCTAssertEqual(load.expertsAtCapacity, 2)
        // A token re-routed away from its preferred expert also counts as dropped.
        let rerouted = layer(0, [[1], [1]], preferred: [0, 1])
        let r = try analyze(trace: RoutingTrace(expertCount: 2, tokenCount: 2, layers: [rerouted]), options: quick)
        XCTAssertEqual(r.layers[0].load.droppedTokens, 1)
        XCTAssertEqual(r.layers[0].load.tokensWithoutExpert, 0)
    }

    func testLoadsFixedByCapacityGetTheEstimateAsTheirInterval() throws {
        // Expert Choice over E = 4, capacity 3 per expert: each expert takes exactly 3 of the
        // 12 tokens (some tokens get 0, 1 or 2 experts), in both layers. Its loads cannot vary
        // with the sample, so CV, Gini, MaxVio and experts per token get [estimate, estimate];
        // the class–expert statistics are still bootstrapped.
        let chosen: [[Int]] = [[0, 1], [0], [0, 2], [], [1], [1, 3], [2], [2, 3], [3], [], [], []]
        let labels: [Int32] = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
        func ecTrace(_ capacities: [Int], router: String = "expert-choice") -> RoutingTrace {
            RoutingTrace(expertCount: 4, tokenCount: 12, labels: labels, classCount: 2,
                         layers: [layer(0, chosen, capacity: capacities[0]),
                                  layer(1, chosen.reversed(), capacity: capacities[1])],
                         metadata: ["router": router])
        }
        let options = AnalysisOptions(bootstrapResamples: 50, permutations: 0, seed: 5)
        let a = try analyze(trace: ecTrace([3, 3]), options: options)
        for scope in a.layers + [a.overall] {
            let u = try XCTUnwrap(scope.uncertainty, scope.scope)
            for (name, interval, value) in try loadIntervals(scope) {
                let i = try XCTUnwrap(interval, "\(scope.scope) \(name)")
                XCTAssertEqual(i.fixedBy, "capacity", "\(scope.scope) \(name)")
                XCTAssertEqual(try XCTUnwrap(i.estimate), try XCTUnwrap(value), accuracy: 1e-12, "\(scope.scope) \(name)")
                XCTAssertEqual(i.lower, try XCTUnwrap(i.estimate), "\(scope.scope) \(name)")
                XCTAssertEqual(i.upper, i.lower)
                XCTAssertEqual(i.resamples, 0)
            }
            XCTAssertEqual(try XCTUnwrap(u.cv?.estimate), 0, accuracy: 1e-15)
            XCTAssertEqual(try XCTUnwrap(u.meanExpertsPerToken?.estimate), 1, accuracy: 1e-15)   // 4 · 3 / 12
            XCTAssertNil(try XCTUnwrap(u.mutualInformationBits, scope.scope).fixedBy)
        }
        XCTAssertTrue(formatInterval(a.layers[0].uncertainty?.cv).contains("(fixed by capacity)"))
        // The same routing with room left (capacity 4), as when a per-token cap holds experts
        // below k: loads are not fixed; percentile intervals.
        let b = try analyze(trace: ecTrace([4, 4]), options: options)
        let cv = try XCTUnwrap(b.layers[0].uncertainty?.cv)
        XCTAssertNil(cv.fixedBy)
        XCTAssertEqual(cv.resamples, 50)
        XCTAssertGreaterThan(cv.upper, 0, "resampled loads vary")
        XCTAssertFalse(formatInterval(cv).contains("fixed"))
        // One layer full and one not: the all-layers scope is not fixed.
        let m = try analyze(trace: ecTrace([3, 4]), options: options)
        XCTAssertEqual(m.layers[0].uncertainty?.cv?.fixedBy, "capacity")
        XCTAssertNil(m.layers[1].uncertainty?.cv?.fixedBy)
        XCTAssertNil(m.overall.uncertainty?.cv?.fixedBy)
        // Every buffer full but from a token-choice router (or with no router named): another
        // sample could leave a buffer short, so nothing is marked.
        for router in ["switch", ""] {
            let t = try analyze(trace: ecTrace([3, 3], router: router), options: options)
            XCTAssertNil(t.layers[0].uncertainty?.cv?.fixedBy, router)
            XCTAssertNil(t.overall.uncertainty?.maxVio?.fixedBy, router)
        }
        let full = layer(0, [[0], [0], [1], [1], [0], [1]], preferred: [0, 0, 1, 1, 0, 1], capacity: 3)
        let switchTrace = RoutingTrace(expertCount: 2, tokenCount: 6, layers: [full], metadata: ["router": "switch"])
        XCTAssertNil(try analyze(trace: switchTrace, options: options).layers[0].uncertainty?.cv?.fixedBy)
        // The JSON names the reason and omits the key for ordinary intervals; analyses written
        // before the key existed still decode.
        let json = String(decoding: try JSONEncoder().encode(m.layers[0].uncertainty), as: UTF8.self)
        XCTAssertTrue(json.contains("\"fixed_by\":\"capacity\""), json)
        XCTAssertEqual(try JSONDecoder().decode(UncertaintyStatistics.self, from: Data(json.utf8)), m.layers[0].uncertainty)
        let plain = String(decoding: try JSONEncoder().encode(m.layers[1].uncertainty), as: UTF8.self)
        XCTAssertFalse(plain.contains("fixed_by"), plain)
        let older = #"{"estimate":0.1,"lower":0.05,"upper":0.2,"standard_error":0.04,"resamples":200}"#
        let decoded = try JSONDecoder().decode(BootstrapInterval.self, from: Data(older.utf8))
        XCTAssertNil(decoded.fixedBy)
        XCTAssertEqual(decoded.resamples, 200)
    }

    /// Switch-like routing over 12 routing groups (batches) of 6 tokens, E = 2, capacity 2 per
    /// expert and group. Layer 0: expert 0 takes 2 tokens of every group, expert 1 takes 2 of
    /// every group but the last, where it takes 1 (loads 24 and 23). Layer 1: expert 0 takes
    /// only 1 token of groups 0 and 1 (loads 22 and 24). The rest are dropped.
    func cappedGroupsTrace(groups: [Int]? = Array(repeating: 6, count: 12), router: String = "switch") -> RoutingTrace {
        var first: [[Int]] = [], second: [[Int]] = []
        for g in 0..<12 {
            first += [[0], [0], [1], g == 11 ? [] : [1], [], []]
            second += [[0], g < 2 ? [] : [0], [1], [1], [], []]
        }
        let labels: [Int32] = (0..<72).map { (t: Int) -> Int32 in Int32((t * 7 + t / 5) % 3) }
        return RoutingTrace(expertCount: 2, tokenCount: 72, labels: labels, classCount: 3,
                            layers: [layer(0, first, capacity: 24), layer(1, second, capacity: 24)],
                            routingGroups: groups, metadata: ["router": router])
    }

    func testLoadIntervalsResampleWholeRoutingGroups() throws {
        // Layer 0: loads 24 and 23, CV 1/47. A replicate that draws the last group m times in
        // its 12 draws has loads 24 and 24 − m, so its CV is m / (48 − m): never more imbalance
        // than the groups allowed, and the interval holds the estimate.
        let options = AnalysisOptions(bootstrapResamples: 400, permutations: 0, seed: 3)
        let a = try analyze(trace: cappedGroupsTrace(), options: options)
        XCTAssertEqual(a.resampling.loadRoutingGroups, 12)
        XCTAssertEqual(a.resampling.loadGroupsPerUnit, 1)
        XCTAssertTrue(a.summary().contains("load intervals over 12 routing groups"), a.summary())
        let cv = try XCTUnwrap(a.layers[0].uncertainty?.cv)
        XCTAssertEqual(try XCTUnwrap(cv.plugIn), 1.0 / 47, accuracy: 1e-12)
        // Loads 24 and 23 are more even than chance: the unbiased CV² is negative, the corrected CV 0.
        XCTAssertEqual(try XCTUnwrap(cv.estimate), 0)
        XCTAssertEqual(cv.lower, 0)
        XCTAssertGreaterThanOrEqual(cv.upper, try XCTUnwrap(cv.estimate))
        XCTAssertLessThanOrEqual(cv.upper, 4.0 / 44 + 1e-12, "m ≤ 4 of 12 draws at the 97.5th percentile")
        XCTAssertNil(cv.fixedBy)
        XCTAssertEqual(cv.resamples, 400)
        for scope in a.layers + [a.overall] {
            let u = try XCTUnwrap(scope.uncertainty, scope.scope)
            for (name, interval) in [("cv", u.cv), ("gini", u.gini), ("maxVio", u.maxVio),
                                     ("meanExpertsPerToken", u.meanExpertsPerToken)] {
                let i = try XCTUnwrap(interval, "\(scope.scope) \(name)")
                XCTAssertLessThanOrEqual(i.lower, try XCTUnwrap(i.estimate) + 1e-12, "\(scope.scope) \(name)")
                XCTAssertGreaterThanOrEqual(i.upper, try XCTUnwrap(i.estimate) - 1e-12, "\(scope.scope) \(name)")
            }
            XCTAssertLessThanOrEqual(try XCTUnwrap(u.meanExpertsPerToken).upper, 4.0 / 6 + 1e-12,
                                     "at most 4 of 6 tokens of a group")
            // The class–expert statistics still resample images/tokens by class.
            XCTAssertEqual(u.mutualInformationBits?.resamples, 400)
        }
        // The group table reproduces every estimate, per layer and over all layers (the L·E
        // (layer, expert) slots 24, 23, 22, 24), and every replicate is a value the groups allow.
        let loads = try XCTUnwrap(RoutingGroupLoads(trace: cappedGroupsTrace()))
        XCTAssertEqual(loads.unitCount, 12)
        let whole = loads.headlines(multiplicity: Array(repeating: 1, count: 12))
        for (h, scope) in zip(whole, a.layers + [a.overall]) {
            XCTAssertEqual(h.cv, try XCTUnwrap(scope.load.cv), accuracy: 1e-15, scope.scope)
            XCTAssertEqual(h.gini, try XCTUnwrap(scope.load.gini), accuracy: 1e-15, scope.scope)
            XCTAssertEqual(h.maxVio, try XCTUnwrap(scope.load.maxVio), accuracy: 1e-15, scope.scope)
            XCTAssertEqual(h.meanExpertsPerToken, try XCTUnwrap(scope.heterogeneity.meanExpertsPerToken),
                           accuracy: 1e-15, scope.scope)
        }
        XCTAssertNotEqual(whole[0].cv, whole[2].cv, "the layers differ, so all layers is its own scope")
        let allowed = (0...12).map { Double($0) / Double(48 - $0) }
        for h in loads.replicates(resamples: 100, seed: 9)[0] {
            XCTAssertTrue(allowed.contains { abs($0 - h.cv) < 1e-12 }, "CV \(h.cv)")
        }
        // The same routing without groups: images resampled across groups, loads no longer
        // bounded by any batch; no group fields.
        let b = try analyze(trace: cappedGroupsTrace(groups: nil), options: options)
        XCTAssertNil(b.resampling.loadRoutingGroups)
        XCTAssertNil(b.resampling.loadGroupsPerUnit)
        XCTAssertNotEqual(b.layers[0].uncertainty?.cv, a.layers[0].uncertainty?.cv)
        // Fewer than ten groups are too few clusters: the image intervals stay.
        let few = try analyze(trace: cappedGroupsTrace(groups: [36, 36]), options: options)
        XCTAssertNil(few.resampling.loadRoutingGroups)
        XCTAssertEqual(few.layers[0].uncertainty?.cv, b.layers[0].uncertainty?.cv)
        // Groups that do not cover the tokens are an input error, not a crash.
        assertAnalysisError(try analyze(trace: cappedGroupsTrace(groups: Array(repeating: 12, count: 12)), options: options),
                            "routingGroups[6]", "only 0 of the trace's 72 tokens remain")
        assertAnalysisError(try analyze(trace: cappedGroupsTrace(groups: [70]), options: options),
                            "routingGroups", "1 routing groups hold 70 tokens")
        // JSON: the fields round-trip; analyses written before they existed still decode.
        let json = String(decoding: try JSONEncoder().encode(a.resampling), as: UTF8.self)
        XCTAssertTrue(json.contains("\"load_routing_groups\":12"), json)
        XCTAssertEqual(try JSONDecoder().decode(ResamplingSummary.self, from: Data(json.utf8)), a.resampling)
        let older = String(decoding: try JSONEncoder().encode(b.resampling), as: UTF8.self)
        XCTAssertFalse(older.contains("load_routing_groups"), older)
        XCTAssertEqual(try JSONDecoder().decode(ResamplingSummary.self, from: Data(older.utf8)), b.resampling)
    }

    func assertAnalysisError(_ body: @autoclosure () throws -> TraceAnalysis, _ location: String, _ message: String,
                             line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", line: line) }
            XCTAssertTrue((input.location ?? "").contains(location), "\(input)", line: line)
            XCTAssertTrue(input.message.contains(message), "\(input)", line: line)
        }
    }

    func testExpertChoiceGroupsGiveDegenerateLoadIntervalsWithoutTheRouterName() throws {
        // Every expert takes exactly its k in each of 10 groups: any resample of whole groups has
        // equal loads, so CV, Gini and MaxVio are exactly 0, whatever the router is called (a
        // user's router that fills every expert is covered too): fixed, as routing alike in
        // every group (LoadsAlike).
        let group: [[Int]] = [[0, 1], [0], [2], [], [1, 3], [2, 3]]
        let chosen = Array([[[Int]]](repeating: group, count: 10).joined())
        let t = RoutingTrace(expertCount: 4, tokenCount: 60, layers: [layer(0, chosen, capacity: 20)],
                             routingGroups: Array(repeating: 6, count: 10), metadata: ["router": "my-router"])
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 100, permutations: 0, seed: 1))
        let u = try XCTUnwrap(a.layers[0].uncertainty)
        for interval in [u.cv, u.gini, u.maxVio] {
            let i = try XCTUnwrap(interval)
            XCTAssertEqual(i.lower, 0)
            XCTAssertEqual(i.upper, 0)
            XCTAssertEqual(i.fixedBy, "routing alike in every routing group")
        }
        XCTAssertEqual(try XCTUnwrap(u.meanExpertsPerToken).lower, 8.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(u.meanExpertsPerToken).upper, 8.0 / 6, accuracy: 1e-12)
    }

    func testManyRoutingGroupsAreDrawnInBlocks() throws {
        // 2,050 one-token groups × 1,024 experts exceed one replicate's budget (2²⁰ cells, at
        // most 1,024 units of 1,024 slots): groups are drawn three at a time, the last block
        // holding one group, and the analysis still reproduces its estimates from the blocks.
        let chosen = (0..<2050).map { [$0 % 1024] }
        let t = RoutingTrace(expertCount: 1024, tokenCount: 2050, layers: [layer(0, chosen)],
                             routingGroups: Array(repeating: 1, count: 2050))
        let loads = try XCTUnwrap(RoutingGroupLoads(trace: t))
        XCTAssertEqual(loads.groupsPerUnit, 3)
        XCTAssertEqual(loads.unitCount, 684)
        XCTAssertEqual(loads.tokens.last, 1)
        XCTAssertEqual(loads.tokens.reduce(0, +), 2050)
        XCTAssertEqual(loads.loads.reduce(0, +), 2050)
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 20, permutations: 0, seed: 2))
        XCTAssertEqual(a.resampling.loadRoutingGroups, 2050)
        XCTAssertEqual(a.resampling.loadGroupsPerUnit, 3)
        let whole = loads.headlines(multiplicity: Array(repeating: 1, count: loads.unitCount))
        XCTAssertEqual(whole[0].cv, try XCTUnwrap(a.layers[0].load.cv), accuracy: 1e-15)
        XCTAssertTrue(a.summary().contains("load intervals over 2050 routing groups in blocks of 3"), a.summary())
        // L · E beyond the budget for ten units: no group bootstrap.
        let wide = RoutingTrace(expertCount: 1 << 17, tokenCount: 10, layers: [layer(0, (0..<10).map { [$0] })],
                                routingGroups: Array(repeating: 1, count: 10))
        XCTAssertNil(RoutingGroupLoads(trace: wide))
    }

    func testRouterProbabilitiesConfidenceAndClassMeans() throws {
        // Two tokens (classes 0, 1), E = 2, probabilities (0.8, 0.2) and (0.4, 0.6).
        let probabilities: [Float] = [0.8, 0.2, 0.4, 0.6]
        let routed = layer(0, [[0], [1]], probabilities: probabilities)
        let t = RoutingTrace(expertCount: 2, tokenCount: 2, labels: [0, 1], classCount: 2, layers: [routed])
        let affinity = try analyze(trace: t, options: quick).layers[0].affinity
        // Confidence = mean of row maxima (0.8 + 0.6)/2; entropy from the probabilities.
        XCTAssertEqual(try XCTUnwrap(affinity.routerConfidence), 0.7, accuracy: 1e-7)
        let h0 = -(0.8 * log(0.8) + 0.2 * log(0.2)), h1 = -(0.4 * log(0.4) + 0.6 * log(0.6))
        XCTAssertEqual(try XCTUnwrap(affinity.meanRouterEntropyNats), (h0 + h1) / 2, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(affinity.meanRouterEntropyRatio), (h0 + h1) / 2 / log(2), accuracy: 1e-6)
        let means = try XCTUnwrap(affinity.meanProbabilityPerExpert)
        XCTAssertEqual(means[0], 0.6, accuracy: 1e-7)
        XCTAssertEqual(means[1], 0.4, accuracy: 1e-7)
        let byClass = try XCTUnwrap(affinity.classExpertMeanProbability)
        XCTAssertEqual(try XCTUnwrap(byClass[0][0]), 0.8, accuracy: 1e-7)
        XCTAssertEqual(try XCTUnwrap(byClass[1][1]), 0.6, accuracy: 1e-7)
        // Recorded top probabilities and entropies take precedence over the probabilities.
        let recorded = layer(0, [[0], [1]], topProbability: [0.5, 0.9], routerEntropy: [0.1, 0.3])
        let r = try analyze(trace: RoutingTrace(expertCount: 2, tokenCount: 2, layers: [recorded]), options: quick)
        XCTAssertEqual(try XCTUnwrap(r.layers[0].affinity.routerConfidence), 0.7, accuracy: 1e-7)
        XCTAssertEqual(try XCTUnwrap(r.layers[0].affinity.meanRouterEntropyNats), 0.2, accuracy: 1e-7)
    }

    func testPositionTable() throws {
        // Two images of three tokens (positions 0, 1, 2); position p always goes to expert p.
        let t = trace(experts: 3, positions: [0, 1, 2, 0, 1, 2], layers: [[[0], [1], [2], [0], [1], [2]]])
        let affinity = try analyze(trace: t, options: quick).layers[0].affinity
        XCTAssertEqual(affinity.positionExpertCounts, [[2, 0, 0], [0, 2, 0], [0, 0, 2]])
        let position = try XCTUnwrap(affinity.position)
        XCTAssertEqual(try XCTUnwrap(position.mutualInformationBits), log2(3), accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(position.cramersV), 1, accuracy: 1e-13)
        XCTAssertEqual(affinity.classes, 0)
        XCTAssertNil(affinity.mutualInformationBits)
    }

    func testImageGrouping() {
        XCTAssertEqual(imageGroups(positions: [0, 1, 2, 0, 1, 2, 0, 1], labels: nil), [0, 3, 6, 8])
        XCTAssertEqual(imageGroups(positions: [1, 2, 1, 2], labels: [5, 5, 2, 2]), [0, 2, 4])
        XCTAssertNil(imageGroups(positions: [0, 1, 0, 1], labels: [0, 1, 1, 1]), "label changes inside an image")
        XCTAssertNil(imageGroups(positions: [3, 0, 7, 1, 2], labels: nil), "shuffled tokens")
        XCTAssertNil(imageGroups(positions: [0, 0, 0], labels: nil), "one token per image")
    }

    func testJSONHasRequiredKeysAndNullsForUndefined() throws {
        // E = 1 makes the entropy ratio undefined; no labels leave the class fields null.
        let single = trace(experts: 1, layers: [[[0], [0], [0]]])
        let a = try analyze(trace: single, options: AnalysisOptions(bootstrapResamples: 20, permutations: 10))
        let data = try a.jsonData()
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
        let load = try XCTUnwrap(layers[0]["load"] as? [String: Any])
        let affinity = try XCTUnwrap(layers[0]["affinity"] as? [String: Any])
        let heterogeneity = try XCTUnwrap(layers[0]["heterogeneity"] as? [String: Any])
        for key in ["cv", "gini", "max_vio", "chi2_p"] { XCTAssertNotNil(load[key], key) }
        for key in ["mutual_information_bits", "cramers_v"] {
            XCTAssert(affinity[key] is NSNull, "\(key) should be null without labels")
        }
        XCTAssert(load["entropy_ratio"] is NSNull)
        XCTAssert(load["chi2_p"] is NSNull, "df = 0 with one expert")
        XCTAssertEqual(heterogeneity["experts_per_token_histogram"] as? [Int], [0, 3, 0, 0, 0])
        XCTAssertNotNil(object["overall"] as? [String: Any])
        // Round trip.
        XCTAssertEqual(try JSONDecoder().decode(TraceAnalysis.self, from: data), a)

        let labelled = try analyze(trace: handTrace(), options: AnalysisOptions(bootstrapResamples: 20, permutations: 20))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: try labelled.jsonData()) as? [String: Any])
        let first = try XCTUnwrap((json["layers"] as? [[String: Any]])?.first)
        let aff = try XCTUnwrap(first["affinity"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(aff["mutual_information_bits"] as? Double), 0.3353836207645444, accuracy: 1e-13)
        XCTAssertNotNil(aff["cramers_v"] as? Double)
        let uncertainty = try XCTUnwrap(first["uncertainty"] as? [String: Any])
        XCTAssertNotNil((uncertainty["cv"] as? [String: Any])?["lower"] as? Double)
        XCTAssertEqual(try JSONDecoder().decode(TraceAnalysis.self, from: try labelled.jsonData()), labelled)
    }

    func testSummaryHasThreeLinesPerScope() throws {
        let a = try analyze(trace: handTrace(), options: AnalysisOptions(bootstrapResamples: 10, permutations: 10))
        let text = a.summary()
        // Headline values are bias-corrected: CV √(E Σc(c−1)/(A(A−1)) − 1) and Miller–Madow MI
        // (the plug-in CV 0.302 and MI 0.335 are in the JSON).
        let cv = try XCTUnwrap(a.layers[0].load.cvCorrected), mi = try XCTUnwrap(a.layers[0].affinity.mutualInformationCorrectedBits)
        XCTAssert(text.contains("layer 0     load      CV \(String(format: "%.3f", cv))"), text)
        XCTAssert(text.contains("all layers  load"), text)
        XCTAssert(text.contains("affinity  MI \(String(format: "%.3f", mi)) bits"), text)
        XCTAssert(text.contains("Estimates bias-corrected"), text)
        XCTAssert(text.contains("tokens    experts/token 1.375"), text)
        XCTAssert(text.contains("0:12.5% 1:50.0% 2:25.0% 3:12.5% 4+:0.0%"), text)
        // Three header lines, two scopes of a blank line and three lines, then one line each for
        // the neighbour agreement and the co-activation (this trace has tokens of 2 and 3 experts);
        // no label is seen 10 times, so no specialisation line.
        XCTAssertEqual(text.split(separator: "\n", omittingEmptySubsequences: false).count, 3 + 2 * 4 + 2)
        XCTAssert(text.contains("neighbours with the same first expert ("), text)
        XCTAssert(text.contains("co-activation, observed/random ratio over expert pairs: "), text)
        XCTAssertEqual(a.vocabularySpecialisation?.first?.ids, 0)
    }

    func testBadInputNamesPlaceAndValue() {
        func message(_ t: RoutingTrace, _ options: AnalysisOptions = AnalysisOptions()) -> String {
            var o = options
            o.source = "run/trace.bin"
            do { _ = try analyze(trace: t, options: o) } catch let error as InputError {
                return error.description
            } catch { return "unexpected \(error)" }
            return "no error"
        }
        var t = trace(experts: 2, layers: [[[0], [1]]])
        t.layers[0].experts[1] = 5
        XCTAssertEqual(message(t), "run/trace.bin: layer 0 (entry 0), assignment 1: expert is 5, expected 0..<2")
        t = trace(experts: 2, layers: [[[0], [1]]])
        t.layers[0].offsets = [0, 2, 1]
        XCTAssert(message(t).contains("offset 2: is 1, expected the number of assignments 2"), message(t))
        t = trace(experts: 2, labels: [0, 3], classCount: 2, layers: [[[0], [1]]])
        XCTAssertEqual(message(t), "run/trace.bin: labels, token 1: label is 3, expected 0..<2")
        t = trace(experts: 2, layers: [[[0], [1]]])
        t.layers[0].topProbability = [0.5, .nan]
        XCTAssert(message(t).contains("layer 0, token 1: top probability is nan"), message(t))
        t = trace(experts: 2, layers: [[[0], [1]]])
        t.layers[0].probabilities = [0.5, 0.5, 0.5]
        XCTAssert(message(t).contains("3 router probabilities, expected tokens × experts = 4"), message(t))
        XCTAssert(message(trace(experts: 2, layers: [[[0], [1]]]), AnalysisOptions(confidenceLevel: 1.5))
            .contains("confidence level"))
        XCTAssert(message(trace(experts: 2, layers: [[[0], [1]]]), AnalysisOptions(resamplingUnit: .images))
            .contains("needs token positions"))
    }
}

final class EdgeCaseTests: XCTestCase {
    func testLayerWithoutAnyAssignmentIsUndefinedNotACrash() throws {
        let t = trace(experts: 3, labels: [0, 1, 0], classCount: 2, layers: [[[], [], []], [[0], [1], [2]]])
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 20, permutations: 20))
        let empty = a.layers[0]
        XCTAssertNil(empty.load.cv)
        XCTAssertNil(empty.load.gini)
        XCTAssertNil(empty.load.chi2P)
        XCTAssertEqual(empty.load.fractions, [nil, nil, nil])
        XCTAssertEqual(empty.load.unusedExperts, [0, 1, 2])
        XCTAssertEqual(try XCTUnwrap(empty.load.droppedFraction), 1, accuracy: 0)
        XCTAssertNil(empty.affinity.mutualInformationBits)
        XCTAssertNil(empty.affinity.mutualInformationPermutationP)
        XCTAssertNil(empty.uncertainty?.cv)
        XCTAssertEqual(empty.heterogeneity.expertsPerTokenHistogram, [3, 0, 0, 0, 0])
        // All layers: 3 of 6 experts used; χ² only over the layer with assignments.
        XCTAssertEqual(a.overall.load.chi2DF, 2)
        XCTAssertEqual(try XCTUnwrap(a.overall.load.tokensWithoutExpertFraction), 0.5, accuracy: 0)
        let json = try JSONSerialization.jsonObject(with: try a.jsonData()) as? [String: Any]
        XCTAssertNotNil(json)
    }

    func testManyExpertsAndRepeatedExperts() throws {
        // E = 70 (beyond the 64-bit pattern masks) with top-3 sets, and E = 20 with a token
        // that lists the same expert twice: both count assignments as given.
        var rng = TestLCG(state: 2)
        let sets = (0..<300).map { _ in [rng.next(below: 70), rng.next(below: 70), rng.next(below: 70)] }
        let wide = try analyze(trace: trace(experts: 70, layers: [sets]),
                               options: AnalysisOptions(bootstrapResamples: 10, permutations: 0))
        XCTAssertEqual(wide.layers[0].load.assignments, 900)
        XCTAssertEqual(wide.layers[0].heterogeneity.expertsPerTokenCounts, [0, 0, 0, 300])
        let repeated = try analyze(trace: trace(experts: 20, layers: [[[3, 3], [4, 5], [5, 4], [3]]]),
                                   options: AnalysisOptions(bootstrapResamples: 10, permutations: 0))
        XCTAssertEqual(repeated.layers[0].load.counts[3], 3)
        XCTAssertEqual(repeated.layers[0].load.counts[4], 2)
        XCTAssertEqual(repeated.layers[0].heterogeneity.expertsPerTokenCounts, [0, 1, 3])
    }

    func testLabelsWithoutClassCountInferTheClasses() throws {
        let a = try analyze(trace: top1Trace(experts: 2, assignment: [0, 1, 0, 1], labels: [0, 2, 0, 2]),
                            options: AnalysisOptions(bootstrapResamples: 0, permutations: 0))
        XCTAssertEqual(a.classCount, 3)
        XCTAssertEqual(a.layers[0].affinity.classes, 2)     // class 1 has no tokens
        XCTAssertEqual(a.layers[0].heterogeneity.classTokenCounts, [2, 0, 2])
        XCTAssertNil(a.layers[0].heterogeneity.meanComputeByClass?[1] ?? nil)
        XCTAssertEqual(try XCTUnwrap(a.layers[0].affinity.mutualInformationBits), 1, accuracy: 1e-14)
    }
}

extension EdgeCaseTests {
    func testHugePositionRangeSkipsPositionTableButStillGroupsImages() throws {
        // Positions up to 2^19 with E = 64: 2^19 · 64 cells exceed the 2^24 limit.
        let n = 4
        let t = RoutingTrace(expertCount: 64, tokenCount: n, positions: [0, 1, 0, 524_287],
                             layers: [layer(0, [[0], [1], [2], [3]])])
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 5, permutations: 0))
        XCTAssertNil(a.layers[0].affinity.position)
        XCTAssertNil(a.layers[0].affinity.positionExpertCounts)
    }
}
