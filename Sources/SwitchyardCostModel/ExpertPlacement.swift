import SwitchyardTraces

/// Which device holds each expert, per MoE layer.
public struct ExpertPlacement: Equatable, Sendable {
    /// How the placement was made.
    public enum Kind: String, Codable, Sendable {
        /// Device r holds experts `⌊r·E/D⌋ ..< ⌊(r+1)·E/D⌋` (Megatron's layout when D divides E).
        case contiguous
        /// ``PlacementOptimizer``'s placement for the trace.
        case balanced
        /// Read from a file (``PlacementFile``).
        case file
    }

    /// The number of devices.
    public var deviceCount: Int
    /// Experts per layer.
    public var expertCount: Int
    /// `devices[i][e]`: the device of expert e in the trace's i-th layer (list index, not block number).
    public var devices: [[Int]]
    /// How it was made.
    public var kind: Kind

    /// A placement from per-layer device lists.
    public init(deviceCount: Int, expertCount: Int, devices: [[Int]], kind: Kind) {
        self.deviceCount = deviceCount
        self.expertCount = expertCount
        self.devices = devices
        self.kind = kind
    }

    /// The device of expert e under contiguous placement. When D divides E every device holds
    /// E/D experts; otherwise the ranges' sizes differ by one (⌊E/D⌋ or ⌈E/D⌉ experts); with
    /// D > E, D − E devices hold no expert.
    @inlinable
    public static func contiguousDevice(expert: Int, experts: Int, devices: Int) -> Int {
        ((expert + 1) * devices - 1) / experts
    }

    /// Contiguous placement of `experts` experts on `devices` devices, the same in `layers` layers.
    public static func contiguous(experts: Int, devices: Int, layers: Int) -> ExpertPlacement {
        let row = (0..<experts).map { contiguousDevice(expert: $0, experts: experts, devices: devices) }
        return ExpertPlacement(deviceCount: devices, expertCount: experts,
                               devices: Array(repeating: row, count: layers), kind: .contiguous)
    }

    /// Number of experts each device holds in layer `i`.
    public func expertsPerDevice(layer i: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: deviceCount)
        for d in devices[i] { counts[d] += 1 }
        return counts
    }
}
