import CGSL
import Foundation

/// GSL's MT19937 generator, seeded explicitly: every random draw the statistics make
/// (bootstrap resamples, label permutations, synthetic traces) comes from one of these.
///
/// MT19937 takes a 32-bit seed; the 64-bit `seed` and a `stream` label (so that, e.g.,
/// the bootstrap and the permutation test draw from independent streams and changing the
/// number of permutations leaves the bootstrap intervals unchanged) are mixed into one
/// by SplitMix64. A zero mixed seed, which GSL would replace by its default, is mapped to 1.
final class GSLRandom {
    /// The GSL generator; freed when this object is released.
    let pointer: UnsafeMutablePointer<gsl_rng>

    /// A generator fixed by `seed` and `stream`.
    init(seed: UInt64, stream: UInt64) {
        _ = GSLErrorHandling.installed
        pointer = gsl_rng_alloc(gsl_rng_mt19937)
        var z = seed &+ stream &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let seed32 = UInt((z ^ (z >> 32)) & 0xFFFF_FFFF)
        gsl_rng_set(pointer, seed32 == 0 ? 1 : seed32)
    }

    deinit { gsl_rng_free(pointer) }

    /// Uniform on `0..<n`, `1 ≤ n ≤ 2³²`.
    @inline(__always)
    func uniformInt(_ n: Int) -> Int { Int(gsl_rng_uniform_int(pointer, UInt(n))) }

    /// Uniform on [0, 1).
    @inline(__always)
    func uniform() -> Double { gsl_rng_uniform(pointer) }

    /// Uniform on (0, 1).
    @inline(__always)
    func uniformPositive() -> Double { gsl_rng_uniform_pos(pointer) }

    /// A normal draw with standard deviation `sigma` (GSL's ziggurat method).
    @inline(__always)
    func gaussian(_ sigma: Double = 1) -> Double { gsl_ran_gaussian_ziggurat(pointer, sigma) }

    /// The number of "good" items in a sample of `sample` drawn without replacement from
    /// `good + bad` items. Small cases use GSL's `gsl_ran_hypergeometric` (exact, by
    /// sequential draws, cost O(min(sample, total − sample))); larger ones the ratio-of-
    /// uniforms algorithm HRUA (Stadlober 1989, "Sampling from Poisson, binomial and
    /// hypergeometric distributions: ratio of uniforms as a simple and fast alternative";
    /// the variant of NumPy's `random_hypergeometric_hrua`) whose cost does not grow with
    /// the sample, with GSL's `gsl_sf_lnfact` for the log-factorials.
    func hypergeometric(good: Int, bad: Int, sample: Int) -> Int {
        let total = good + bad
        if sample <= 0 || good == 0 { return 0 }
        if bad == 0 { return sample }
        if sample >= total { return good }
        if sample < 10 || sample > total - 10 {
            return Int(gsl_ran_hypergeometric(pointer, UInt32(good), UInt32(bad), UInt32(sample)))
        }
        return hrua(good: good, bad: bad, sample: sample)
    }

    private func hrua(good: Int, bad: Int, sample: Int) -> Int {
        let d1 = 1.7155277699214135, d2 = 0.8989161620588988
        let popsize = good + bad
        let computedSample = min(sample, popsize - sample)
        let minGoodBad = min(good, bad), maxGoodBad = max(good, bad)
        let p = Double(minGoodBad) / Double(popsize)
        let q = Double(maxGoodBad) / Double(popsize)
        let mu = Double(computedSample) * p
        let a = mu + 0.5
        let variance = Double(popsize - computedSample) * Double(computedSample) * p * q / Double(popsize - 1)
        let c = (variance + 0.5).squareRoot()
        let h = d1 * c + d2
        let m = Int((Double(computedSample + 1) * Double(minGoodBad + 1) / Double(popsize + 2)).rounded(.down))
        func lf(_ n: Int) -> Double { gsl_sf_lnfact(UInt32(n)) }
        let g = lf(m) + lf(minGoodBad - m) + lf(computedSample - m) + lf(maxGoodBad - computedSample + m)
        let b = min(Double(min(computedSample, minGoodBad) + 1), (a + 16 * c).rounded(.down))
        var k = 0
        while true {
            let u = uniform()
            let v = uniform()
            let x = a + h * (v - 0.5) / u
            if x < 0 || x >= b || !x.isFinite { continue }
            k = Int(x.rounded(.down))
            let gp = lf(k) + lf(minGoodBad - k) + lf(computedSample - k) + lf(maxGoodBad - computedSample + k)
            let t = g - gp
            if u * (4 - u) - 3 <= t { break }
            if u * (u - t) >= 1 { continue }
            if 2 * log(u) <= t { break }
        }
        if good > bad { k = computedSample - k }
        if computedSample < sample { k = good - k }
        return k
    }
}
