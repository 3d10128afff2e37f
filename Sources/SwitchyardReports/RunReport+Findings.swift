import SwitchyardRoutingStatistics

extension RunReport {
    /// Sentences generated from the run's numbers: what a reader should take away.
    public func findings() -> [String] {
        var out: [String] = []
        let names = classNames
        let epochs = run.epochs
        let last = epochs.last!
        var sentence = "Test accuracy after epoch \(last.epoch) is \(ReportFormat.percent(Double(last.testAccuracy)))"
        if epochs.count > 1 {
            sentence += " (" + epochs.dropLast().map { "epoch \($0.epoch): \(ReportFormat.percent(Double($0.testAccuracy)))" }
                .joined(separator: ", ") + ")"
        }
        if let best = last.perClassAccuracy.indices.max(by: { last.perClassAccuracy[$0] < last.perClassAccuracy[$1] }),
           let worst = last.perClassAccuracy.indices.min(by: { last.perClassAccuracy[$0] < last.perClassAccuracy[$1] }) {
            let name = { (i: Int) in i < names.count ? names[i] : String(i) }
            sentence += "; the best class is \(name(best)) (\(ReportFormat.percent(Double(last.perClassAccuracy[best]), 1)))"
                + " and the worst \(name(worst)) (\(ReportFormat.percent(Double(last.perClassAccuracy[worst]), 1)))"
        }
        out.append(sentence + ".")
        if let first = run.steps.first, let final = run.steps.last, run.steps.count > 1 {
            let verb = final.crossEntropy < first.crossEntropy ? "fell" : "did not fall"
            out.append("Training cross-entropy \(verb) from \(ReportFormat.number(Double(first.crossEntropy), 3)) at step "
                       + "\(first.step) to \(ReportFormat.number(Double(final.crossEntropy), 3)) at step \(final.step).")
        }
        guard let a = analysis else { return out }
        if a.expertCount == 1 {
            out.append("Each MoE layer has a single expert, so every token takes the same path: this is the dense baseline.")
            return out + stabilityFindings()
        }
        out += loadFindings(a)
        out += affinityFindings(a, names: names)
        out += computeFindings(a, names: names)
        return out + stabilityFindings()
    }
}
