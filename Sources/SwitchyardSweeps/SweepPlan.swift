import Foundation
import SwitchyardFileIO
import SwitchyardTraining

/// Expands a ``SweepSpec`` into its runs: every grid point × every variant × every seed, less
/// the excluded ones, each resolved and validated before anything runs.
///
/// Runs come in the spec's order (first grid axis outermost, seeds innermost). Every error
/// names the spec's line: an unknown path, a value of the wrong type or out of range, an
/// exclusion that matches no run, two runs with the same configuration.
public enum SweepPlan {
    /// The runs of `spec`, indexed from 0.
    public static func expand(_ spec: SweepSpec) throws -> [SweepRun] {
        let file = spec.file
        let base: TrainingConfiguration
        do {
            base = try ConfigurationResolver.resolve(preset: spec.preset, file: spec.config, settings: [])
        } catch let error as InputError {
            throw InputError(file: file, location: spec.config == nil ? "preset" : "config", message: error.description)
        }
        // Each setting alone first: an unknown path or a value of the wrong type names its line.
        // A router option belongs to a router and may depend on the router's other options: it is
        // checked with its variant's router and the router options given beside it, and with each
        // run's router when the grid chooses the router.
        let routerPath = "model.router", routerPrefix = "model.routerOptions."
        let gridChoosesRouter = spec.grid.contains { $0.path == routerPath }
        let variantsChooseRouter = spec.variants.contains { $0.settings.contains { $0.path == routerPath } }
        let setOptions = spec.settings.filter { $0.path.hasPrefix(routerPrefix) }
        // Router options of `set` and the grid go with whatever router each run has; alone they
        // are checked against the base's router only when nothing else chooses one.
        var checks: [(setting: SweepSpec.Setting, with: [SweepSpec.Setting])] =
            (spec.settings + spec.grid.flatMap(\.values))
                .filter { !(variantsChooseRouter && $0.path.hasPrefix(routerPrefix)) }
                .map { ($0, $0.path.hasPrefix(routerPrefix) ? setOptions : []) }
        for (settings, _) in spec.variants {
            let router = settings.last { $0.path == routerPath }.map { [$0] } ?? []
            let options = setOptions + settings.filter { $0.path.hasPrefix(routerPrefix) }
            checks += settings.map { ($0, $0.path.hasPrefix(routerPrefix) ? router + options : []) }
        }
        for (setting, others) in checks where !(gridChoosesRouter && setting.path.hasPrefix(routerPrefix)) {
            let together = others.filter { $0.path != setting.path } + [setting]
            _ = try resolve(base, together, file: file, fallbackLine: setting.line)
        }
        let gridPaths = Set(spec.grid.map(\.path))
        for (settings, _) in spec.variants {
            if let clash = settings.first(where: { gridPaths.contains($0.path) }) {
                throw InputError(file: file, location: "line \(clash.line)", message: "\(clash.path) is both a grid axis and set by a variant; give it in one place")
            }
        }
        var points: [[SweepSpec.Setting]] = [[]]
        for axis in spec.grid {
            points = points.flatMap { point in axis.values.map { point + [$0] } }
        }
        let variants = spec.variants.isEmpty ? [[]] : spec.variants.map(\.settings)
        let seeds = spec.seeds.isEmpty ? [SweepSpec.Setting(path: "seed", text: String(base.seed), line: 1)] : spec.seeds
        var used = [Bool](repeating: false, count: spec.exclusions.count)
        let baseFields = Dictionary(JSONOverrides.fields(of: base), uniquingKeysWith: { a, _ in a })
        var runs: [SweepRun] = []
        var lineOfID: [String: Int] = [:]
        for point in points {
            for variant in variants {
                for seed in seeds {
                    let own = point + variant + [seed]
                    let line = (variant.first ?? point.last ?? seed).line
                    // Exclusions first: an excluded combination need not be a valid configuration.
                    if let e = spec.exclusions.firstIndex(where: { matches($0, spec.settings + own, base: baseFields) }) {
                        used[e] = true
                        continue
                    }
                    let configuration = try resolve(base, spec.settings + own, file: file, fallbackLine: line)
                    let id = RunID.of(configuration)
                    if let first = lineOfID[id] {
                        throw InputError(file: file, location: "line \(line)", message: "\(describe(own)) gives the same configuration as a run from line \(first) (id \(id)); every run of a sweep must differ")
                    }
                    lineOfID[id] = line
                    runs.append(SweepRun(index: runs.count, id: id, settings: own.map { [$0.path, $0.text] },
                                         configuration: configuration))
                }
            }
        }
        if let unused = used.firstIndex(of: false) {
            throw InputError(file: file, location: "line \(spec.exclusions[unused].line)", message: "exclude: this entry matches no run; check its paths and values")
        }
        guard !runs.isEmpty else {
            throw InputError(file: file, message: "every run is excluded; the sweep is empty")
        }
        return runs
    }

    /// `base` with `settings` applied (router options by `model.routerOptions.NAME`), validated;
    /// an error names the line of the setting it is about.
    static func resolve(_ base: TrainingConfiguration, _ settings: [SweepSpec.Setting], file: String,
                        fallbackLine: Int) throws -> TrainingConfiguration {
        let routerPrefix = "model.routerOptions."
        do {
            var c = try JSONOverrides.apply(settings.filter { !$0.path.hasPrefix(routerPrefix) }.map { ($0.path, $0.text) },
                                            to: base, what: "configuration")
            for s in settings where s.path.hasPrefix(routerPrefix) {
                c.model.routerOptions[String(s.path.dropFirst(routerPrefix.count))] = s.text
            }
            try ConfigurationResolver.validate(c)
            return c
        } catch let error as InputError {
            // The setting the message is about: its path is the error's field, or is named in it.
            let named = settings.last { $0.path == error.location }
                ?? settings.last { error.location.map($0.path.hasPrefix) ?? false && error.location != "configuration" }
                ?? settings.last { error.message.contains("'\($0.path)'") || error.message.contains("\($0.path)=") || error.message.contains("\($0.path) =") }
            let line = named?.line ?? fallbackLine
            let field = error.location == "configuration" ? nil : error.location
            throw InputError(file: file, location: "line \(line)", message: [field, error.message].compactMap { $0 }.joined(separator: ": "))
        }
    }

    /// Whether every condition of `exclusion` holds for a run with `settings` (the last setting
    /// of a path wins; a path no setting names has the base configuration's value).
    static func matches(_ exclusion: SweepSpec.Exclusion, _ settings: [SweepSpec.Setting], base: [String: String]) -> Bool {
        exclusion.conditions.allSatisfy { condition in
            guard let actual = settings.last(where: { $0.path == condition.path })?.text ?? base[condition.path].map(RunSelection.unquote) else {
                return false
            }
            return condition.values.contains { RunSelection.same($0, actual) }
        }
    }

    private static func describe(_ settings: [SweepSpec.Setting]) -> String {
        settings.map { "\($0.path)=\($0.text)" }.joined(separator: ", ")
    }
}
