import Foundation

/// Linear warm-up then cosine decay (Loshchilov & Hutter 2017, "SGDR"; Goyal et al. 2017 for
/// the warm-up): lr(s) = peak·(s+1)/W for s < W, then
/// floor + (peak − floor)·½(1 + cos(π·(s − W)/(S − W))) up to the last step S.
public struct LearningRateSchedule: Sendable, Equatable {
    /// The peak learning rate.
    public var peak: Float
    /// Warm-up steps W.
    public var warmupSteps: Int
    /// Total steps S.
    public var totalSteps: Int
    /// The rate at the end of the decay.
    public var floor: Float

    /// A schedule.
    public init(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float = 0) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.floor = floor
    }

    /// The learning rate at 0-based step `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let decaySteps = max(totalSteps - warmupSteps, 1)
        let progress = min(Float(step - warmupSteps) / Float(decaySteps), 1)
        return floor + (peak - floor) * 0.5 * (1 + cosf(Float.pi * progress))
    }
}
