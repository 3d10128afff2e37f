import XCTest
@testable import SwitchyardTensorCore

final class TensorTests: XCTestCase {
    func testShapeCountAndRowMajorIndexing() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.count, 6)
        XCTAssertEqual(x[1, 2], 6)
        XCTAssertEqual(x[0, 1], 2)
        XCTAssertEqual(x.flatIndex([1, 0]), 3)
        x[1, 1] = 50
        XCTAssertEqual(x.pointer[4], 50)
    }

    func testStorageIsAlignedAndZeroed() {
        for n in [1, 3, 17, 1000] {
            let t = Tensor(shape: [n])
            XCTAssertEqual(Int(bitPattern: t.pointer) % 64, 0)
            XCTAssertTrue(t.array.allSatisfy { $0 == 0 })
        }
        XCTAssertEqual(Tensor(shape: []).count, 1)
        XCTAssertEqual(Tensor(shape: [0, 5]).count, 0)
    }

    func testCopyIsIndependentAndReshapeKeepsOrder() {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let y = x.copy()
        y[0, 0] = 9
        XCTAssertEqual(x[0, 0], 1)
        let r = x.reshaped([4, 1])
        XCTAssertEqual(r.array, [1, 2, 3, 4])
        XCTAssertEqual(r.shape, [4, 1])
    }
}
