import CZlib
import Foundation

/// Why a PNG could not be decoded.
enum PNGError: Error, Equatable {
    case notPNG
    case truncated
    case badCRC(chunk: String)
    case unsupported(String)
    case inflateFailed(code: Int32)
    case badFilter(UInt8)
}

/// A decoded 8-bit RGB or RGBA PNG, enough to look at what rsvg-convert drew.
///
/// Decoding follows the PNG specification: the chunks are read and their CRCs checked,
/// the IDAT chunks are joined and inflated with zlib, and each scanline's filter (None,
/// Sub, Up, Average, Paeth) is undone. Interlaced images, palettes, grey and 16-bit
/// samples are not supported.
struct PNGImage {
    let width: Int
    let height: Int
    /// 3 (RGB) or 4 (RGBA).
    let channels: Int
    /// The samples, row by row, `channels` bytes a pixel.
    let samples: [UInt8]

    /// The red, green and blue samples of pixel (`x`, `y`), packed as 0xRRGGBB.
    func rgb(_ x: Int, _ y: Int) -> UInt32 {
        let i = (y * width + x) * channels
        return UInt32(samples[i]) << 16 | UInt32(samples[i + 1]) << 8 | UInt32(samples[i + 2])
    }

    /// The alpha of pixel (`x`, `y`) (255 for RGB images).
    func alpha(_ x: Int, _ y: Int) -> UInt8 {
        channels == 4 ? samples[(y * width + x) * channels + 3] : 255
    }

    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// Decodes the PNG file `data`.
    init(data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count >= 8, Array(bytes[0..<8]) == Self.signature else { throw PNGError.notPNG }
        var offset = 8, header: [UInt8] = [], compressed: [UInt8] = []
        while true {
            guard offset + 12 <= bytes.count else { throw PNGError.truncated }
            let length = Int(Self.bigEndian(bytes, offset))
            guard length <= bytes.count - offset - 12 else { throw PNGError.truncated }
            let typeAndData = Array(bytes[(offset + 4)..<(offset + 8 + length)])
            let type = String(decoding: typeAndData[0..<4], as: UTF8.self)
            let crc = typeAndData.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            guard crc == Self.bigEndian(bytes, offset + 8 + length) else { throw PNGError.badCRC(chunk: type) }
            let body = typeAndData[4...]
            offset += 12 + length
            if type == "IHDR" { header = Array(body) } else if type == "IDAT" { compressed += body }
            if type == "IEND" { break }
        }
        guard header.count == 13 else { throw PNGError.unsupported("missing IHDR") }
        width = Int(Self.bigEndian(header, 0))
        height = Int(Self.bigEndian(header, 4))
        guard header[8] == 8 else { throw PNGError.unsupported("bit depth \(header[8])") }
        switch header[9] {
        case 2: channels = 3
        case 6: channels = 4
        default: throw PNGError.unsupported("colour type \(header[9])")
        }
        guard header[12] == 0 else { throw PNGError.unsupported("interlaced") }
        let filtered = try Self.inflate(compressed, size: height * (1 + width * channels))
        samples = try Self.unfilter(filtered, width: width, height: height, bytesPerPixel: channels)
    }

    /// `data` inflated with zlib's `uncompress`, which must give exactly `size` bytes.
    static func inflate(_ data: [UInt8], size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var outLength = uLongf(size)
        let code = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { uncompress(o.baseAddress, &outLength, $0.baseAddress, uLong($0.count)) }
        }
        guard code == Z_OK else { throw PNGError.inflateFailed(code: code) }
        guard Int(outLength) == size else { throw PNGError.truncated }
        return out
    }

    /// The samples of `height` filtered scanlines, each a filter-type byte then the row.
    static func unfilter(_ data: [UInt8], width: Int, height: Int, bytesPerPixel bpp: Int) throws -> [UInt8] {
        let stride = width * bpp
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = data[y * (stride + 1)], source = y * (stride + 1) + 1, row = y * stride
            for i in 0..<stride {
                let x = data[source + i]
                let a = i >= bpp ? out[row + i - bpp] : 0
                let b = y > 0 ? out[row - stride + i] : 0
                let c = i >= bpp && y > 0 ? out[row - stride + i - bpp] : 0
                switch filter {
                case 0: out[row + i] = x
                case 1: out[row + i] = x &+ a
                case 2: out[row + i] = x &+ b
                case 3: out[row + i] = x &+ UInt8((Int(a) + Int(b)) / 2)
                case 4: out[row + i] = x &+ paeth(a, b, c)
                default: throw PNGError.badFilter(filter)
                }
            }
        }
        return out
    }

    /// The Paeth predictor: whichever of left, up and upper-left is nearest to left + up − upper-left.
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
    }

    private static func bigEndian(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
