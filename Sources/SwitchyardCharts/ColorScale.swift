import Foundation

/// An sRGB colour with components in 0...255.
struct RGB {
    var red: Double
    var green: Double
    var blue: Double

    /// The SVG hex form, "#rrggbb".
    var hex: String {
        let parts = [red, green, blue].map { Int(max(0, min(255, $0.rounded()))) }
        return "#" + parts.map { String(format: "%02x", $0) }.joined()
    }

    /// The WCAG relative luminance, 0 for black to 1 for white.
    var luminance: Double {
        func linear(_ c: Double) -> Double {
            let s = c / 255
            return s <= 0.03928 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    }

    /// Black or white, whichever contrasts more with this colour (for text drawn on it).
    var contrastingText: String {
        let withWhite = 1.05 / (luminance + 0.05), withBlack = (luminance + 0.05) / 0.05
        return withBlack >= withWhite ? "#000000" : "#ffffff"
    }
}

/// The viridis colour map (perceptually uniform, readable in grey and by colour-blind
/// readers), linearly interpolated between eleven of its colours.
enum Viridis {
    private static let stops: [RGB] = [
        (0x44, 0x01, 0x54), (0x48, 0x24, 0x75), (0x41, 0x44, 0x87), (0x35, 0x5f, 0x8d),
        (0x2a, 0x78, 0x8e), (0x21, 0x91, 0x8c), (0x22, 0xa8, 0x84), (0x44, 0xbf, 0x70),
        (0x7a, 0xd1, 0x51), (0xbd, 0xdf, 0x26), (0xfd, 0xe7, 0x25),
    ].map { RGB(red: Double($0.0), green: Double($0.1), blue: Double($0.2)) }

    /// The colour at `t` in 0...1 (dark purple at 0, yellow at 1; `t` is clamped).
    static func color(_ t: Double) -> RGB {
        let position = (t.isFinite ? max(0, min(1, t)) : 0) * Double(stops.count - 1)
        let index = min(stops.count - 2, Int(position))
        let w = position - Double(index)
        let a = stops[index], b = stops[index + 1]
        return RGB(red: a.red + (b.red - a.red) * w, green: a.green + (b.green - a.green) * w,
                   blue: a.blue + (b.blue - a.blue) * w)
    }
}
