import SwitchyardCharts
import SwitchyardRoutingStatistics

extension RoutingReport {
    /// The trace's scopes: every layer, then all layers.
    func scopes(_ a: TraceAnalysis) -> [LayerAnalysis] { a.layers + [a.overall] }

    /// Per-layer load statistics with intervals, and tokens per expert as a chart and table.
    func loadSection(_ b: inout ReportBuilder, _ a: TraceAnalysis) {
        b.heading(2, "Load balance")
        b.paragraph("Routing of \(routingSubject(a)). CV is the population standard deviation of the experts' token counts over "
                    + "their mean, MaxVio = (max − mean)/mean, Gini 0 is perfect balance and (E − 1)/E total collapse; "
                    + "CV, Gini and MaxVio are bias-corrected (plug-in values in the JSON) with basic bootstrap "
                    + "intervals; "
                    + (a.tokensAreClustered
                       ? "the χ² test of uniform counts is left out: it assumes independent tokens, and this trace's "
                         + "tokens come in \(a.resampling.unit == "images" ? "images" : groupNoun) (docs/statistics.md)."
                       : "χ² p tests the counts against a uniform spread, assuming independent tokens (docs/statistics.md).")
                    + (isSoftRouting ? " Soft router: every expert computes the same p slots per image, so the computed load is "
                       + "equal by construction; the counts here are of each token's expert of largest combine mass "
                       + "(docs/routers.md, soft-moe)." : ""))
        let chi = !a.tokensAreClustered
        let header = ["scope", "assignments", "CV", "Gini", "MaxVio", "max/mean", "entropy / ln E"] + (chi ? ["χ² p"] : [])
            + ["unused experts", "tokens without expert", "first choice not taken", "capacity used"]
        var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
        for s in scopes(a) {
            let l = s.load, u = s.uncertainty
            t.append([s.scope, ReportFormat.count(l.assignments), ReportFormat.withInterval(s.headlineCV, u?.cv),
                      ReportFormat.withInterval(s.headlineGini, u?.gini), ReportFormat.withInterval(s.headlineMaxVio, u?.maxVio),
                      ReportFormat.number(l.maxOverMean), ReportFormat.number(l.entropyRatio, 4)]
                     + (chi ? [ReportFormat.p(l.chi2P)] : [])
                     + [l.unusedExperts.isEmpty ? "none" : l.unusedExperts.map(String.init).joined(separator: ", "),
                        ReportFormat.percent(l.tokensWithoutExpertFraction),
                        l.droppedDefinition == "no_expert" ? "n/a" : ReportFormat.percent(l.droppedFraction),
                        ReportFormat.percent(l.capacityUtilization)])
        }
        b.table(t)
        guard a.expertCount > 1 else { return }
        let experts = (0..<a.expertCount).map { "expert \($0)" }
        b.chart("load", alt: "Share of assignments per expert and layer", svg: {
            var chart = BarChart(
                title: "Share of each layer's assignments per expert (dashed: uniform)", categories: experts,
                series: a.layers.map { s in
                    ChartSeries(name: s.scope, x: [], y: s.load.fractions.map { $0 ?? 0 })
                }, yLabel: "share of assignments")
            chart.referenceLine = 1 / Double(a.expertCount)
            return chart.svg()
        }())
        var shares = MarkdownTable(["layer"] + experts, alignments: [.left] + experts.map { _ in .right })
        for s in a.layers {
            shares.append([s.scope] + s.load.counts.enumerated().map { e, n in
                "\(ReportFormat.count(n)) (\(ReportFormat.percent(s.load.fractions[e], 1)))"
            })
        }
        b.table(shares)
    }

    /// Class × expert dependence per layer: the statistics, a heatmap of P(expert | class), dominant classes.
    func affinitySection(_ b: inout ReportBuilder, _ a: TraceAnalysis) {
        b.heading(2, "Token–expert affinity")
        guard a.classCount > 0 else {
            b.paragraph("The trace has no labels, so there is no class × expert table.")
            return
        }
        let chi = !a.tokensAreClustered
        b.paragraph("Mutual information between a token's \(labelNoun) and its expert (bits, assignment-weighted, bias-"
                    + "corrected: in a bootstrap world with the resampling unit kept when intervals were computed, else "
                    + "Miller–Madow), its normalised form 2I/(H(class)+H(expert)) (plug-in), Cramér's V (bias-corrected "
                    + "alike, else Bergsma's correction), "
                    + (chi ? "the χ² test of independence (assumes independent tokens) and " : "")
                    + "a label-permutation test of the mutual information over the test set's \(a.resampling.unit) "
                    + "(the headline test); router confidence is the mean largest router probability, router entropy "
                    + "is relative to ln E.")
        let header = ["scope", "MI (bits)", "NMI", "Cramér's V"] + (chi ? ["χ² p"] : [])
            + ["permutation p", "router confidence", "router entropy / ln E", "position V"]
        var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
        for s in scopes(a) {
            let f = s.affinity, u = s.uncertainty
            t.append([s.scope, ReportFormat.withInterval(s.headlineMutualInformationBits, u?.mutualInformationBits),
                      ReportFormat.number(f.normalizedMutualInformation),
                      ReportFormat.withInterval(s.headlineCramersV, u?.cramersV)]
                     + (chi ? [ReportFormat.p(f.chi2P)] : [])
                     + [ReportFormat.p(f.mutualInformationPermutationP)
                        + (f.permutationUnits.map { " (\(ReportFormat.count($0)) random \(a.resampling.unit))" } ?? ""),
                        ReportFormat.number(f.routerConfidence), ReportFormat.number(f.meanRouterEntropyRatio),
                        ReportFormat.number(f.position?.cramersV)])
        }
        b.table(t)
        guard a.expertCount > 1 else { return }
        let names = classNames
        let experts = (0..<a.expertCount).map { "expert \($0)" }
        for s in a.layers {
            guard let counts = s.affinity.classExpertCounts else { continue }
            let rows = counts.map { row -> [Double?] in
                let total = row.reduce(0, +)
                return row.map { total > 0 ? Double($0) / Double(total) : nil }
            }
            let labels = counts.indices.map { $0 < names.count ? names[$0] : String($0) }
            b.heading(3, "\(s.scope): which experts each class goes to")
            b.chart("affinity-layer-\(s.layer ?? 0)", alt: "P(expert | class) in \(s.scope)", svg: Heatmap(
                title: "\(s.scope): P(expert | class)", rowLabels: labels,
                columnLabels: (0..<a.expertCount).map(String.init), values: rows, xLabel: "expert", yLabel: "class").svg())
            var table = MarkdownTable(["class"] + experts, alignments: [.left] + experts.map { _ in .right })
            for (i, row) in rows.enumerated() {
                table.append([labels[i]] + row.map { ReportFormat.percent($0, 1) })
            }
            b.table(table)
        }
        var dominant = MarkdownTable(["layer", "expert", "assignments", "dominant class", "its share"],
                                     alignments: [.left, .right, .right, .left, .right])
        for s in a.layers {
            for d in s.affinity.dominantClasses {
                dominant.append([s.scope, String(d.expert), ReportFormat.count(d.assignments),
                                 d.className ?? d.dominantClass.map(String.init) ?? "none",
                                 ReportFormat.percent(d.share, 1)])
            }
        }
        b.heading(3, "Dominant class of each expert")
        b.table(dominant)
    }

    /// Experts per token and compute per token, with the test of differences between classes.
    func computeSection(_ b: inout ReportBuilder, _ a: TraceAnalysis) {
        b.heading(2, "Compute per token")
        if isSoftRouting {
            b.paragraph("Soft router: every token reaches all \(a.expertCount) experts in each of the \(a.layerCount) MoE "
                        + "layers through the slots (each slot mixes all tokens of its image), so every token receives the "
                        + "same compute. The trace's one record per token (its expert of largest combine mass) does not "
                        + "measure compute, so no histogram is given.")
            return
        }
        b.paragraph("How many experts process each token: per layer, and summed over the \(a.layerCount) MoE layers "
                    + "(the compute a token receives). Token-choice routers give every token the same number unless "
                    + "tokens are dropped; Expert Choice gives 0, 1 or many.")
        let header = ["scope", "mean experts/token", "0", "1", "2", "3", "4+", "compute variance", "compute Gini"]
        var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
        for s in scopes(a) {
            let h = s.heterogeneity
            let total = max(1, h.expertsPerTokenHistogram.reduce(0, +))
            t.append([s.scope, ReportFormat.withInterval(h.meanExpertsPerToken, s.uncertainty?.meanExpertsPerToken)]
                     + h.expertsPerTokenHistogram.map { ReportFormat.percent(Double($0) / Double(total), 1) }
                     + [ReportFormat.number(h.computePerToken.variance), ReportFormat.number(h.computePerToken.gini)])
        }
        b.table(t)
        let histogram = a.overall.heterogeneity.computePerToken.histogram
        b.chart("compute-per-token", alt: "Histogram of compute per token", svg: HistogramChart(
            title: "Expert evaluations per token, summed over layers", binLabels: histogram.indices.map(String.init),
            counts: histogram.map(Double.init), xLabel: "experts processing the token (all layers)", yLabel: "tokens").svg())
        var ht = MarkdownTable(["experts (all layers)", "tokens", "share"], alignments: [.right, .right, .right])
        let total = max(1, histogram.reduce(0, +))
        for (k, n) in histogram.enumerated() where n > 0 {
            ht.append([String(k), ReportFormat.count(n), ReportFormat.percent(Double(n) / Double(total), 2)])
        }
        b.table(ht)
        let h = a.overall.heterogeneity
        if let byClass = h.meanComputeByClass, let kw = h.kruskalWallis, kw.p != nil {
            let names = classNames
            b.paragraph("Mean compute per token by class; Kruskal–Wallis H = \(ReportFormat.number(kw.h, 1)) "
                        + "with \(kw.degreesOfFreedom) degrees of freedom, p \(ReportFormat.pClause(kw.p)).")
            var ct = MarkdownTable(["class", "tokens", "mean experts (all layers)"], alignments: [.left, .right, .right])
            for (i, m) in byClass.enumerated() {
                ct.append([i < names.count ? names[i] : String(i),
                           h.classTokenCounts.map { ReportFormat.count($0[i]) } ?? "n/a", ReportFormat.number(m)])
            }
            b.table(ct)
        }
    }

    /// Agreement of top-1 assignments between consecutive epochs, and dependence between layers.
    func stabilitySection(_ b: inout ReportBuilder) {
        b.heading(2, "Stability")
        if stability.isEmpty {
            if let note = missingStabilityNote { b.paragraph(note) }
        } else {
            b.paragraph("Share of test tokens whose top-1 expert is the same in both epochs' traces, and Cohen's κ "
                        + "(agreement corrected for chance).")
            let layers = stability[0].agreement.layers.count
            let header = ["epochs"] + (0..<layers).map { "layer \($0)" } + ["all layers", "κ (all layers)"]
            var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
            for s in stability {
                t.append(["\(s.fromEpoch) → \(s.toEpoch)"] + s.agreement.layers.map { ReportFormat.percent($0.agreement, 1) }
                         + [ReportFormat.percent(s.agreement.overall.agreement, 1), ReportFormat.number(s.agreement.overall.cohensKappa)])
            }
            b.table(t)
            if stability.count >= 2 {
                b.chart("stability", alt: "Top-1 agreement between consecutive epochs", svg: LineChart(
                    title: "Top-1 agreement with the previous epoch", xLabel: "epoch", yLabel: "agreement",
                    series: [ChartSeries(name: "all layers", x: stability.map { Double($0.toEpoch) },
                                         y: stability.map { $0.agreement.overall.agreement ?? .nan })]).svg())
            }
        }
        if !saturation.isEmpty {
            b.paragraph("Router saturation (OLMoE, Muennighoff et al. 2024, §5): how far each earlier epoch's routing "
                        + "already is the last one's, on the same test tokens — per layer the mean over tokens of "
                        + "|S_epoch ∩ S_last| / |S_last|, S a token's experts (docs/statistics.md). Random routing with the "
                        + "same number of experts per token would reach the baseline.")
            let blocks = saturation[0].layers.map(\.layer)
            let header = ["epoch"] + blocks.map { "layer \($0)" } + ["all layers", "random baseline"]
            var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
            for s in saturation {
                t.append([s.checkpoint] + s.layers.map { ReportFormat.number($0.saturation) }
                         + [ReportFormat.number(s.saturation), ReportFormat.number(s.baseline)])
            }
            b.table(t)
        }
        if let transitions = analysis?.layerTransitions, !transitions.isEmpty {
            let chi = !(analysis?.tokensAreClustered ?? false)
            b.paragraph("Dependence between consecutive layers' top-1 experts in the last trace (MI Miller–Madow "
                        + "corrected; permutation p shuffles the later layer over \(analysis?.resampling.unit ?? "tokens")"
                        + (chi ? "; χ² p assumes independent tokens" : "") + "):")
            let header = ["layers", "tokens", "MI (bits)", "NMI", "Cramér's V"] + (chi ? ["χ² p"] : []) + ["permutation p"]
            var t = MarkdownTable(header, alignments: [.left] + header.dropFirst().map { _ in .right })
            for x in transitions {
                t.append(["\(x.fromLayer) → \(x.toLayer)", ReportFormat.count(x.tokens),
                          ReportFormat.number(x.mutualInformationCorrectedBits ?? x.mutualInformationBits),
                          ReportFormat.number(x.normalizedMutualInformation), ReportFormat.number(x.cramersV)]
                         + (chi ? [ReportFormat.p(x.chi2P)] : [])
                         + [ReportFormat.p(x.mutualInformationPermutationP)
                            + (x.permutationUnits.map { " (\(ReportFormat.count($0)) random units)" } ?? "")])
            }
            b.table(t)
        }
    }
}
