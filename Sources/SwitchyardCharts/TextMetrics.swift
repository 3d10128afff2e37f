/// Estimated text sizes (no font is measured: the estimate errs wide for Latin text in a
/// sans-serif font) and truncation to fit.
enum TextMetrics {
    /// The average advance of one character, as a fraction of the font size.
    static let characterWidth = 0.6

    /// The estimated width of `text` at `size` pixels.
    static func width(_ text: String, size: Double) -> Double {
        Double(text.count) * size * characterWidth
    }

    /// `text` cut to at most `maxCharacters` characters, ending in "…" when cut, and whether
    /// it was cut (then the full text belongs in a tooltip).
    static func truncated(_ text: String, maxCharacters: Int) -> (text: String, cut: Bool) {
        guard text.count > max(1, maxCharacters) else { return (text, false) }
        let kept = text.prefix(max(1, maxCharacters - 1))
        let trimmed = kept.last?.isWhitespace == true ? kept.dropLast() : kept
        return (String(trimmed) + "…", true)
    }

    /// `text` cut to fit `maxWidth` pixels at `size` pixels, and whether it was cut.
    static func fitted(_ text: String, maxWidth: Double, size: Double) -> (text: String, cut: Bool) {
        let fits = Int(max(0, maxWidth) / (size * characterWidth))
        return truncated(text, maxCharacters: fits)
    }
}
