import Foundation
import SwitchyardFileIO
import Yams

/// A sweep spec as written: a base configuration, settings for every run, a grid, variants,
/// seeds and exclusions, each value with the line of the spec it came from (docs/sweeps.md).
///
/// ```yaml
/// preset: tiny
/// set: {epochs: 1, data.trainLimit: 256}
/// grid:
///   model.router: [switch, expert-choice]
/// seeds: [0, 1]
/// ```
///
/// YAML and JSON (JSON is read as YAML, so its errors also name a line).
public struct SweepSpec: Sendable {
    /// One `path = value` setting and the spec line it came from.
    public struct Setting: Sendable, Equatable {
        /// A configuration path (`model.router`, `model.routerOptions.capacityFactor`, `epochs`).
        public var path: String
        /// The value as text (JSONOverrides gives it the field's type).
        public var text: String
        /// 1-based line in the spec.
        public var line: Int
    }

    /// One grid axis: a path and its values.
    public struct Axis: Sendable, Equatable {
        /// The configuration path.
        public var path: String
        /// Its values, each with its line.
        public var values: [Setting]
        /// The line of the key.
        public var line: Int
    }

    /// An exclusion: a run is left out when every path has one of the listed values.
    public struct Exclusion: Sendable, Equatable {
        /// Path → accepted values.
        public var conditions: [(path: String, values: [String])]
        /// The line of the entry.
        public var line: Int

        public static func == (a: Exclusion, b: Exclusion) -> Bool {
            a.line == b.line && a.conditions.map(\.path) == b.conditions.map(\.path)
                && a.conditions.map(\.values) == b.conditions.map(\.values)
        }
    }

    /// The spec file (for messages).
    public var file: String
    /// The preset every run starts from (nil: `fmnist-small`, or `config`).
    public var preset: String?
    /// A configuration file every run starts from, resolved against the spec's folder.
    public var config: String?
    /// Settings applied to every run.
    public var settings: [Setting] = []
    /// The grid, axes in the spec's order.
    public var grid: [Axis] = []
    /// Variants: each a list of settings; every grid point is combined with every variant.
    public var variants: [(settings: [Setting], line: Int)] = []
    /// The seeds, each with its line.
    public var seeds: [Setting] = []
    /// Exclusions.
    public var exclusions: [Exclusion] = []

    /// The keys a spec may have at its top level.
    public static let topLevelKeys = ["preset", "config", "set", "grid", "variants", "seeds", "exclude"]

    /// Reads and parses the spec at `path`.
    public static func load(path: String) throws -> SweepSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: "cannot read the sweep spec")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: path, message: "not UTF-8 text")
        }
        var spec = try parse(text, file: path)
        if let config = spec.config, !config.hasPrefix("/") {
            spec.config = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(config)
        }
        return spec
    }

    /// Parses spec text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws -> SweepSpec {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw yamlError(error, file: file)
        } catch {
            throw InputError(file: file, message: "not YAML or JSON (\(error))")
        }
        guard let root else { throw InputError(file: file, message: "the spec is empty; see docs/sweeps.md for its format") }
        let top = try mapping(root, file: file, what: "the spec")
        var spec = SweepSpec(file: file)
        for (key, value) in top {
            switch key.text {
            case "preset": spec.preset = try scalar(value, file: file, what: "preset")
            case "config": spec.config = try scalar(value, file: file, what: "config")
            case "set": spec.settings = try settings(value, file: file, what: "set")
            case "grid":
                let axes = try mapping(value, file: file, what: "grid")
                guard !axes.isEmpty else {
                    throw InputError(file: file, location: "line \(line(value))", message: "grid: the grid is empty; give at least one path with a list of values, or leave grid out")
                }
                for (path, list) in axes {
                    try checkPath(path.text, line: path.line, file: file)
                    guard case .sequence(let sequence) = list else {
                        throw InputError(file: file, location: "line \(line(list))", message: "grid.\(path.text): expected a list of values, e.g. [a, b]")
                    }
                    guard !Array(sequence).isEmpty else {
                        throw InputError(file: file, location: "line \(line(list))", message: "grid.\(path.text): the list of values is empty")
                    }
                    let values = try Array(sequence).map {
                        Setting(path: path.text, text: try scalar($0, file: file, what: "grid.\(path.text)"), line: line($0))
                    }
                    if let repeated = firstRepeat(values.map(\.text)) {
                        throw InputError(file: file, location: "line \(values[repeated].line)", message: "grid.\(path.text): '\(values[repeated].text)' is listed twice")
                    }
                    spec.grid.append(Axis(path: path.text, values: values, line: path.line))
                }
            case "variants":
                guard case .sequence(let sequence) = value, !Array(sequence).isEmpty else {
                    throw InputError(file: file, location: "line \(line(value))", message: "variants: expected a non-empty list of settings, e.g. - {model.router: top-2, model.experts: 8}")
                }
                spec.variants = try Array(sequence).map { (try settings($0, file: file, what: "variants"), line($0)) }
            case "seeds": spec.seeds = try seeds(value, file: file)
            case "exclude":
                guard case .sequence(let sequence) = value, !Array(sequence).isEmpty else {
                    throw InputError(file: file, location: "line \(line(value))", message: "exclude: expected a non-empty list of {path: value} entries")
                }
                spec.exclusions = try Array(sequence).map { entry in
                    let fields = try mapping(entry, file: file, what: "exclude")
                    guard !fields.isEmpty else {
                        throw InputError(file: file, location: "line \(line(entry))", message: "exclude: an empty entry would leave out every run")
                    }
                    let conditions = try fields.map { path, values -> (path: String, values: [String]) in
                        // An exclusion may name seeds: a configuration with fewer seeds than the rest.
                        if path.text != "seed" { try checkPath(path.text, line: path.line, file: file) }
                        if case .sequence(let list) = values {
                            return (path.text, try Array(list).map { try scalar($0, file: file, what: "exclude.\(path.text)") })
                        }
                        return (path.text, [try scalar(values, file: file, what: "exclude.\(path.text)")])
                    }
                    return Exclusion(conditions: conditions, line: line(entry))
                }
            default:
                throw InputError(file: file, location: "line \(key.line)", message: "unknown key '\(key.text)'; a spec has \(topLevelKeys.joined(separator: ", "))")
            }
        }
        if spec.preset != nil, spec.config != nil {
            throw InputError(file: file, message: "give preset or config, not both")
        }
        return spec
    }

    // MARK: Reading nodes

    private typealias Key = (text: String, line: Int)

    private static func line(_ node: Node) -> Int { node.mark?.line ?? 1 }

    private static func yamlError(_ error: YamlError, file: String) -> InputError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return InputError(file: file, location: "line \(mark.line)", message: "not valid YAML or JSON: \(problem)")
        default:
            return InputError(file: file, message: "not valid YAML or JSON: \(error)")
        }
    }

    /// A mapping's entries in order; duplicate keys are an error (YAML libraries keep either).
    private static func mapping(_ node: Node, file: String, what: String) throws -> [(Key, Node)] {
        guard case .mapping(let map) = node else {
            throw InputError(file: file, location: "line \(line(node))", message: "\(what): expected a mapping of keys to values")
        }
        var seen: [String: Int] = [:]
        return try map.map { key, value in
            let text = try scalar(key, file: file, what: "\(what) key")
            if let first = seen[text] {
                throw InputError(file: file, location: "line \(line(key))", message: "\(what): '\(text)' is given twice (first on line \(first))")
            }
            seen[text] = line(key)
            return ((text, line(key)), value)
        }
    }

    private static func scalar(_ node: Node, file: String, what: String) throws -> String {
        guard case .scalar(let s) = node else {
            throw InputError(file: file, location: "line \(line(node))", message: "\(what): expected a single value, not a list or mapping")
        }
        guard s.style != .plain || !["~", "null", "Null", "NULL", ""].contains(s.string) else {
            throw InputError(file: file, location: "line \(line(node))", message: "\(what): the value is empty (null)")
        }
        return s.string
    }

    private static func settings(_ node: Node, file: String, what: String) throws -> [Setting] {
        try mapping(node, file: file, what: what).map { key, value in
            try checkPath(key.text, line: key.line, file: file)
            return Setting(path: key.text, text: try scalar(value, file: file, what: "\(what).\(key.text)"), line: line(value))
        }
    }

    private static func checkPath(_ path: String, line: Int, file: String) throws {
        if path == "seed" {
            throw InputError(file: file, location: "line \(line)", message: "seed: give the seeds with the top-level key seeds, e.g. seeds: [0, 1, 2]")
        }
        if path.isEmpty || path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw InputError(file: file, location: "line \(line)", message: "'\(path)' is not a configuration path (e.g. model.router, optimizer.learningRate)")
        }
    }

    /// `seeds: [0, 1, 2]`, `seeds: 3` (0, 1, 2) or `seeds: {from: 10, count: 3}`.
    private static func seeds(_ node: Node, file: String) throws -> [Setting] {
        func seed(_ text: String, _ line: Int) throws -> Int {
            guard let n = Int(text), n >= 0 else {
                throw InputError(file: file, location: "line \(line)", message: "seeds: '\(text)' is not a seed (a whole number 0 or more)")
            }
            return n
        }
        var values: [Setting]
        switch node {
        case .sequence(let list):
            values = try Array(list).map {
                let text = try scalar($0, file: file, what: "seeds")
                return Setting(path: "seed", text: String(try seed(text, line($0))), line: line($0))
            }
        case .mapping:
            var from = 0, count: Int?
            for (key, value) in try mapping(node, file: file, what: "seeds") {
                let n = try seed(try scalar(value, file: file, what: "seeds.\(key.text)"), line(value))
                switch key.text {
                case "from": from = n
                case "count": count = n
                default: throw InputError(file: file, location: "line \(key.line)", message: "seeds: unknown key '\(key.text)'; expected from and count")
                }
            }
            guard let count else { throw InputError(file: file, location: "line \(line(node))", message: "seeds: count is missing") }
            values = (0..<count).map { Setting(path: "seed", text: String(from + $0), line: line(node)) }
        default:
            let count = try seed(try scalar(node, file: file, what: "seeds"), line(node))
            values = (0..<count).map { Setting(path: "seed", text: String($0), line: line(node)) }
        }
        guard !values.isEmpty else {
            throw InputError(file: file, location: "line \(line(node))", message: "seeds: no seed given")
        }
        if let repeated = firstRepeat(values.map(\.text)) {
            throw InputError(file: file, location: "line \(values[repeated].line)", message: "seeds: \(values[repeated].text) is listed twice")
        }
        return values
    }

    private static func firstRepeat(_ texts: [String]) -> Int? {
        var seen = Set<String>()
        for (i, t) in texts.enumerated() where !seen.insert(t).inserted { return i }
        return nil
    }
}
