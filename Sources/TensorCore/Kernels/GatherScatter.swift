/// dst[i, :] = src[indices[i], :] for i in 0..<count (rows of `width` floats).
@inlinable
public func gatherRows(_ source: UnsafePointer<Float>, width: Int, rows indices: UnsafePointer<Int32>, count: Int,
                       into destination: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        (destination + i * width).update(from: source + Int(indices[i]) * width, count: width)
    }
}

/// dst[indices[i], :] += w[i] · src[i, :] for i in 0..<count (w = 1 when `weights` is nil).
/// Indices may repeat: contributions add up.
@inlinable
public func scatterAddRows(_ source: UnsafePointer<Float>, width: Int, rows indices: UnsafePointer<Int32>,
                           weights: UnsafePointer<Float>?, count: Int, into destination: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let d = destination + Int(indices[i]) * width, s = source + i * width
        if let weights {
            let w = weights[i]
            for j in 0..<width { d[j] += w * s[j] }
        } else {
            for j in 0..<width { d[j] += s[j] }
        }
    }
}
