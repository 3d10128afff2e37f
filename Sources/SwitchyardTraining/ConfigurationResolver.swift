import SwitchyardFileIO
import Foundation
import SwitchyardRouting
import SwitchyardVisionTransformer

/// Builds a run's configuration from a preset (or a saved `config.json`) and command-line
/// settings, and validates it before any work starts.
public enum ConfigurationResolver {
    /// The configuration of preset `preset` (or of the JSON file at `file`) with `settings`
    /// (`path=value`, e.g. `model.width=128`, `epochs=1`) applied, validated, router options
    /// included.
    ///
    /// Every problem is an `InputError`. A configuration file must be valid by itself, before
    /// `settings` apply: its errors name the file and the field (`config.json: model.width:
    /// 0 is not allowed; …`); errors in `settings` name the field.
    public static func resolve(preset: String?, file: String?, settings: [(path: String, text: String)])
        throws -> TrainingConfiguration {
        var configuration: TrainingConfiguration
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw InputError(file: file, message: "cannot read the configuration file")
            }
            do {
                configuration = try JSONDecoder().decode(TrainingConfiguration.self, from: data)
            } catch {
                throw InputError(file: file, message: "not a Switchyard training configuration (\(describe(error)))")
            }
            do {
                try validate(configuration)
            } catch let error as InputError where error.file == nil {
                throw InputError(file: file, location: error.location, message: error.message)
            }
        } else {
            let name = preset ?? "fmnist-small"
            guard let base = Presets.named(name) else {
                throw InputError(location: "--preset", message: "no preset named '\(name)'; presets: \(Presets.all.map(\.name).joined(separator: ", "))")
            }
            configuration = base
        }
        configuration = try JSONOverrides.apply(settings, to: configuration, what: "configuration")
        try validate(configuration)
        return configuration
    }

    /// Validates every field, the router's name and its options; throws an `InputError`
    /// naming the field (`model.router`, `model.routerOptions.capacityFactor`, …).
    public static func validate(_ configuration: TrainingConfiguration) throws {
        try configuration.validate()
        do {
            _ = try RouterRegistry.shared.resolvedOptions(name: configuration.model.router,
                                                          options: configuration.model.effectiveRouterOptions(),
                                                          expertCount: configuration.model.experts)
        } catch let error as RouterConfigurationError {
            let field = error.field == "name" ? "model.router"
                : error.field.contains(",") ? "model.routerOptions" : "model.routerOptions.\(error.field)"
            throw InputError(location: field, message: error.description)
        }
    }

    static func describe(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context):
            return "missing field \((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))"
        case .typeMismatch(let type, let context):
            return "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) must be \(type)"
        case .valueNotFound(_, let context):
            return "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) is null"
        case .dataCorrupted(let context):
            return context.debugDescription
        default:
            return "\(error)"
        }
    }
}
