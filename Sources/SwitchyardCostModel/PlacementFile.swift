import Foundation
import SwitchyardFileIO
import SwitchyardTraces

/// Expert placements in files, for `simulate --placement FILE` and `--save-placement FILE`.
///
/// JSON, either one list for every layer (index = expert, value = device):
///
/// ```json
/// [0, 0, 1, 1, 2, 2, 3, 3]
/// ```
///
/// or one list per layer, as `--save-placement` writes it (`devices` optional; when present
/// it must equal `--devices`):
///
/// ```json
/// {"devices": 4, "layers": [{"layer": 1, "devices": [0, 0, 1, 1, 2, 2, 3, 3]}, …]}
/// ```
///
/// CSV with a header `expert,device` (every layer) or `layer,expert,device`, one row per
/// expert (per layer). Every expert must appear exactly once per layer, every device be in
/// `0..<D`, every layer of the trace be covered; errors name the file and the entry.
public enum PlacementFile {
    /// Reads the placement in `path` for `trace` on `devices` devices.
    public static func read(_ path: String, trace: RoutingTrace, devices: Int) throws -> ExpertPlacement {
        let bytes = try GzipFile.read(path)
        let first = bytes.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF) }
        let rows: [[Int]]
        if path.lowercased().hasSuffix(".json") || first == UInt8(ascii: "[") || first == UInt8(ascii: "{") {
            rows = try parseJSON(Data(bytes), file: path, trace: trace, devices: devices)
        } else {
            rows = try parseCSV(String(decoding: bytes, as: UTF8.self), file: path, trace: trace, devices: devices)
        }
        return ExpertPlacement(deviceCount: devices, expertCount: trace.expertCount, devices: rows, kind: .file)
    }

    /// The per-layer JSON form of `placement` for `trace`'s layers.
    public static func json(_ placement: ExpertPlacement, trace: RoutingTrace) -> Data {
        let layers = zip(trace.layers, placement.devices).map { layer, row in
            "    {\"layer\": \(layer.layer), \"devices\": [" + row.map(String.init).joined(separator: ", ") + "]}"
        }
        return Data(("{\n  \"devices\": \(placement.deviceCount),\n  \"experts\": \(placement.expertCount),\n"
                     + "  \"placement\": \"\(placement.kind.rawValue)\",\n  \"layers\": [\n"
                     + layers.joined(separator: ",\n") + "\n  ]\n}\n").utf8)
    }

    static func layerList(_ trace: RoutingTrace) -> String { trace.layers.map { String($0.layer) }.joined(separator: ", ") }

    /// One layer's device list from a JSON array, checked.
    static func deviceRow(_ value: Any, file: String, place: String, trace: RoutingTrace, devices: Int) throws -> [Int] {
        let location = place.isEmpty ? nil : place
        guard let list = value as? [Any] else {
            throw InputError(file: file, location: location, message: "expected a list of \(trace.expertCount) device numbers (index = expert)")
        }
        guard list.count == trace.expertCount else {
            throw InputError(file: file, location: location, message: "has \(list.count) entries; the trace has \(trace.expertCount) experts "
                             + "(one device per expert, index = expert)")
        }
        return try list.enumerated().map { e, item in
            // JSON's true and false arrive as NSNumbers of type "c".
            guard let n = item as? NSNumber, String(cString: n.objCType) != "c", let d = Int(exactly: n.doubleValue) else {
                throw InputError(file: file, location: "\(place)[\(e)]", message: "expert \(e): expected an integer device number, got \(describe(item))")
            }
            guard (0..<devices).contains(d) else {
                throw InputError(file: file, location: "\(place)[\(e)]", message: "expert \(e): device \(d) is outside 0..<\(devices) (--devices \(devices))")
            }
            return d
        }
    }

    static func describe(_ item: Any) -> String {
        guard let n = item as? NSNumber else { return item is String ? "\"\(item)\"" : "\(item)" }
        return String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : n.stringValue
    }

    static func parseJSON(_ data: Data, file: String, trace: RoutingTrace, devices: Int) throws -> [[Int]] {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw InputError(file: file, message: "not valid JSON (\(error.localizedDescription))")
        }
        if root is [Any] {
            let row = try deviceRow(root, file: file, place: "", trace: trace, devices: devices)
            return Array(repeating: row, count: trace.layers.count)
        }
        guard let object = root as? [String: Any], let layers = object["layers"] as? [Any] else {
            throw InputError(file: file, message: "expected a list of devices (index = expert) or an object with \"layers\": "
                             + "[{\"layer\": N, \"devices\": [...]}, ...]")
        }
        if let given = object["devices"] {
            guard let n = given as? NSNumber, n.doubleValue == Double(devices) else {
                throw InputError(file: file, location: "devices", message: "the file is for \(given) devices, --devices is \(devices)")
            }
        }
        var byLayer: [Int: [Int]] = [:]
        for (i, entry) in layers.enumerated() {
            guard let entry = entry as? [String: Any], let number = entry["layer"] as? NSNumber,
                  let layer = Int(exactly: number.doubleValue), let row = entry["devices"] else {
                throw InputError(file: file, location: "layers[\(i)]", message: "expected {\"layer\": N, \"devices\": [...]}")
            }
            guard trace.layers.contains(where: { $0.layer == layer }) else {
                throw InputError(file: file, location: "layers[\(i)].layer", message: "\(layer) is not a layer of the trace (layers \(layerList(trace)))")
            }
            guard byLayer[layer] == nil else {
                throw InputError(file: file, location: "layers[\(i)].layer", message: "layer \(layer) is given twice")
            }
            byLayer[layer] = try deviceRow(row, file: file, place: "layers[\(i)].devices", trace: trace, devices: devices)
        }
        return try trace.layers.map { layer in
            guard let row = byLayer[layer.layer] else {
                throw InputError(file: file, location: "layers", message: "no placement for layer \(layer.layer) (the trace has layers \(layerList(trace)))")
            }
            return row
        }
    }

    static func parseCSV(_ text: String, file: String, trace: RoutingTrace, devices: Int) throws -> [[Int]] {
        // "\r\n" is one Character, so this splits both line endings.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = first.dropFirst() }
        guard let headerIndex = lines.firstIndex(where: { !$0.allSatisfy(\.isWhitespace) }) else {
            throw InputError(file: file, message: "empty file: expected a header expert,device (or layer,expert,device) and one row per expert")
        }
        let header = lines[headerIndex].split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard Set(header).count == header.count, Set(header).isSubset(of: ["layer", "expert", "device"]),
              header.contains("expert"), header.contains("device") else {
            throw InputError(file: file, location: "line \(headerIndex + 1)",
                             message: "header \(header.joined(separator: ",")): expected expert,device or layer,expert,device")
        }
        let column = { (name: String) in header.firstIndex(of: name) }
        let E = trace.expertCount
        let layerIndex = Dictionary(uniqueKeysWithValues: trace.layers.enumerated().map { ($1.layer, $0) })
        let slots = column("layer") == nil ? 1 : trace.layers.count
        var rows = [[Int]](repeating: [Int](repeating: -1, count: E), count: slots)
        var firstLine = [[Int]](repeating: [Int](repeating: 0, count: E), count: slots)
        for n in (headerIndex + 1)..<lines.count where !lines[n].allSatisfy(\.isWhitespace) {
            let place = "line \(n + 1)"
            let cells = lines[n].split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw InputError(file: file, location: place, message: "\(cells.count) fields, the header has \(header.count)")
            }
            func integer(_ name: String) throws -> Int {
                let cell = cells[column(name)!]
                guard let v = Int(cell) else { throw InputError(file: file, location: "\(place), column \(name)", message: "expected an integer, got '\(cell)'") }
                return v
            }
            var slot = 0
            var layerName = ""
            if column("layer") != nil {
                let layer = try integer("layer")
                guard let i = layerIndex[layer] else {
                    throw InputError(file: file, location: "\(place), column layer", message: "\(layer) is not a layer of the trace (layers \(layerList(trace)))")
                }
                slot = i
                layerName = " of layer \(layer)"
            }
            let expert = try integer("expert"), device = try integer("device")
            guard (0..<E).contains(expert) else {
                throw InputError(file: file, location: "\(place), column expert", message: "expert \(expert) is outside 0..<\(E) (the trace's expert count)")
            }
            guard (0..<devices).contains(device) else {
                throw InputError(file: file, location: "\(place), column device", message: "device \(device) is outside 0..<\(devices) (--devices \(devices))")
            }
            guard rows[slot][expert] < 0 else {
                throw InputError(file: file, location: place, message: "expert \(expert)\(layerName) is given twice (first on line \(firstLine[slot][expert]))")
            }
            rows[slot][expert] = device
            firstLine[slot][expert] = n + 1
        }
        for (slot, row) in rows.enumerated() {
            if let missing = row.firstIndex(of: -1) {
                let layer = slots == 1 ? "" : " of layer \(trace.layers[slot].layer)"
                throw InputError(file: file, message: "expert \(missing)\(layer) has no row (every expert exactly once\(slots == 1 ? "" : " per layer"))")
            }
        }
        return slots == 1 ? Array(repeating: rows[0], count: trace.layers.count) : rows
    }
}
