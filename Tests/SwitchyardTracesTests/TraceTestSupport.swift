import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

/// Numbers the temporary directories of one test process.
private var temporaryDirectoryCounter = 0

/// A fresh empty directory under the system's temporary folder, removed by the caller.
func makeTemporaryDirectory(_ name: String = #function) throws -> String {
    temporaryDirectoryCounter += 1
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = (NSTemporaryDirectory() as NSString)
        .appendingPathComponent("switchyard-traces-\(safe)-\(getpid())-\(temporaryDirectoryCounter)")
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small hand-made trace: 5 tokens, 4 experts, two MoE layers (blocks 1 and 3).
/// Token 2 is dropped in layer 1; token 4 has three experts in layer 3 (Expert Choice
/// style). With `optional`, layer 1 carries every optional array and a capacity, and the
/// trace has labels, positions and class names.
func sampleTrace(optional: Bool) -> RoutingTrace {
    let p: [Float] = [
        0.70, 0.10, 0.15, 0.05,
        0.05, 0.60, 0.25, 0.10,
        0.25, 0.25, 0.25, 0.25,
        0.10, 0.20, 0.30, 0.40,
        0.00, 0.00, 1.00, 0.00,
    ]
    var first = LayerRouting(layer: 1, offsets: [0, 1, 2, 2, 3, 4], experts: [0, 1, 3, 2], weights: [0.7, 0.6, 0.4, 1.0])
    if optional {
        first.probabilities = p
        first.topProbability = [0.70, 0.60, 0.25, 0.40, 1.00]
        first.routerEntropy = (0..<5).map { t in
            Float(-(0..<4).reduce(0.0) { acc, e in
                let q = Double(p[t * 4 + e]); return q > 0 ? acc + q * log(q) : acc
            })
        }
        first.preferredExpert = [0, 1, 0, 3, 2]
        first.capacity = 2
    }
    let second = LayerRouting(layer: 3, offsets: [0, 2, 4, 5, 6, 9], experts: [2, 0, 1, 3, 3, 0, 1, 2, 3],
                              weights: [0.5, 0.5, 0.9, 0.1, 1, 1, 0.25, 0.25, 0.5])
    return RoutingTrace(
        expertCount: 4, tokenCount: 5,
        labels: optional ? [2, 0, -1, 1, 2] : nil, positions: optional ? [0, 1, 2, 3, 4] : nil,
        classCount: optional ? 3 : 0, classNames: optional ? ["cat", "dog", "ship"] : [],
        layers: [first, second], routingGroups: optional ? [3, 2] : nil,
        metadata: optional ? ["router": "switch", "epoch": "3"] : [:])
}

/// Asserts that `body` throws an `InputError` whose file is `file` and whose
/// location and message contain the given fragments; returns the error.
@discardableResult
func assertInputError<T>(_ body: @autoclosure () throws -> T, file expectedFile: String?,
                         location: String? = nil, message: String? = nil,
                         file sourceFile: StaticString = #filePath, line: UInt = #line) -> InputError? {
    do {
        _ = try body()
        XCTFail("expected an InputError, got a result", file: sourceFile, line: line)
        return nil
    } catch let error as InputError {
        XCTAssertEqual(error.file, expectedFile, "wrong file in: \(error)", file: sourceFile, line: line)
        if let location {
            XCTAssertTrue((error.location ?? "").contains(location),
                          "location should contain '\(location)': \(error)", file: sourceFile, line: line)
        }
        if let message {
            XCTAssertTrue(error.message.contains(message),
                          "message should contain '\(message)': \(error)", file: sourceFile, line: line)
        }
        return error
    } catch {
        XCTFail("expected an InputError, got \(error)", file: sourceFile, line: line)
        return nil
    }
}

