import SwitchyardRoutingStatistics

/// Domain `i`'s name, else "domain i".
func domainName(_ d: DomainSpecialisation, _ i: Int) -> String {
    d.names.flatMap { i < $0.count ? $0[i] : nil } ?? "domain \(i)"
}

extension RoutingReport {
    /// The statistics language-model routing papers report (docs/statistics.md, "Neighbouring
    /// tokens and co-activated experts"): neighbour agreement, expert co-activation, vocabulary
    /// and domain specialisation, each against its random-routing baseline (and, but for
    /// co-activation, its permutation null).
    /// Nothing when the analysis has none of them.
    func sequenceSection(_ b: inout ReportBuilder, _ a: TraceAnalysis) {
        let neighbours = a.neighbourAgreement ?? [], coActivation = a.coActivation ?? []
        let vocabulary = (a.vocabularySpecialisation ?? []).filter { $0.ids > 0 }, domains = a.domainSpecialisation ?? []
        guard !(neighbours.isEmpty && coActivation.isEmpty && vocabulary.isEmpty && domains.isEmpty) else { return }
        b.heading(2, "Neighbours, co-activation, vocabulary and domains")
        if !neighbours.isEmpty {
            b.paragraph("Neighbour agreement (Mixtral, Jiang et al. 2024, §5): the share of neighbouring tokens (\(neighbours[0].neighbours)) "
                        + "with the same first expert, against chance (Σ_e f_e², f_e the first-expert shares: independent tokens) and a "
                        + "permutation null that shuffles first experts within each unit; p is one-sided.")
            var t = MarkdownTable(["layer", "pairs", "agreement", "chance", "shuffled", "p", "units tested"],
                                  alignments: [.left] + Array(repeating: .right, count: 6))
            for n in neighbours {
                t.append(["\(n.layer)", ReportFormat.count(n.pairs), ReportFormat.number(n.agreement), ReportFormat.number(n.chance),
                          ReportFormat.number(n.permutationMean), ReportFormat.p(n.permutationP),
                          n.permutationUnits.map { "\($0) of \(n.units)" } ?? "\(n.units)"])
            }
            b.table(t)
        }
        if !coActivation.isEmpty {
            b.paragraph("Expert co-activation (OLMoE, Muennighoff et al. 2024, §5): the share of expert i's tokens that expert j "
                        + "also takes, over (k − 1)/(E − 1), what uniformly random partners would give (1 = as random); "
                        + "descriptive, over experts with at least 10 tokens.")
            var t = MarkdownTable(["layer", "tokens", "largest ratio", "pair", "smallest ratio", "pair"],
                                  alignments: [.left] + Array(repeating: .right, count: 5))
            for c in coActivation {
                t.append(["\(c.layer)", ReportFormat.count(c.tokens), ReportFormat.number(c.maxRatio),
                          c.maxPair.map(String.init).joined(separator: "–"), ReportFormat.number(c.minRatio),
                          c.minPair.map(String.init).joined(separator: "–")])
            }
            b.table(t)
        }
        if !vocabulary.isEmpty {
            b.paragraph("Vocabulary specialisation (OLMoE §5): over token ids seen at least "
                        + "\(VocabularySpecialisation.minimumOccurrences) times, the mean share of an id's occurrences routed "
                        + "to its most frequent first expert, against first experts shuffled within \(vocabulary[0].units).")
            var t = MarkdownTable(["layer", "ids", "specialisation", "shuffled", "p"],
                                  alignments: [.left] + Array(repeating: .right, count: 4))
            for v in vocabulary {
                t.append(["\(v.layer)", ReportFormat.count(v.ids), ReportFormat.number(v.specialisation),
                          ReportFormat.number(v.permutationMean), ReportFormat.p(v.permutationP)])
            }
            b.table(t)
        }
        if !domains.isEmpty {
            b.paragraph("Domain specialisation (Mixtral §5, OLMoE §5): for each domain, the expert whose share of the domain's "
                        + "tokens most exceeds its share of all tokens (lift 1 = routed like the rest; uniform routing "
                        + "gives every expert \(ReportFormat.percent(domains[0].chance, 1)) of a domain's tokens), and the "
                        + "mutual information of domain and expert with its permutation p (domains permuted over "
                        + "\(domains[0].units)).")
            var t = MarkdownTable(["layer", "domain", "tokens", "expert", "its share", "overall share", "lift", "MI (bits)", "p"],
                                  alignments: [.left, .left] + Array(repeating: .right, count: 7))
            for d in domains {
                let shown = d.tokens.indices.filter { d.tokens[$0] > 0 }
                for i in shown {
                    let expert = d.liftExpert[i], first = i == shown.first
                    t.append(["\(d.layer)", domainName(d, i), ReportFormat.count(d.tokens[i]),
                              expert.map(String.init) ?? "–", ReportFormat.percent(expert.map { d.share[i][$0] }, 1),
                              ReportFormat.percent(expert.map { d.overallShare[$0] }, 1), ReportFormat.number(d.lift[i]),
                              first ? ReportFormat.number(d.mutualInformationBits) : "",
                              first ? ReportFormat.p(d.permutationP) + (d.permutationUnits.map { " (\($0) random \(d.units))" } ?? "") : ""])
                }
            }
            b.table(t)
        }
    }
}
