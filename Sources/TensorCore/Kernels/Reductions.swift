/// Σ x[i], accumulated in Double.
@inlinable
public func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) }
    return Float(s)
}

/// The mean of x (0 for count 0).
@inlinable
public func mean(_ x: UnsafePointer<Float>, count: Int) -> Float {
    count == 0 ? 0 : sum(x, count: count) / Float(count)
}

/// max x[i] (−∞ for count 0).
@inlinable
public func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var m = -Float.infinity
    for i in 0..<count where x[i] > m { m = x[i] }
    return m
}

/// Σ x[i]², accumulated in Double.
@inlinable
public func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) * Double(x[i]) }
    return Float(s)
}

/// For each row of the rows × width matrix x, the column of its largest element (ties: the
/// lowest column).
@inlinable
public func argmaxRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, into indices: UnsafeMutablePointer<Int32>) {
    for r in 0..<rows {
        let row = x + r * width
        var best = 0
        for j in 1..<max(width, 1) where row[j] > row[best] { best = j }
        indices[r] = Int32(best)
    }
}

/// out[i] = a[i, :] · b[i, :] for each row i.
@inlinable
public func rowDots(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let ra = a + r * width, rb = b + r * width
        var s: Float = 0
        for j in 0..<width { s += ra[j] * rb[j] }
        out[r] = s
    }
}
