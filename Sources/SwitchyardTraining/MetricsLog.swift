import SwitchyardFileIO
import Foundation

/// An append-only JSON Lines file (one JSON object per line), flushed line by line so that
/// an interrupted run keeps every line written before the interruption.
public final class MetricsLog {
    /// The file's path.
    public let path: String
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Opens `path` for appending, creating it if needed. With `keepingSteps`, lines whose
    /// `"step"` is greater are removed first (a resumed run rewrites what came after its
    /// checkpoint).
    public init(path: String, keepingStepsUpTo lastStep: Int? = nil) throws {
        self.path = path
        if let lastStep, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                guard let data = line.data(using: .utf8),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let step = object["step"] as? Int else { return false }
                return step <= lastStep
            }
            try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: path)
        }
        if !FileManager.default.fileExists(atPath: path) {
            try AtomicFile.write("", to: path)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw InputError(file: path, message: "cannot open for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    deinit { try? handle.close() }

    /// Appends one record as a line.
    public func append<T: Encodable>(_ record: T) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    /// Reads every line of a JSON Lines file as `T`, naming the line of a bad record (one
    /// that is not JSON, not UTF-8, or not a `T`).
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: FileManager.default.fileExists(atPath: path)
                             ? "cannot read" : "no such file")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var records: [T] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do {
                records.append(try decoder.decode(T.self, from: line))
            } catch {
                throw InputError(file: path, location: "line \(i + 1)", message: "not a valid \(T.self) record")
            }
        }
        return records
    }
}
