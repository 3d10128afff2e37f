import SwitchyardCharts
import SwitchyardTraining

extension RunReport {
    /// Loss, accuracy, auxiliary loss and load CV over training, each a chart with its numbers.
    func trainingSection(_ b: inout ReportBuilder) {
        b.heading(2, "Training curves")
        let steps = run.steps
        let x = steps.map { Double($0.step) }
        if steps.isEmpty {
            b.paragraph("metrics.jsonl holds no step records.")
        } else {
            b.chart("loss", alt: "Training loss over steps", svg: LineChart(
                title: "Training loss", xLabel: "step", yLabel: "loss",
                series: [ChartSeries(name: "loss (with auxiliary)", x: x, y: steps.map { Double($0.loss) }),
                         ChartSeries(name: "cross-entropy", x: x, y: steps.map { Double($0.crossEntropy) })]).svg())
            let hasAuxiliary = steps.contains { $0.auxiliaryLoss != 0 }
            if hasAuxiliary {
                // Each named term (balance, z, …) summed over layers, when the run logged them.
                let terms = Set(steps.flatMap { ($0.auxiliaryTerms ?? []).flatMap(\.keys) }).sorted()
                let termSeries = terms.map { name in
                    ChartSeries(name: name, x: x, y: steps.map { s in Double((s.auxiliaryTerms ?? []).reduce(0) { $0 + ($1[name] ?? 0) }) })
                }
                b.chart("auxiliary-loss", alt: "Auxiliary loss over steps", svg: LineChart(
                    title: "Routers' auxiliary loss (summed over layers)", xLabel: "step", yLabel: "auxiliary loss",
                    series: [ChartSeries(name: "auxiliary loss", x: x, y: steps.map { Double($0.auxiliaryLoss) })] + termSeries).svg())
            }
            // Scalars routers report (a bias's range, a λ), per layer.
            let scalars = Set(steps.flatMap { ($0.routerScalars ?? []).flatMap(\.keys) }).sorted()
            if !scalars.isEmpty {
                let layerCount = steps.map { $0.routerScalars?.count ?? 0 }.max() ?? 0
                b.chart("router-scalars", alt: "Router scalars over steps", svg: LineChart(
                    title: "Router state and scalars per MoE layer", xLabel: "step", yLabel: "value",
                    series: scalars.flatMap { name in
                        (0..<layerCount).map { l in
                            ChartSeries(name: "\(name) layer \(l)", x: x, y: steps.map { s in
                                Double((s.routerScalars ?? []).indices.contains(l) ? s.routerScalars![l][name] ?? 0 : 0) })
                        }
                    }).svg())
            }
            let layers = steps[0].loadCV.count
            if layers > 0 && run.configuration.model.experts > 1 {
                b.chart("load-cv", alt: "Load CV per layer over steps", svg: LineChart(
                    title: "Load imbalance in training batches (CV of tokens per expert)", xLabel: "step", yLabel: "CV",
                    series: (0..<layers).map { l in
                        ChartSeries(name: "MoE layer \(l)", x: x, y: steps.map { Double($0.loadCV[l]) })
                    }).svg())
            }
            let sampled = ReportFormat.sampleIndices(steps.count, count: 12)
            b.details("The curves' numbers at \(sampled.count) of \(steps.count) logged steps (all of them are in metrics.jsonl)") { d in
                var header = ["step", "epoch", "loss", "cross-entropy", "auxiliary", "learning rate", "gradient norm", "images/s"]
                header += (0..<layers).map { "CV layer \($0)" }
                header += (0..<layers).map { "dropped layer \($0)" }
                var t = MarkdownTable(header, alignments: header.map { _ in .right })
                for i in sampled {
                    let s = steps[i]
                    var row = [String(s.step), String(s.epoch), ReportFormat.number(Double(s.loss), 4),
                               ReportFormat.number(Double(s.crossEntropy), 4), ReportFormat.number(Double(s.auxiliaryLoss), 5),
                               String(format: "%.2e", Double(s.learningRate)), ReportFormat.number(Double(s.gradientNorm), 3),
                               ReportFormat.number(s.imagesPerSecond, 0)]
                    row += s.loadCV.map { ReportFormat.number(Double($0), 3) }
                    row += s.droppedTokens.map(String.init)
                    t.append(row)
                }
                d.table(t)
            }
        }
        let epochs = run.epochs
        let ex = epochs.map { Double($0.epoch) }
        b.chart("accuracy", alt: "Accuracy per epoch", svg: LineChart(
            title: "Accuracy per epoch", xLabel: "epoch", yLabel: "accuracy",
            series: [ChartSeries(name: "test", x: ex, y: epochs.map { Double($0.testAccuracy) }),
                     ChartSeries(name: "train (training mode)", x: ex, y: epochs.map { Double($0.trainAccuracy) })]).svg())
        let header = ["epoch", "steps", "train loss", "train accuracy", "test loss", "test accuracy", "train time", "images/s"]
        var t = MarkdownTable(header, alignments: header.map { _ in .right })
        for e in epochs {
            t.append([String(e.epoch), String(e.step), ReportFormat.number(Double(e.trainLoss), 4),
                      ReportFormat.percent(Double(e.trainAccuracy)), ReportFormat.number(Double(e.testLoss), 4),
                      ReportFormat.percent(Double(e.testAccuracy)), ReportFormat.duration(e.trainSeconds),
                      ReportFormat.number(e.imagesPerSecond, 0)])
        }
        b.table(t)
    }

    /// Final per-class accuracy, with every epoch's in the table.
    func classSection(_ b: inout ReportBuilder) {
        b.heading(2, "Accuracy by class")
        let names = classNames
        let last = run.epochs.last!
        b.chart("class-accuracy", alt: "Test accuracy by class", svg: BarChart(
            title: "Test accuracy by class after epoch \(last.epoch)", categories: names,
            series: [ChartSeries(name: "test accuracy", x: [], y: last.perClassAccuracy.map(Double.init))],
            yLabel: "accuracy").svg())
        let header = ["class"] + run.epochs.map { "epoch \($0.epoch)" }
        var t = MarkdownTable(header, alignments: [.left] + run.epochs.map { _ in .right })
        for (i, name) in names.enumerated() {
            t.append([name] + run.epochs.map { e in
                i < e.perClassAccuracy.count ? ReportFormat.percent(Double(e.perClassAccuracy[i])) : "n/a"
            })
        }
        b.table(t)
    }
}
