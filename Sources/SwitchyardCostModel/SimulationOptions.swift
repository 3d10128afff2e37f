import SwitchyardFileIO

/// How activations cross the network.
public enum DispatchMode: String, Codable, CaseIterable, Sendable {
    /// One row per (token, expert) assignment whose expert is on another device, as
    /// Megatron-Core's `MoEAlltoAllTokenDispatcher` sends them (the default).
    case perExpert = "per-expert"
    /// One row per (token, device) pair: a token whose experts share a remote device is sent
    /// there once and copied locally (deduplicated dispatch).
    case perDevice = "per-device"
}

/// What `switchyard simulate` is asked: the cluster, the capacity, the dispatch.
public struct SimulationOptions: Equatable, Sendable {
    /// Devices D (expert-parallel ranks), 1…``maximumDevices``.
    public var devices: Int
    /// Capacity factor cf: each expert keeps at most ⌈cf · A_g / E⌉ of a group's A_g
    /// assignments (first in token order); nil = dropless.
    public var capacityFactor: Double?
    /// How rows are counted on the network.
    public var dispatch: DispatchMode
    /// Machine and model sizes.
    public var model: ClusterModel
    /// Keep each group's per-device rows, sent and received (D numbers each) in the result.
    public var groupDetail: Bool

    /// The largest D accepted.
    public static let maximumDevices = 1024
    /// The largest D for which the D × D volume matrix is kept in the result.
    public static let volumeMatrixLimit = 256

    /// Options; ``validate()`` checks them.
    public init(devices: Int, capacityFactor: Double? = nil, dispatch: DispatchMode = .perExpert,
                model: ClusterModel = ClusterModel(), groupDetail: Bool = false) {
        self.devices = devices
        self.capacityFactor = capacityFactor
        self.dispatch = dispatch
        self.model = model
        self.groupDetail = groupDetail
    }

    /// The per-expert capacity of a group of `assignments` assignments over `experts` experts,
    /// computed as Megatron-Core's `get_capacity` does: ⌈(A / E) · cf⌉ in double precision.
    public static func capacity(assignments: Int, experts: Int, factor: Double) -> Int {
        Int((Double(assignments) / Double(experts) * factor).rounded(.up))
    }

    /// Checks every field; the error names the option.
    public func validate() throws {
        guard (1...Self.maximumDevices).contains(devices) else {
            throw InputError(location: "--devices", message: "must be in 1…\(Self.maximumDevices), got \(devices)")
        }
        if let cf = capacityFactor, !(cf.isFinite && cf > 0 && cf <= 1e6) {
            throw InputError(location: "--capacity-factor", message: "must be a finite number in (0, 10⁶], got \(cf)")
        }
        try model.validate()
    }
}
