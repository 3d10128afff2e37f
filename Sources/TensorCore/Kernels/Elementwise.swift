/// out = a + b, elementwise; `out` may alias `a` or `b`.
@inlinable
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}

/// x += y, elementwise.
@inlinable
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}

/// y += alpha · x, elementwise.
@inlinable
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += alpha * x[i] }
}

/// x *= alpha, elementwise.
@inlinable
public func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
    for i in 0..<count { x[i] *= alpha }
}

/// out = a ⊙ b, elementwise; `out` may alias `a` or `b`.
@inlinable
public func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] * b[i] }
}

/// Adds `bias` (length `width`) to every row of the rows × width matrix `x`.
@inlinable
public func addRowBias(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let row = x + r * width
        for j in 0..<width { row[j] += bias[j] }
    }
}

/// sums[j] += Σ_r x[r, j]: the gradient of a row bias.
@inlinable
public func accumulateColumnSums(_ x: UnsafePointer<Float>, rows: Int, width: Int, into sums: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = x + r * width
        for j in 0..<width { sums[j] += row[j] }
    }
}
