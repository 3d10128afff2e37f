import SwitchyardRoutingStatistics

extension RoutingReport {
    /// The significance level the findings use.
    static var alpha: Double { 0.01 }

    func loadFindings(_ a: TraceAnalysis) -> [String] {
        var out: [String] = []
        let balanced = a.layers.filter { ($0.load.cv ?? 1) == 0 }
        if balanced.count == a.layers.count {
            out.append("Load is perfectly balanced: in every layer each expert took exactly "
                       + "\(ReportFormat.count(a.layers[0].load.counts.first ?? 0)) assignments (CV 0).")
        } else {
            // With images or routing groups the χ² test (independent tokens) is not valid: the evidence
            // is then the CV interval (resampled by image or group) lying above 0.
            let clustered = a.tokensAreClustered
            let imbalanced: [LayerAnalysis]
            let test: String
            if clustered {
                imbalanced = a.layers.filter { ($0.uncertainty?.cv?.lower ?? 0) > 0 }
                let unit = a.resampling.loadRoutingGroups != nil || a.resampling.unit != "images" ? "routing group" : "image"
                test = "the 95% interval of CV, resampled by \(unit), excludes 0"
            } else {
                let adjusted = Statistics.holm(a.layers.map { $0.load.chi2P })
                imbalanced = a.layers.indices.filter { (adjusted[$0] ?? 1) < Self.alpha }.map { a.layers[$0] }
                test = "χ² test assuming independent tokens, Holm-adjusted over the \(a.layers.count) layers"
            }
            if let worst = a.layers.max(by: { ($0.headlineCV ?? 0) < ($1.headlineCV ?? 0) }) {
                let departs = clustered ? "departs from uniform" : "departs from uniform at adjusted p < \(Self.alpha)"
                let which = imbalanced.isEmpty ? "No layer's load \(departs) (\(test))"
                    : imbalanced.count == a.layers.count ? "Every layer's load \(departs) (\(test))"
                    : "The load of \(ReportFormat.list(imbalanced.map(\.scope))) \(departs) (\(test))"
                let interval = worst.uncertainty?.cv.map {
                    $0.fixedLabel.map { " " + $0 }
                        ?? ", 95% interval [\(ReportFormat.number($0.lower)), \(ReportFormat.number($0.upper))]"
                } ?? ""
                let corrected = worst.uncertainty?.cv?.fixedBy == nil ? " (bias-corrected)" : ""
                if a.metadata["router.soft"] == "true" {
                    // A soft router's experts all compute p slots per image; the load is of the record.
                    out.append("Soft routing: every expert computes the same number of slots per image by construction. "
                               + "Counting each token at its expert of largest combine mass, \(which.prefix(1).lowercased() + which.dropFirst()); "
                               + "the most uneven is \(worst.scope) with CV \(ReportFormat.number(worst.headlineCV))\(interval)"
                               + "\(corrected): its most-favoured expert is the largest-mass expert of "
                               + "\(ReportFormat.percent(worst.headlineMaxVio, 1)) more tokens than the mean.")
                } else {
                    out.append("\(which); the most imbalanced is \(worst.scope) with CV \(ReportFormat.number(worst.headlineCV))\(interval)"
                               + "\(corrected): its busiest expert takes \(ReportFormat.percent(worst.headlineMaxVio, 1)) more "
                               + "than the mean.")
                }
            }
        }
        let unused = a.layers.flatMap { s in s.load.unusedExperts.map { "expert \($0) of \(s.scope)" } }
        if !unused.isEmpty { out.append("Unused: \(ReportFormat.list(unused)) took no test token.") }
        let without = { (s: LayerAnalysis) in s.load.tokensWithoutExpertFraction ?? 0 }
        if let worst = a.layers.max(by: { without($0) < without($1) }), without(worst) > 0 {
            out.append("Up to \(ReportFormat.percent(without(worst))) of test tokens got no expert at all, in \(worst.scope) "
                       + "(the residual connection carries them); over all layers "
                       + "\(ReportFormat.percent(a.overall.load.tokensWithoutExpertFraction)).")
        }
        let passedOver = { (s: LayerAnalysis) in
            s.load.droppedDefinition == "preferred_expert_not_taken" ? (s.load.droppedFraction ?? 0) : 0
        }
        if let worst = a.layers.max(by: { passedOver($0) < passedOver($1) }), passedOver(worst) > without(worst) {
            out.append("Up to \(ReportFormat.percent(passedOver(worst))) of test tokens were not taken by the expert "
                       + "their router ranked first (its buffer was full), in \(worst.scope).")
        }
        return out
    }

    func affinityFindings(_ a: TraceAnalysis, names: [String]) -> [String] {
        var out: [String] = []
        if let strongest = a.layers.max(by: { ($0.affinity.position?.cramersV ?? 0) < ($1.affinity.position?.cramersV ?? 0) }),
           let position = strongest.affinity.position, let v = position.cramersV {
            out.append("The \(positionNoun) predicts the expert most in \(strongest.scope): Cramér's V "
                       + "\(ReportFormat.number(v)) (1 = the position alone decides)"
                       + (a.tokensAreClustered ? "." : ", χ² p \(ReportFormat.pClause(position.chi2P)) (independent tokens assumed)."))
        }
        guard a.classCount > 0 else { return out }
        // The headline test: the label-permutation test over the trace's units; the χ² test only
        // without permutations and for independent tokens. Holm-adjusted over the layers.
        let usePermutation = a.resampling.permutations > 0
        let raw = a.layers.map { usePermutation ? $0.affinity.mutualInformationPermutationP
                                                : (a.tokensAreClustered ? nil : $0.affinity.chi2P) }
        let adjusted = Statistics.holm(raw)
        let dependent = a.layers.indices.filter { (adjusted[$0] ?? 1) < Self.alpha }.map { a.layers[$0] }
        var test = (usePermutation ? "label-permutation test over \(a.resampling.unit)" : "χ² test assuming independent tokens")
            + ", Holm-adjusted over the \(a.layers.count) layers"
        let smallest = 1 / Double(a.resampling.permutations + 1)
        if usePermutation && smallest * Double(a.layers.count) >= Self.alpha {
            test += "; \(a.resampling.permutations) permutations cannot give an adjusted p below \(ReportFormat.number(smallest * Double(a.layers.count), 3)): "
                + "use more to test at \(Self.alpha)"
        }
        if raw.contains(where: { $0 != nil }),
           let strongest = a.layers.max(by: { ($0.headlineMutualInformationBits ?? 0) < ($1.headlineMutualInformationBits ?? 0) }) {
            let which = dependent.isEmpty ? "In no layer does the expert depend on the \(labelNoun) at adjusted p < \(Self.alpha) (\(test))"
                : dependent.count == a.layers.count
                ? "In every layer the expert depends on the \(labelNoun == "class" ? "token's class" : "token id") at adjusted p < \(Self.alpha) (\(test))"
                : "The expert depends on the \(labelNoun == "class" ? "token's class" : "token id") at adjusted p < \(Self.alpha) in "
                  + "\(ReportFormat.list(dependent.map(\.scope))) (\(test))"
            out.append("\(which); the dependence is strongest in \(strongest.scope): mutual information "
                       + "\(ReportFormat.number(strongest.headlineMutualInformationBits)) bits (bias-corrected) of the \(labelNoun)'s "
                       + "\(ReportFormat.number(strongest.affinity.classEntropyBits, 2)), Cramér's V "
                       + "\(ReportFormat.number(strongest.headlineCramersV)) (bias-corrected).")
        }
        let specialised = a.layers.flatMap { s in
            s.affinity.dominantClasses.compactMap { d -> (String, Double)? in
                guard let share = d.share, share >= 0.5, let c = d.dominantClass else { return nil }
                let name = d.className ?? (c < names.count ? names[c] : String(c))
                return ("expert \(d.expert) of \(s.scope) (\(ReportFormat.percent(share, 0)) \(name))", share)
            }
        }.sorted { $0.1 > $1.1 }
        if !specialised.isEmpty {
            out.append("Experts that take mostly one \(labelNoun): " + ReportFormat.list(specialised.prefix(5).map(\.0))
                       + (specialised.count > 5 ? ", and \(specialised.count - 5) more." : "."))
        } else {
            out.append("No expert takes a majority of its tokens from a single \(labelNoun).")
        }
        return out
    }

    func computeFindings(_ a: TraceAnalysis, names: [String]) -> [String] {
        var out: [String] = []
        let h = a.overall.heterogeneity
        if a.metadata["router.soft"] == "true" {
            out.append("Soft routing: every token reaches all \(a.expertCount) experts in each of the \(a.layerCount) MoE layers "
                       + "through the slots, so compute per token is the same for every token (the trace records one expert "
                       + "per token, its expert of largest combine mass).")
            return out
        }
        let used = h.computePerToken.histogram.indices.filter { h.computePerToken.histogram[$0] > 0 }
        if let lo = used.first, let hi = used.last {
            if lo == hi {
                out.append("Every token is processed by the same number of experts, \(lo) over the \(a.layerCount) layers.")
            } else {
                out.append("Compute per token varies: tokens are processed by \(lo) to \(hi) experts over the "
                           + "\(a.layerCount) layers (mean \(ReportFormat.number(h.computePerToken.mean, 2)), Gini "
                           + "\(ReportFormat.number(h.computePerToken.gini)); \(ReportFormat.percent(h.fractionWithAtLeast.count > 1 ? 1 - h.fractionWithAtLeast[1] : nil, 2)) of "
                           + "token-layer pairs get no expert).")
                if let kw = h.kruskalWallis, let p = kw.p, let byClass = h.meanComputeByClass {
                    let valid = byClass.indices.filter { byClass[$0] != nil }
                    let name = { (i: Int) in i < names.count ? names[i] : String(i) }
                    if p < Self.alpha, let most = valid.max(by: { byClass[$0]! < byClass[$1]! }),
                       let least = valid.min(by: { byClass[$0]! < byClass[$1]! }) {
                        out.append("Classes receive different compute (Kruskal–Wallis p \(ReportFormat.pClause(p))): "
                                   + "\(name(most)) tokens get the most (\(ReportFormat.number(byClass[most], 2)) experts) and "
                                   + "\(name(least)) the least (\(ReportFormat.number(byClass[least], 2))).")
                    } else {
                        out.append("There is no evidence that \(labelNoun == "class" ? "classes" : "token ids") receive different compute (Kruskal–Wallis p \(ReportFormat.pClause(p))).")
                    }
                }
            }
        }
        return out
    }

    func stabilityFindings() -> [String] {
        guard let s = stability.last, let agreement = s.agreement.overall.agreement else { return [] }
        return ["Between epochs \(s.fromEpoch) and \(s.toEpoch), \(ReportFormat.percent(agreement, 1)) of test tokens kept "
                + "their top-1 expert (Cohen's κ \(ReportFormat.number(s.agreement.overall.cohensKappa)))."]
    }
}
