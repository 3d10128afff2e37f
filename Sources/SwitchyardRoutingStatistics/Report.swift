import Foundation

/// Switchyard's JSON form of a result: snake_case keys, sorted, pretty-printed.
func reportJSON<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
}

extension AssignmentAgreement {
    /// The comparison as JSON (snake_case keys, undefined values `null`).
    public func jsonData() throws -> Data { try reportJSON(self) }
}

extension RunComparison {
    /// The comparison as JSON (snake_case keys, undefined values `null`).
    public func jsonData() throws -> Data { try reportJSON(self) }
}

extension StatisticsBenchmarkResult {
    /// The result as JSON (snake_case keys).
    public func jsonData() throws -> Data { try reportJSON(self) }
}

extension TraceAnalysis {
    /// The analysis as JSON: snake_case keys, sorted, pretty-printed; undefined values
    /// (NaN, ±∞, missing tables) are `null`.
    public func jsonData() throws -> Data { try reportJSON(self) }

    /// A terminal summary: a header, then three aligned lines per layer and for all
    /// layers (load; affinity; experts per token), with bootstrap intervals in brackets.
    ///
    /// ```
    /// layer 0     load      CV 0.112 [0.101, 0.124]  Gini 0.061 [0.055, 0.067]  MaxVio 0.204 …
    ///             affinity  MI 0.412 bits [0.401, 0.420]  V 0.301 […]  perm p 0.005  …
    ///             tokens    experts/token 1.000 [1.000, 1.000]  0:0.0% 1:100.0% 2:0.0% …
    /// ```
    public func summary() -> String {
        var lines: [String] = []
        let tokenIds = metadata["labelKind"] == "token ids"
        let classes = classCount == 0 ? ""
            : occurringLabels(tokenIds ? "token ids" : "labels").map { ", \($0) (one class each)" }
            ?? (tokenIds ? ", labels are token ids in 0…\(classCount - 1)" : ", \(classCount) classes")
        let kind = metadata["traceKind"] == "sequences" ? " of sequences" : ""
        lines.append("Routing trace\(kind): \(layerCount) layer\(layerCount == 1 ? "" : "s") × \(tokenCount) tokens, "
                     + "\(expertCount) experts\(classes)")
        var r = resampling.chunks.map { "Resampling: none, one pass over \($0) chunks (analyze --stream): no intervals or permutation tests" }
            ?? "Resampling: \(resampling.units) \(resampling.unit)"
        if resampling.bootstrapResamples > 0 {
            r += ", \(resampling.bootstrapResamples) bootstrap resamples "
                + "(\(formatPercent(resampling.confidenceLevel, digits: 0)) intervals"
                + (classCount > 0 && !resampling.stratifiedByClass ? ", not stratified by class)" : ")")
        }
        if let groups = resampling.loadRoutingGroups {
            let blocks = (resampling.loadGroupsPerUnit ?? 1) > 1 ? " in blocks of \(resampling.loadGroupsPerUnit!)" : ""
            r += "; load intervals over \(groups) routing groups\(blocks)"
        }
        if resampling.permutations > 0 { r += ", \(resampling.permutations) permutations" }
        lines.append(resampling.chunks == nil ? r + ", seed \(resampling.seed)" : r)
        var note = "Estimates bias-corrected (CV from unbiased Σp²"
        note += resampling.bootstrapResamples > 0
            ? ", MaxVio by bootstrap, Gini, MI and V in shrunk bootstrap worlds); basic, moment-selection and shrunk-world "
              + "bootstrap intervals (docs/statistics.md)"
            : ", MI Miller–Madow, V Bergsma)"
        note += "; plug-in values in --json"
        if tokensAreClustered { note += "; χ² tests left out (they assume independent tokens; this trace has \(resampling.unit == "images" ? "images" : "routing groups"))" }
        lines.append(note)
        if metadata["router.soft"] == "true" {
            lines.append("Soft router: every token reaches every expert through p slots per expert and image (slot loads "
                         + "equal by construction); the loads, affinity and experts/token below are of each token's expert "
                         + "of largest combine mass, one per token")
        }
        for scope in layers + [overall] {
            lines.append("")
            lines += scope.summaryLines(showChiSquare: !tokensAreClustered)
        }
        if !layerTransitions.isEmpty {
            lines.append("")
            let parts = layerTransitions.map { t -> String in
                var part = "\(t.fromLayer)→\(t.toLayer) \(formatNumber(t.mutualInformationCorrectedBits ?? t.mutualInformationBits)) bits"
                if let p = t.mutualInformationPermutationP {
                    part += " (perm p \(formatP(p))"
                    if let units = t.permutationUnits {
                        part += " on \(units) units: \(formatNumber(t.permutationMutualInformationBits)) bits"
                    }
                    part += ")"
                }
                return part
            }
            let consecutive = layerTransitions.allSatisfy { t in
                layers.firstIndex { $0.layer == t.fromLayer }.map { i in i + 1 < layers.count && layers[i + 1].layer == t.toLayer } ?? true
            }
            lines.append("top-1 MI between \(consecutive ? "consecutive layers" : "layers"): " + parts.joined(separator: ", "))
        }
        if let agreements = neighbourAgreement, let kind = agreements.first?.neighbours {
            let parts = agreements.map { a -> String in
                var part = "\(a.layer) \(formatNumber(a.agreement)) (chance \(formatNumber(a.chance))"
                if let p = a.permutationP {
                    let within = a.neighbours.hasPrefix("patch grid") || a.neighbours == "consecutive patches" ? "images"
                        : a.neighbours.hasSuffix("routing group") ? "routing groups" : "the trace"
                    if let units = a.permutationUnits {
                        part += "; tested on \(units) of \(a.units) \(within): \(formatNumber(a.permutationAgreement))"
                    }
                    part += ", shuffled within \(within) \(formatNumber(a.permutationMean)), p \(formatP(p))"
                }
                return part + ")"
            }
            lines.append("neighbours with the same first expert (\(kind)): " + parts.joined(separator: ", "))
        }
        if let shared = sharedExperts, let first = shared.first {
            let parts = shared.map { s -> String in
                var part = "\(s.layer) \(formatNumber(s.sharedShare))"
                if let g = s.meanGate, let q = s.gateQuartiles {
                    part += " (gate mean \(formatNumber(g)), quartiles \(q.map { formatNumber($0) }.joined(separator: ", ")))"
                }
                return part
            }
            lines.append("shared experts (\(first.sharedExperts), \(first.gate == "none" ? "weight 1 each" : "gated")), "
                         + "their share of a token's combine weight: " + parts.joined(separator: ", "))
        }
        if let domain = domainSpecialisation {
            let parts = domain.map { d -> String in
                let lifts = d.lift.indices.compactMap { i -> String? in
                    guard let lift = d.lift[i], let expert = d.liftExpert[i] else { return nil }
                    let name = d.names.flatMap { i < $0.count ? $0[i] : nil } ?? "domain \(i)"
                    return "\(name) \(formatNumber(lift))× (expert \(expert))"
                }
                var part = "\(d.layer) " + lifts.joined(separator: ", ")
                    + "; MI \(formatNumber(d.mutualInformationBits)) bits"
                if let p = d.permutationP {
                    part += ", p \(formatP(p)) (domains permuted over "
                        + (d.permutationUnits.map { "\($0) random \(d.units) of \(d.unitCount), MI \(formatNumber(d.permutationMutualInformationBits))" }
                           ?? "\(d.unitCount) \(d.units)") + ")"
                }
                return part
            }
            lines.append("domain specialisation, a domain's largest share of tokens reaching one expert ÷ that expert's share of all tokens: "
                         + parts.joined(separator: "; "))
        }
        // Printed when some label was seen often enough to count.
        if let vocabulary = vocabularySpecialisation, vocabulary.contains(where: { $0.ids > 0 }) {
            let parts = vocabulary.map { v -> String in
                var part = "\(v.layer) \(formatNumber(v.specialisation)) over \(v.ids) ids"
                if let p = v.permutationP {
                    if let units = v.permutationUnits {
                        part += " (tested on \(units) \(v.units): \(formatNumber(v.permutationSpecialisation))"
                    } else {
                        part += " ("
                    }
                    part += (v.permutationUnits == nil ? "" : ", ") + "shuffled within \(v.units) \(formatNumber(v.permutationMean)), p \(formatP(p)))"
                }
                return part
            }
            lines.append("label specialisation, share of each label's (token id's) most frequent first expert, labels seen ≥ \(VocabularySpecialisation.minimumOccurrences) times: "
                         + parts.joined(separator: ", "))
        }
        if let coActivation, !coActivation.isEmpty {
            let parts = coActivation.map { c -> String in
                guard let high = c.maxRatio, let low = c.minRatio else { return "\(c.layer) –" }
                return "\(c.layer) \(formatNumber(low))–\(formatNumber(high))"
            }
            lines.append("co-activation, observed/random ratio over expert pairs: " + parts.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

extension LayerAnalysis {
    /// The three summary lines of this scope.
    func summaryLines(showChiSquare: Bool = true) -> [String] {
        let label = scope.padding(toLength: max(12, scope.count + 1), withPad: " ", startingAt: 0)
        let indent = String(repeating: " ", count: label.count)
        let u = uncertainty
        var load = "load      CV \(formatNumber(headlineCV))\(formatInterval(u?.cv))"
        load += "  Gini \(formatNumber(headlineGini))\(formatInterval(u?.gini))"
        load += "  MaxVio \(formatNumber(headlineMaxVio))\(formatInterval(u?.maxVio))"
        if showChiSquare { load += "  χ² p \(formatP(self.load.chi2P))" }
        load += "  unused \(self.load.unusedExperts.count)"
        load += "  dropped \(formatPercent(self.load.droppedFraction))"
        if let c = self.load.capacityUtilization { load += "  capacity used \(formatPercent(c))" }
        var affinity = "affinity  "
        if self.affinity.classes > 0 {
            affinity += "MI \(formatNumber(headlineMutualInformationBits)) bits"
            affinity += formatInterval(u?.mutualInformationBits)
            affinity += "  V \(formatNumber(headlineCramersV))\(formatInterval(u?.cramersV))"
            if showChiSquare { affinity += "  χ² p \(formatP(self.affinity.chi2P))" }
            if self.affinity.permutations > 0 {
                affinity += "  perm p \(formatP(self.affinity.mutualInformationPermutationP))"
                if let units = self.affinity.permutationUnits {
                    affinity += " (on \(units) random units, MI \(formatNumber(self.affinity.permutationMutualInformationBits)))"
                }
            }
        } else {
            affinity += "no labels"
        }
        if let c = self.affinity.routerConfidence { affinity += "  confidence \(formatNumber(c))" }
        if let h = self.affinity.meanRouterEntropyNats { affinity += "  entropy \(formatNumber(h)) nats" }
        let h = heterogeneity
        var tokens = "tokens    experts/token \(formatNumber(h.meanExpertsPerToken))"
        tokens += formatInterval(u?.meanExpertsPerToken)
        let total = Double(h.expertsPerTokenHistogram.reduce(0, +))
        let names = ["0", "1", "2", "3", "4+"]
        tokens += "  " + zip(names, h.expertsPerTokenHistogram).map {
            "\($0):\(formatPercent(total > 0 ? Double($1) / total : nil))"
        }.joined(separator: " ")
        if let kw = h.kruskalWallis { tokens += "  by class KW p \(formatP(kw.p))" }
        return [label + load, indent + affinity, indent + tokens]
    }
}

func formatNumber(_ x: Double?) -> String {
    guard let x else { return "–" }
    if x != 0 && (abs(x) < 1e-3 || abs(x) >= 1e5) { return String(format: "%.3g", x) }
    return String(format: "%.3f", x)
}

func formatP(_ p: Double?) -> String {
    guard let p else { return "–" }
    if p < 1e-4 { return p < 1e-300 ? "<1e-300" : String(format: "%.1e", p) }
    return String(format: "%.4f", p)
}

func formatPercent(_ x: Double?, digits: Int = 1) -> String {
    guard let x else { return "–" }
    return String(format: "%.\(digits)f%%", 100 * x)
}

func formatInterval(_ i: BootstrapInterval?) -> String {
    guard let i else { return "" }
    if let label = i.fixedLabel ?? i.withheldLabel { return " " + label }
    if i.noDetectableEffect == true { return " [0, \(formatNumber(i.upper))] (no detectable affinity)" }
    return " \(i.lowerOpen == true ? "(" : "[")\(formatNumber(i.lower)), \(formatNumber(i.upper))]"
        + (i.warning == nil ? "" : " (!: excludes estimate)")
}
