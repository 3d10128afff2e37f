import SwitchyardFileIO

/// The machine and model sizes the step-time estimate uses (docs/expert-parallel.md,
/// "The cost model").
///
/// A dispatched row is one token's activation: `hidden` elements of `bytesPerElement` bytes.
/// An expert is a two-GEMM feed-forward network `hidden → ffnHidden → hidden`, so one row
/// costs `4 · hidden · ffnHidden` FLOPs forward (two multiply-adds per weight), three times
/// that for a training step (forward and the two backward GEMMs per GEMM).
public struct ClusterModel: Codable, Equatable, Sendable {
    /// Each device's all-to-all bandwidth in GB/s (10⁹ bytes per second), each direction.
    public var linkBandwidthGBps: Double
    /// Each device's achieved expert GEMM throughput in TFLOP/s (10¹² FLOP per second).
    public var deviceTFLOPs: Double
    /// The model's hidden size: the width of the activation rows that cross the network
    /// (Megatron `--hidden-size`, Hugging Face `hidden_size`).
    public var hidden: Int
    /// The expert feed-forward network's inner size (Megatron `--moe-ffn-hidden-size`,
    /// Hugging Face `moe_intermediate_size`).
    public var ffnHidden: Int
    /// Bytes per activation element: 2 for bf16/fp16, 4 for float32.
    public var bytesPerElement: Int
    /// A training step (compute ×3, all-to-all ×2: backward repeats dispatch and combine)
    /// rather than a forward pass.
    public var training: Bool

    /// The defaults: 25 GB/s (one 200 Gb/s link per device), 100 TFLOP/s, hidden 1,024,
    /// FFN 4,096, bf16, forward pass.
    public init(linkBandwidthGBps: Double = 25, deviceTFLOPs: Double = 100, hidden: Int = 1024,
                ffnHidden: Int = 4096, bytesPerElement: Int = 2, training: Bool = false) {
        self.linkBandwidthGBps = linkBandwidthGBps
        self.deviceTFLOPs = deviceTFLOPs
        self.hidden = hidden
        self.ffnHidden = ffnHidden
        self.bytesPerElement = bytesPerElement
        self.training = training
    }

    /// Bytes of one dispatched row.
    public var rowBytes: Double { Double(hidden) * Double(bytesPerElement) }

    /// FLOPs of one row through one expert (forward, or forward and backward when training).
    public var flopsPerRow: Double { 4 * Double(hidden) * Double(ffnHidden) * (training ? 3 : 1) }

    /// All-to-all exchanges per MoE layer: dispatch and combine, twice that when training.
    public var exchangesPerLayer: Double { training ? 4 : 2 }

    /// Seconds for one device to run `rows` expert rows.
    public func computeSeconds(rows: Double) -> Double { rows * flopsPerRow / (deviceTFLOPs * 1e12) }

    /// Seconds for one exchange in which the busiest device sends or receives `rows` rows.
    public func exchangeSeconds(rows: Double) -> Double { rows * rowBytes / (linkBandwidthGBps * 1e9) }

    /// Checks every field; the error names the option.
    public func validate() throws {
        func positive(_ x: Double, _ option: String) throws {
            guard x.isFinite, x > 0 else { throw InputError(location: option, message: "must be a finite number > 0, got \(x)") }
        }
        try positive(linkBandwidthGBps, "--link-bandwidth")
        try positive(deviceTFLOPs, "--device-flops")
        for (value, option) in [(hidden, "--hidden"), (ffnHidden, "--ffn-hidden")] {
            guard (1...1 << 20).contains(value) else {
                throw InputError(location: option, message: "must be in 1…\(1 << 20), got \(value)")
            }
        }
        guard (1...16).contains(bytesPerElement) else {
            throw InputError(location: "--bytes-per-element", message: "must be in 1…16, got \(bytesPerElement)")
        }
    }
}
