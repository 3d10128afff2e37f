import SwitchyardRouting
import SwitchyardTensorCore

/// The data movement of a soft plan (``SoftDispatch``, Soft MoE): slot inputs X̃_g = D_gᵀ·X_g and
/// outputs Y_g = C_g·Ỹ_g per routing group g, forward and backward, all dense GEMMs.
///
/// The experts' slot rows are **expert-major**: with G groups, E experts and p slots per expert
/// (S = E·p slots per group), expert e's rows are `e·G·p ..< (e+1)·G·p`, group g's p slots of
/// expert e at `e·G·p + g·p`. So each expert runs one GEMM pair over all its slots of all groups.
/// The per-group GEMMs read and write **group-major** rows (group g's S slots at `g·S`, in slot
/// order); with one group the two orders coincide and no copy is made, otherwise `scratch`
/// (G·S rows) holds the group-major copy and ``regroup(_:width:soft:toExpertMajor:into:)`` moves
/// blocks of p rows between the orders.
///
/// ```swift
/// MoESoftDataMovement.dispatch(x, width: d, soft: soft, scratch: s, into: slots)        // X̃ = Dᵀ·X
/// // … expert e: slotOutput rows e·G·p ..< (e+1)·G·p = FFN_e(slots rows …) …
/// MoESoftDataMovement.combine(slotOutput, width: d, soft: soft, scratch: s, into: y)     // Y = C·Ỹ
/// MoESoftDataMovement.combineBackward(dOutput: dy, slotOutput: slotOutput, width: d, soft: soft,
///                                     scratch: s, dSlotOutput: dOut)                     // dC, dỸ = Cᵀ·dY
/// // … experts' backward: dSlots from dOut …
/// MoESoftDataMovement.dispatchBackward(dSlots, input: x, width: d, soft: soft, scratch: s,
///                                      into: dx)                                          // dD, dX = D·dX̃
/// ```
///
/// `combine` leaves Ỹ group-major in `scratch`, which `combineBackward` reads: nothing may write
/// `scratch` between the two.
public enum MoESoftDataMovement {
    /// The experts' slot rows of `soft`: G·S.
    public static func slotRows(_ soft: SoftDispatch) -> Int { soft.groups.count * soft.slotCount }

    /// Whether the group-major and expert-major orders differ (more than one group), i.e.
    /// whether `scratch` is used; it must then hold ``slotRows(_:)`` rows of `width`.
    public static func needsScratch(_ soft: SoftDispatch) -> Bool { soft.groups.count > 1 }

    /// Copies the slot rows between the group-major and the expert-major order.
    public static func regroup(_ source: UnsafePointer<Float>, width: Int, soft: SoftDispatch, toExpertMajor: Bool,
                               into destination: UnsafeMutablePointer<Float>) {
        let groups = soft.groups.count, p = soft.slotsPerExpert, s = soft.slotCount, block = p * width
        for e in 0..<soft.expertCount {
            for g in 0..<groups {
                let groupMajor = (g * s + e * p) * width, expertMajor = (e * groups * p + g * p) * width
                if toExpertMajor {
                    (destination + expertMajor).update(from: source + groupMajor, count: block)
                } else {
                    (destination + groupMajor).update(from: source + expertMajor, count: block)
                }
            }
        }
    }

    /// X̃_g = D_gᵀ·X_g for every group, into `slots` (expert-major, ``slotRows(_:)`` × width).
    public static func dispatch(_ x: UnsafePointer<Float>, width d: Int, soft: SoftDispatch,
                                scratch: UnsafeMutablePointer<Float>?, into slots: UnsafeMutablePointer<Float>) {
        let s = soft.slotCount, regrouped = needsScratch(soft)
        let target = regrouped ? scratch! : slots
        for (g, r) in soft.groups.enumerated() {
            gemm(.transposed, .none, m: s, n: d, k: r.count, a: soft.dispatch.pointer + r.lowerBound * s, lda: s,
                 b: x + r.lowerBound * d, ldb: d, c: target + g * s * d, ldc: d)
        }
        if regrouped { regroup(target, width: d, soft: soft, toExpertMajor: true, into: slots) }
    }

    /// Y_g = C_g·Ỹ_g for every group into `y` (n × width, overwritten); `slotOutput` is Ỹ
    /// expert-major. Leaves Ỹ group-major in `scratch` for ``combineBackward``.
    public static func combine(_ slotOutput: UnsafePointer<Float>, width d: Int, soft: SoftDispatch,
                               scratch: UnsafeMutablePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        let s = soft.slotCount
        let byGroup = groupMajor(slotOutput, width: d, soft: soft, scratch: scratch)
        for (g, r) in soft.groups.enumerated() {
            gemm(.none, .none, m: r.count, n: d, k: s, a: soft.combine.pointer + r.lowerBound * s, lda: s,
                 b: byGroup + g * s * d, ldb: d, c: y + r.lowerBound * d, ldc: d)
        }
    }

    /// dL/dC_g = dY_g·Ỹ_gᵀ into `soft.dCombine`, and dL/dỸ_g = C_gᵀ·dY_g into `dSlotOutput`
    /// (expert-major). `slotOutput` is Ỹ expert-major as passed to ``combine``.
    public static func combineBackward(dOutput dy: UnsafePointer<Float>, slotOutput: UnsafePointer<Float>, width d: Int,
                                       soft: SoftDispatch, scratch: UnsafeMutablePointer<Float>?,
                                       dSlotOutput: UnsafeMutablePointer<Float>) {
        let s = soft.slotCount, regrouped = needsScratch(soft)
        let byGroup = regrouped ? UnsafePointer(scratch!) : slotOutput   // Ỹ group-major, left by combine
        for (g, r) in soft.groups.enumerated() {
            gemm(.none, .transposed, m: r.count, n: s, k: d, a: dy + r.lowerBound * d, lda: d,
                 b: byGroup + g * s * d, ldb: d, c: soft.dCombine.pointer + r.lowerBound * s, ldc: s)
        }
        // Ỹ group-major is no longer needed: dỸ group-major may overwrite it.
        let target = regrouped ? scratch! : dSlotOutput
        for (g, r) in soft.groups.enumerated() {
            gemm(.transposed, .none, m: s, n: d, k: r.count, a: soft.combine.pointer + r.lowerBound * s, lda: s,
                 b: dy + r.lowerBound * d, ldb: d, c: target + g * s * d, ldc: d)
        }
        if regrouped { regroup(target, width: d, soft: soft, toExpertMajor: true, into: dSlotOutput) }
    }

    /// dL/dX_g = D_g·dX̃_g into `dx` (n × width, overwritten) and dL/dD_g = X_g·dX̃_gᵀ into
    /// `soft.dDispatch`; `dSlots` is dL/dX̃ expert-major.
    public static func dispatchBackward(_ dSlots: UnsafePointer<Float>, input x: UnsafePointer<Float>, width d: Int,
                                        soft: SoftDispatch, scratch: UnsafeMutablePointer<Float>?,
                                        into dx: UnsafeMutablePointer<Float>) {
        let s = soft.slotCount
        let byGroup = groupMajor(dSlots, width: d, soft: soft, scratch: scratch)
        for (g, r) in soft.groups.enumerated() {
            gemm(.none, .none, m: r.count, n: d, k: s, a: soft.dispatch.pointer + r.lowerBound * s, lda: s,
                 b: byGroup + g * s * d, ldb: d, c: dx + r.lowerBound * d, ldc: d)
            gemm(.none, .transposed, m: r.count, n: s, k: d, a: x + r.lowerBound * d, lda: d,
                 b: byGroup + g * s * d, ldb: d, c: soft.dDispatch.pointer + r.lowerBound * s, ldc: s)
        }
    }

    /// `expertMajor` in group-major order: itself with one group, else copied into `scratch`.
    private static func groupMajor(_ expertMajor: UnsafePointer<Float>, width: Int, soft: SoftDispatch,
                                   scratch: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        guard needsScratch(soft) else { return expertMajor }
        regroup(expertMajor, width: width, soft: soft, toExpertMajor: false, into: scratch!)
        return UnsafePointer(scratch!)
    }
}
