import Foundation

/// A seeded pseudo-random generator, passed explicitly to everything that draws.
///
/// The generator is xoshiro256** (Blackman and Vigna, 2018), seeded by expanding a
/// 64-bit seed with SplitMix64, so one seed fixes the whole stream on every machine.
/// Switchyard never uses the system generator: a run's randomness comes only from
/// generators created from its `--seed`, which makes runs reproducible.
///
/// Draws:
/// - ``nextFloat()``: uniform on [0, 1) with 24 random bits.
/// - ``nextDouble()``: uniform on [0, 1) with 53 random bits.
/// - ``nextInt(below:)``: uniform on 0..<n, without modulo bias (Lemire's method).
/// - ``nextGaussian()``: standard normal, by the Box–Muller transform.
/// - ``permutation(_:)``: a uniformly random permutation (Fisher–Yates).
///
/// ```swift
/// var rng = SeededRNG(seed: 42)
/// let u = rng.nextFloat()
/// let order = rng.permutation(60_000)
/// ```
public struct SeededRNG: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareGaussian: Float?

    /// A generator whose whole stream is fixed by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// An independent generator derived from this one's seed and a stream label, so
    /// that (for example) each layer or each data loader gets its own stream.
    public static func derived(seed: UInt64, stream: UInt64) -> SeededRNG {
        SeededRNG(seed: seed &* 0x2545_F491_4F6C_DD1D ^ (stream &+ 0x632B_E59B_D9B4_E019))
    }

    /// The generator's complete state (four 64-bit words and a cached Gaussian), for
    /// checkpoints: a generator restored with ``init(state:)`` continues the same stream.
    public var state: [UInt64] {
        [s0, s1, s2, s3, spareGaussian.map { UInt64($0.bitPattern) | (1 << 32) } ?? 0]
    }

    /// A generator that continues the stream whose ``state`` was saved; nil if `state` is
    /// not five words or is the all-zero state xoshiro cannot leave.
    public init?(state: [UInt64]) {
        guard state.count == 5, state[0] | state[1] | state[2] | state[3] != 0 else { return nil }
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
        spareGaussian = state[4] & (1 << 32) != 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: state[4])) : nil
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform on [0, 1).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform on [0, 1) with double precision.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform on `0..<n`; `n` must be positive.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:) needs a positive bound, got \(n)")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// A standard normal draw (mean 0, variance 1).
    public mutating func nextGaussian() -> Float {
        if let spare = spareGaussian {
            spareGaussian = nil
            return spare
        }
        // Box–Muller on (0, 1] × [0, 1).
        let u1 = 1.0 - nextDouble()
        let u2 = nextDouble()
        let r = (-2.0 * log(u1)).squareRoot()
        let angle = 2.0 * Double.pi * u2
        spareGaussian = Float(r * sin(angle))
        return Float(r * cos(angle))
    }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<n)
        shuffle(&order)
        return order
    }

    /// Shuffles `values` in place, uniformly (Fisher–Yates).
    public mutating func shuffle<T>(_ values: inout [T]) {
        var i = values.count - 1
        while i > 0 {
            let j = nextInt(below: i + 1)
            values.swapAt(i, j)
            i -= 1
        }
    }

    /// Fills `count` floats at `destination` with N(mean, std²) draws.
    public mutating func fillGaussian(_ destination: UnsafeMutablePointer<Float>, count: Int,
                                      mean: Float = 0, std: Float = 1) {
        for i in 0..<count { destination[i] = mean + std * nextGaussian() }
    }

    /// Fills `count` floats at `destination` with draws uniform on [low, high).
    public mutating func fillUniform(_ destination: UnsafeMutablePointer<Float>, count: Int,
                                     low: Float = 0, high: Float = 1) {
        for i in 0..<count { destination[i] = low + (high - low) * nextFloat() }
    }
}
