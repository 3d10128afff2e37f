import SwitchyardFileIO
import Foundation

/// The `meta.json` that `exporters/hf_routing_export.py` writes beside its arrays
/// (docs/llm-traces.md): what the arrays mean, read by ``RoutingTraceNPY`` so that an
/// imported trace keeps the model's block numbers and knows it holds sequences of token ids.
/// Every field is optional; a field that is present must agree with the arrays.
///
/// | field | effect |
/// |---|---|
/// | `format` | must be `switchyard-hf-routing-export/1` |
/// | `blocks` | the layers' block numbers (one per layer, increasing, ≥ 0) instead of 0…L−1 |
/// | `experts` | the expert count when none is given (``NPYTraceSource``); must equal the arrays' |
/// | `tokens` | must equal the arrays' token count |
/// | `labels` | `"token ids"`: labels are token ids, the trace holds sequences |
/// | `groups` | `"sequence index"`: routing groups are sequences |
/// | `shared_experts` | `{count, gated}`: always-on experts outside the routed ones |
/// | `domain_names` | the names of the domains of `domains.npy`, index = domain |
/// | `model`, `architecture`, `model_type`, `convention` | provenance, kept in the metadata |
public struct ExportMetadata: Equatable, Sendable {
    /// The exporter format this reader knows.
    public static let format = "switchyard-hf-routing-export/1"

    public var blocks: [Int]?
    public var experts: Int?
    public var tokens: Int?
    public var labelsAreTokenIDs = false
    public var groupsAreSequences = false
    public var sharedExperts: Int?
    public var sharedExpertsGated: Bool?
    /// Names of the domains of `domains.npy`.
    public var domainNames: [String]?
    /// Provenance fields, by name.
    public var provenance: [String: String] = [:]

    /// Reads `path`; errors name the file, the field and the value.
    public static func read(_ path: String) throws -> ExportMetadata {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw InputError(file: path, message: "cannot be read: \(error.localizedDescription)")
        }
        guard data.count <= 1 << 20 else {
            throw InputError(file: path, message: "\(data.count) bytes; an export's meta.json is a few hundred")
        }
        return try parse(data, file: path)
    }

    /// The fields as the exporter writes them; other fields are ignored.
    private struct Fields: Decodable {
        struct Shared: Decodable {
            var count: Int
            var gated: Bool?
        }
        var format: String?
        var blocks: [Int]?
        var experts: Int?
        var tokens: Int?
        var labels: String?
        var groups: String?
        var shared_experts: Shared?
        var domain_names: [String]?
        var model: String?
        var architecture: String?
        var model_type: String?
        var convention: String?
    }

    /// Parses the bytes of a meta.json; `file` names it in errors.
    public static func parse(_ data: Data, file: String) throws -> ExportMetadata {
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            throw InputError(file: file, location: fieldName(context.codingPath), message: "is not \(typeName(type))")
        } catch let DecodingError.valueNotFound(type, context) {
            throw InputError(file: file, location: fieldName(context.codingPath), message: "is null; expected \(typeName(type))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw InputError(file: file, location: fieldName(context.codingPath + [key]), message: "is missing")
        } catch {
            throw InputError(file: file, message: "is not a JSON object of an export's fields")
        }
        func fail(_ field: String, _ message: String) -> InputError {
            InputError(file: file, location: "field '\(field)'", message: message)
        }
        var result = ExportMetadata()
        if let format = fields.format, format != Self.format {
            throw fail("format", "'\(format)' is not '\(Self.format)', the format this reader knows")
        }
        if let blocks = fields.blocks {
            guard !blocks.isEmpty else { throw fail("blocks", "is empty; expected one block number per layer") }
            if let bad = blocks.first(where: { $0 < 0 || $0 > Int(Int32.max) }) {
                throw fail("blocks", "\(bad) is not a block number in 0…\(Int32.max)")
            }
            if let i = blocks.indices.dropFirst().first(where: { blocks[$0] <= blocks[$0 - 1] }) {
                throw fail("blocks", "block \(blocks[i]) after block \(blocks[i - 1]); block numbers must increase")
            }
            result.blocks = blocks
        }
        if let experts = fields.experts {
            guard experts >= 1 else { throw fail("experts", "\(experts) is not an expert count ≥ 1") }
            result.experts = experts
        }
        if let tokens = fields.tokens {
            guard tokens >= 1 else { throw fail("tokens", "\(tokens) is not a token count ≥ 1") }
            result.tokens = tokens
        }
        result.labelsAreTokenIDs = fields.labels == "token ids"
        result.groupsAreSequences = fields.groups == "sequence index"
        if let shared = fields.shared_experts {
            guard shared.count >= 0 else { throw fail("shared_experts.count", "\(shared.count) is negative") }
            result.sharedExperts = shared.count
            result.sharedExpertsGated = shared.gated
        }
        result.domainNames = fields.domain_names
        let provenance: [(String, String?)] = [("model", fields.model), ("architecture", fields.architecture),
                                               ("model_type", fields.model_type), ("convention", fields.convention)]
        for (name, value) in provenance { if let value { result.provenance[name] = value } }
        return result
    }

    private static func fieldName(_ path: [CodingKey]) -> String {
        path.isEmpty ? "the top level" : "field '" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "'"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [Int].Type: return "a list of integers"
        case is [String].Type: return "a list of strings"
        default: return "a JSON object of the exporter's fields"
        }
    }

    /// Applies the metadata to `trace` read from the arrays beside `file`: block numbers,
    /// the trace kind and provenance in `metadata`; a count that disagrees is an error.
    public func apply(to trace: inout RoutingTrace, file: String) throws {
        try check(layerCount: trace.layers.count, expertCount: trace.expertCount, tokenCount: trace.tokenCount,
                  domainCount: trace.domains.map { Int($0.max() ?? -1) + 1 }, file: file)
        annotate(&trace)
    }

    /// Checks the fields against the arrays' counts (`domainCount` nil: no domains.npy).
    public func check(layerCount: Int, expertCount: Int, tokenCount: Int, domainCount: Int?, file: String) throws {
        if let blocks, blocks.count != layerCount {
            throw InputError(file: file, location: "field 'blocks'",
                             message: "\(blocks.count) block numbers for the \(layerCount) layers of experts.npy")
        }
        if let experts, experts != expertCount {
            throw InputError(file: file, location: "field 'experts'",
                             message: "\(experts) experts, but the arrays have \(expertCount)")
        }
        if let tokens, tokens != tokenCount {
            throw InputError(file: file, location: "field 'tokens'",
                             message: "\(tokens) tokens, but the arrays have \(tokenCount)")
        }
        if let domainNames {
            guard let count = domainCount else {
                throw InputError(file: file, location: "field 'domain_names'", message: "names domains, but there is no domains.npy")
            }
            guard domainNames.count >= count else {
                throw InputError(file: file, location: "field 'domain_names'",
                                 message: "\(domainNames.count) names for the domains 0…\(count - 1) of domains.npy")
            }
        }
    }

    /// Block numbers, kind, shared experts, domain names and provenance, on a trace (or a
    /// range of its tokens) whose counts ``check(layerCount:expertCount:tokenCount:domainCount:file:)`` accepted.
    public func annotate(_ trace: inout RoutingTrace) {
        if let blocks { for (l, block) in blocks.enumerated() { trace.layers[l].layer = block } }
        if labelsAreTokenIDs || groupsAreSequences { trace.metadata[RoutingTrace.kindKey] = RoutingTrace.Kind.sequences.rawValue }
        if labelsAreTokenIDs { trace.metadata["labelKind"] = "token ids" }
        if let sharedExperts, sharedExperts > 0 {
            trace.metadata["sharedExperts"] = "\(sharedExperts)" + (sharedExpertsGated == true ? " (gated)" : "")
            trace.metadata[RoutingTrace.sharedExpertCountKey] = String(sharedExperts)
            trace.metadata[RoutingTrace.sharedExpertGateKey] = sharedExpertsGated == true ? "sigmoid" : "none"
        }
        if let domainNames { trace.domainNames = domainNames }
        for (field, value) in provenance { trace.metadata[field] = value }
    }
}
