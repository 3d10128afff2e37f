import CZlib
import Foundation
import XCTest

/// The PNG decoder the chart tests rely on, checked on images encoded here with every
/// scanline filter.
final class PNGDecoderTests: XCTestCase {
    /// A PNG of `samples` (`channels` per pixel), row `y` filtered with filter `y % 5`.
    private func encode(width: Int, height: Int, channels: Int, samples: [UInt8]) -> Data {
        let stride = width * channels
        var raw: [UInt8] = []
        for y in 0..<height {
            let filter = UInt8(y % 5)
            raw.append(filter)
            for i in 0..<stride {
                let x = samples[y * stride + i]
                let a = i >= channels ? samples[y * stride + i - channels] : 0
                let b = y > 0 ? samples[(y - 1) * stride + i] : 0
                let c = i >= channels && y > 0 ? samples[(y - 1) * stride + i - channels] : 0
                let prediction: [UInt8] = [0, a, b, UInt8((Int(a) + Int(b)) / 2), PNGImage.paeth(a, b, c)]
                raw.append(x &- prediction[Int(filter)])
            }
        }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(uLong(raw.count))))
        var length = uLongf(compressed.count)
        XCTAssertEqual(compress(&compressed, &length, raw, uLong(raw.count)), Z_OK)
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            let crc = UInt32(crc32(0, typed, uInt(typed.count)))
            return bigEndian(UInt32(body.count)) + typed + bigEndian(crc)
        }
        let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, channels == 4 ? 6 : 2, 0, 0, 0]
        return Data(PNGImage.signature + chunk("IHDR", header) + chunk("tEXt", Array("a\0b".utf8))
            + chunk("IDAT", Array(compressed[0..<Int(length) / 2]))
            + chunk("IDAT", Array(compressed[(Int(length) / 2)..<Int(length)])) + chunk("IEND", []))
    }

    private func bigEndian(_ v: UInt32) -> [UInt8] {
        [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) }
    }

    /// Deterministic varied samples.
    private func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + ($0 / 7) * 11 + ($0 % 5) * 101) }
    }

    func testDecodesEveryFilterTypeRGBAndRGBA() throws {
        for channels in [3, 4] {
            let (width, height) = (7, 11)
            let samples = pattern(width * height * channels)
            let image = try PNGImage(data: encode(width: width, height: height, channels: channels, samples: samples))
            XCTAssertEqual(image.width, width)
            XCTAssertEqual(image.height, height)
            XCTAssertEqual(image.channels, channels)
            XCTAssertEqual(image.samples, samples, "channels \(channels)")
        }
    }

    func testRejectsCorruptData() {
        var data = encode(width: 2, height: 2, channels: 3, samples: pattern(12))
        data[20] ^= 0xff  // inside IHDR
        XCTAssertThrowsError(try PNGImage(data: data)) { XCTAssertEqual($0 as? PNGError, .badCRC(chunk: "IHDR")) }
        XCTAssertThrowsError(try PNGImage(data: Data("GIF89a".utf8))) { XCTAssertEqual($0 as? PNGError, .notPNG) }
    }
}
