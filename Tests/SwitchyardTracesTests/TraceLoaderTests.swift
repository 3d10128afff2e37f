import SwitchyardTestSupport
import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class TraceLoaderTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(name) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func testDispatchOnFileKinds() throws {
        let trace = sampleTrace(optional: true)
        try RoutingTraceFile.write(trace, to: path("a.sytrace"))
        try RoutingTraceFile.write(trace, to: path("a.sytrace.gz"))
        try RoutingTraceFile.write(trace, to: path("no-extension"))
        XCTAssertEqual(try TraceLoader.load(path("a.sytrace")), trace)
        XCTAssertEqual(try TraceLoader.load(path("a.sytrace.gz")), trace)
        XCTAssertEqual(try TraceLoader.load(path("no-extension")), trace)

        let plain = sampleTrace(optional: false)
        try RoutingTraceCSV.write(plain, to: path("a.csv"))
        try RoutingTraceCSV.write(plain, to: path("A.CSV.GZ"))
        for name in ["a.csv", "A.CSV.GZ"] {
            var loaded = try TraceLoader.load(path(name), expertCount: 4)
            XCTAssertEqual(loaded.metadata["sourceFormat"], "csv")
            loaded.metadata = [:]
            XCTAssertEqual(loaded, plain)
        }

        let npyDirectory = path("npy")
        try FileManager.default.createDirectory(atPath: npyDirectory, withIntermediateDirectories: true)
        try put(npy([Int32(1), 0], shape: [2, 1], descr: "<i4"), npyDirectory, "experts.npy")
        let fromNPY = try TraceLoader.load(npyDirectory)
        XCTAssertEqual(fromNPY.layers[0].experts, [1, 0])
        XCTAssertEqual(fromNPY.metadata["sourceFormat"], "npy")
    }

    func testRunDirectoryLoadsTheLatestEpoch() throws {
        let run = path("run")
        var trace = sampleTrace(optional: false)
        for epoch in [1, 2, 10] {
            trace.metadata = ["epoch": "\(epoch)"]
            try RoutingTraceFile.write(trace, to: (run as NSString).appendingPathComponent("traces/epoch-\(epoch).sytrace"))
        }
        try put(Array("notes".utf8), (run as NSString).appendingPathComponent("traces"), "README.txt")
        try put(Array("x".utf8), (run as NSString).appendingPathComponent("traces"), "epoch-x.sytrace")
        let list = try TraceLoader.traces(inRunDirectory: run)
        XCTAssertEqual(list.map(\.epoch), [1, 2, 10])
        XCTAssertEqual(list.map { ($0.path as NSString).lastPathComponent },
                       ["epoch-1.sytrace", "epoch-2.sytrace", "epoch-10.sytrace"])
        XCTAssertEqual(try TraceLoader.load(run).metadata["epoch"], "10")

        try RoutingTraceFile.write(trace, to: (run as NSString).appendingPathComponent("traces/epoch-2.sytrace.gz"))
        assertInputError(try TraceLoader.traces(inRunDirectory: run),
                         file: (run as NSString).appendingPathComponent("traces/epoch-2.sytrace.gz"),
                         message: "epoch 2 also has epoch-2.sytrace")
    }

    func testUnusablePathsGiveClearErrors() throws {
        assertInputError(try TraceLoader.load(path("missing.sytrace")), file: path("missing.sytrace"),
                         message: "no such file or directory")
        assertInputError(try TraceLoader.load(directory), file: directory, message: "neither experts.npy nor traces/")
        try FileManager.default.createDirectory(atPath: path("run/traces"), withIntermediateDirectories: true)
        assertInputError(try TraceLoader.load(path("run")), file: path("run/traces"), message: "no epoch-N.sytrace")
        assertInputError(try TraceLoader.traces(inRunDirectory: directory), file: directory, message: "no traces/ folder")
        try put(Array("hello".utf8), directory, "notes.txt")
        assertInputError(try TraceLoader.load(path("notes.txt")), file: path("notes.txt"), message: "unrecognised")
        try put(npy([Int32(1)], shape: [1, 1], descr: "<i4"), directory, "experts.npy")
        assertInputError(try TraceLoader.load(path("experts.npy")), file: path("experts.npy"),
                         message: "give the directory holding experts.npy")
        try put(Array("garbage".utf8), directory, "bad.sytrace")
        assertInputError(try TraceLoader.load(path("bad.sytrace")), file: path("bad.sytrace"), location: "byte 0")
    }
}
