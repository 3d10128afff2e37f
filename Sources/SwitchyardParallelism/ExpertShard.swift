import SwitchyardFileIO

/// Which experts of an MoE layer a rank owns under expert parallelism: of E experts over P
/// ranks, rank r owns the contiguous block r·E/P ..< (r+1)·E/P (Megatron-Core's and
/// GShard's placement). P must divide E.
public struct ExpertShard: Sendable, Equatable {
    /// The rank r.
    public let rank: Int
    /// The ranks P.
    public let ranks: Int
    /// The experts E of the layer.
    public let experts: Int

    /// The shard of rank `rank` of `ranks`; throws when P does not divide E.
    public init(rank: Int, ranks: Int, experts: Int) throws {
        guard ranks >= 1, experts >= 1, experts % ranks == 0 else {
            throw InputError(location: "model.experts", message: "\(experts) experts cannot be shared evenly by \(ranks) processes: "
                             + "expert parallelism needs a process count that divides model.experts (\(ExpertShard.divisors(of: experts).map(String.init).joined(separator: ", ")))")
        }
        precondition((0..<ranks).contains(rank), "rank \(rank) of \(ranks)")
        self.rank = rank
        self.ranks = ranks
        self.experts = experts
    }

    /// Experts per rank E/P.
    public var perRank: Int { experts / ranks }
    /// The experts rank `r` owns.
    public func experts(ofRank r: Int) -> Range<Int> { r * perRank ..< (r + 1) * perRank }
    /// The experts this rank owns.
    public var owned: Range<Int> { experts(ofRank: rank) }
    /// The rank that owns expert `e`.
    public func owner(ofExpert e: Int) -> Int { e / perRank }

    /// The numbers that divide `n`, ascending.
    public static func divisors(of n: Int) -> [Int] { (1...max(n, 1)).filter { n % $0 == 0 } }
}

