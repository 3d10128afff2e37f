import Foundation
import SwitchyardTraining

/// Runs that differ only by seed: one configuration's repetitions, compared as a group.
public struct RunGroup: Sendable {
    /// A short name: the router, plus the configuration fields that tell this group apart
    /// from other groups with the same router (router options and model fields by their own
    /// names, e.g. `switch (experts=8, trainingCapacityFactor=2.0)`).
    public var label: String
    /// The runs, in the order they were given.
    public var runs: [RunReport]

    /// Groups `runs` by their configuration with the seed ignored, keeping first-seen order.
    public static func grouping(_ runs: [RunReport]) -> [RunGroup] {
        var keys: [String] = []
        var members: [String: [RunReport]] = [:]
        for run in runs {
            let key = canonicalJSON(run.run.configurationIgnoringSeed)
            if members[key] == nil { keys.append(key) }
            members[key, default: []].append(run)
        }
        let flattened = keys.map { flatten(members[$0]![0].run.configurationIgnoringSeed) }
        return keys.enumerated().map { i, key in
            let router = members[key]![0].run.router
            let rivals = keys.indices.filter { $0 != i && members[keys[$0]]![0].run.router == router }
            var differing = Set<String>()
            for j in rivals {
                for (field, value) in flattened[i] where flattened[j][field] != value { differing.insert(field) }
                for field in flattened[j].keys where flattened[i][field] == nil { differing.insert(field) }
            }
            // An option the configuration leaves unset shows the value the router resolved it to
            // (the run's summary), else "default".
            let resolved = members[key]![0].run.summary?.routerOptions ?? [:]
            let details = differing.sorted().map { field -> String in
                let name = shortName(field)
                let fallback = field.hasPrefix("model.routerOptions.") ? resolved[name].map { "\($0) (default)" } : nil
                return "\(name)=\(flattened[i][field] ?? fallback ?? "default")"
            }
            return RunGroup(label: details.isEmpty ? router : "\(router) (\(details.joined(separator: ", ")))",
                            runs: members[key]!)
        }
    }

    /// A configuration path as a label shows it: `model.routerOptions.capacityFactor` →
    /// `capacityFactor`, `model.experts` → `experts`; other paths stay whole.
    static func shortName(_ path: String) -> String {
        for prefix in ["model.routerOptions.", "model."] where path.hasPrefix(prefix) {
            return String(path.dropFirst(prefix.count))
        }
        return path
    }

    private static func canonicalJSON(_ c: TrainingConfiguration) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(c)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The configuration as dotted paths → JSON text of each leaf value.
    private static func flatten(_ c: TrainingConfiguration) -> [String: String] {
        guard let data = try? JSONEncoder().encode(c),
              let object = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let dictionary = value as? [String: Any] {
                for (k, v) in dictionary { walk(v, path.isEmpty ? k : "\(path).\(k)") }
            } else if let number = value as? NSNumber {
                out[path] = number.stringValue
            } else {
                out[path] = "\(value)"
            }
        }
        walk(object, "")
        return out
    }
}
