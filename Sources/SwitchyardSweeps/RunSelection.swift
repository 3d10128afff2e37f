import Foundation
import SwitchyardFileIO

/// Which runs of a sweep a report compares: `--only PATH=V1,V2` keeps the runs whose resolved
/// configuration has one of the values at PATH (every `--only` must hold), `--skip PATH=V1,V2`
/// leaves out the runs that have one of them. One argument may hold several conditions
/// separated by spaces, which must all hold (`--skip "model.router=top-k model.routerOptions.k=2"`
/// leaves out top-k at k = 2 only), like an `exclude` entry of a spec. Paths are configuration
/// paths as in the spec (`model.router`, `model.routerOptions.trainingCapacityFactor`, `seed`);
/// values compare as numbers when both are numbers (`2` and `2.0`), else as text. A router option a run was not
/// given has the value its router resolved it to (the run's `summary.json`, once complete); any
/// other path a run's configuration lacks matches no value.
public struct RunSelection: Sendable, Equatable {
    /// One `PATH=V1,V2` condition.
    public struct Condition: Sendable, Equatable {
        public var path: String
        public var values: [String]
        /// The option it came from (`--only` or `--skip`), for messages.
        public var option: String
    }

    /// Each entry: conditions that must all hold.
    public var only: [[Condition]] = []
    public var skip: [[Condition]] = []

    /// Parses `--only`/`--skip` arguments (`PATH=V1,V2`, several separated by spaces).
    ///
    /// - Throws: an ``InputError`` naming the option and argument when it is not `PATH=VALUES`.
    public init(only: [String], skip: [String]) throws {
        func parse(_ text: String, _ option: String) throws -> Condition {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw InputError(location: option, message: "'\(text)' is not PATH=VALUE[,VALUE…] (e.g. model.router=switch,top-2)")
            }
            let path = String(text[..<equals])
            let values = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !values.contains(where: \.isEmpty) else {
                throw InputError(location: option, message: "'\(text)' has an empty value")
            }
            return Condition(path: path, values: values, option: option)
        }
        func entry(_ text: String, _ option: String) throws -> [Condition] {
            let parts = text.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !parts.isEmpty else { throw InputError(location: option, message: "an empty selection") }
            return try parts.map { try parse($0, option) }
        }
        self.only = try only.map { try entry($0, "--only") }
        self.skip = try skip.map { try entry($0, "--skip") }
    }

    /// The runs selected, in the manifest's order.
    ///
    /// - Parameter routerOptions: a run's router options as its router resolved them (empty
    ///   when not known), for the options its configuration leaves unset.
    /// - Throws: an ``InputError`` naming the option when a path is in no run's configuration,
    ///   a value matches no run (a typo would otherwise select silently), or nothing is left.
    public func apply(to runs: [SweepRun], file: String,
                      routerOptions: (SweepRun) -> [String: String] = { _ in [:] }) throws -> [SweepRun] {
        let fields = runs.map { run in
            var f = Dictionary(JSONOverrides.fields(of: run.configuration), uniquingKeysWith: { a, _ in a })
            for (name, value) in routerOptions(run) where f["model.routerOptions." + name] == nil {
                f["model.routerOptions." + name] = value
            }
            return f
        }
        for condition in (only + skip).joined() {
            let present = fields.compactMap { $0[condition.path] }
            guard !present.isEmpty else {
                throw InputError(file: file, location: condition.option, message: "no run has '\(condition.path)'; the paths are those of a run's config.json, e.g. model.router, model.routerOptions.k, seed")
            }
            if let unmatched = condition.values.first(where: { value in !present.contains { Self.same(value, Self.unquote($0)) } }) {
                throw InputError(file: file, location: condition.option, message: "no run has \(condition.path)=\(unmatched); the sweep has \(Set(present.map(Self.unquote)).sorted().joined(separator: ", "))")
            }
        }
        for (option, entries) in [("--only", only), ("--skip", skip)] {
            for entry in entries where entry.count > 1 && !fields.contains(where: { f in entry.allSatisfy { Self.holds($0, f) } }) {
                let text = entry.map { "\($0.path)=\($0.values.joined(separator: ","))" }.joined(separator: " ")
                throw InputError(file: file, location: option, message: "no run has all of '\(text)'")
            }
        }
        let kept = zip(runs, fields).filter { _, f in
            only.allSatisfy { $0.allSatisfy { Self.holds($0, f) } } && !skip.contains { $0.allSatisfy { Self.holds($0, f) } }
        }.map(\.0)
        guard !kept.isEmpty else {
            throw InputError(file: file, location: "--only/--skip", message: "no run of the sweep is left")
        }
        return kept
    }

    private static func holds(_ condition: Condition, _ fields: [String: String]) -> Bool {
        guard let actual = fields[condition.path].map(unquote) else { return false }
        return condition.values.contains { same($0, actual) }
    }

    static func unquote(_ json: String) -> String {
        if json.hasPrefix("\""), json.hasSuffix("\""), json.count >= 2,
           let s = try? JSONDecoder().decode(String.self, from: Data(json.utf8)) { return s }
        return json
    }

    /// Equal as numbers when both are numbers (1 and 1.0), else as text.
    static func same(_ a: String, _ b: String) -> Bool {
        if let x = Double(a), let y = Double(b) { return x == y }
        return a == b
    }
}
