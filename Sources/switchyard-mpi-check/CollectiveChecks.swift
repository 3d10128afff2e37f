import Foundation
import SwitchyardMPI
import SwitchyardParallelism

/// Every collective of a Communicator on rank-dependent data with exact expected values.
struct CollectiveChecks {
    let comm: any Communicator
    var me: Int { comm.rank }
    var p: Int { comm.size }
    private var failed = 0

    init(_ comm: any Communicator) { self.comm = comm }

    /// Runs every check; the number of checks that failed on some rank (the same on all ranks).
    mutating func run() -> Int {
        check("ranks 0 ..< \(p) each know their rank", ranks())
        check("allGather Float, 3 values per rank", allGatherFloat())
        check("allGather Int64 beyond 32 bits, negative values", allGatherInt64())
        check("allGather Double, values no Float holds", allGatherDouble())
        check("allGather of 0 values leaves the buffer alone", allGatherNothing())
        check("allGather of one Double per rank", allGatherOneDouble())
        check("allToAll Float: uneven and zero counts, offsets that are not prefix sums, gaps untouched", allToAllUneven())
        check("allToAll Float: rank 0 sends nothing", allToAllSilentRoot())
        check("allToAll Float: 1 MiB per pair of ranks", allToAllLarge())
        check("allToAll Int64, 3 per rank", allToAllInt64())
        check("broadcast from every root 0 ... \(p - 1)", broadcastEveryRoot())
        check("broadcast of 0 values", broadcastNothing())
        check("allReduceSum Float: the rank-ordered sum, the same bits on every rank", allReduceFloat())
        check("allReduceSum Double: the rank-ordered sum, the same bits on every rank", allReduceDouble())
        check("allReduceSum Int", allReduceInt())
        check("barrier: no rank leaves before the last one enters", barrier())
        return failed
    }

    /// Gathers every rank's verdict; rank 0 prints the line. `result` is nil when this rank
    /// found the check correct, else what it found wrong (printed by the rank).
    private mutating func check(_ name: String, _ result: (error: String?, note: String)) {
        if let error = result.error { fputs("rank \(me): \(name): \(error)\n", stderr) }
        var bad: Int64 = result.error == nil ? 0 : 1
        var all = [Int64](repeating: 0, count: p)
        all.withUnsafeMutableBufferPointer { comm.allGather(&bad, count: 1, into: $0.baseAddress!) }
        let badRanks = all.indices.filter { all[$0] != 0 }
        if !badRanks.isEmpty { failed += 1 }
        if me == 0 {
            let verdict = badRanks.isEmpty ? "ok    " : "FAILED"
            let on = badRanks.isEmpty ? "" : " (wrong on ranks \(badRanks.map(String.init).joined(separator: ", ")))"
            print("\(verdict) \(name)\(result.note.isEmpty ? "" : " — " + result.note)\(on)")
            fflush(stdout)
        }
    }

    /// nil when equal; otherwise the first difference.
    private func compare<T: Equatable>(_ got: [T], _ expected: [T], _ what: String) -> String? {
        guard got.count == expected.count else { return "\(what): \(got.count) values, expected \(expected.count)" }
        guard let i = got.indices.first(where: { got[$0] != expected[$0] }) else { return nil }
        return "\(what)[\(i)] = \(got[i]), expected \(expected[i])"
    }

    private func ranks() -> (error: String?, note: String) {
        var mine = Int64(me)
        var all = [Int64](repeating: -1, count: p)
        all.withUnsafeMutableBufferPointer { comm.allGather(&mine, count: 1, into: $0.baseAddress!) }
        return (compare(all, (0..<p).map(Int64.init), "ranks"), "\(p) ranks")
    }

    private func allGatherFloat() -> (error: String?, note: String) {
        let value = { (r: Int, i: Int) in Float(r) * 1000 + Float(i) + 0.375 }
        let mine = (0..<3).map { value(me, $0) }
        var all = [Float](repeating: .nan, count: 3 * p)
        all.withUnsafeMutableBufferPointer { comm.allGather(mine, count: 3, into: $0.baseAddress!) }
        return (compare(all, (0..<p).flatMap { r in (0..<3).map { value(r, $0) } }, "received"), "")
    }

    private func allGatherInt64() -> (error: String?, note: String) {
        let value = { (r: Int, i: Int) -> Int64 in (Int64(r + 1) << 40 + Int64(i)) * (i % 2 == 0 ? 1 : -1) }
        let mine = (0..<4).map { value(me, $0) }
        var all = [Int64](repeating: 0, count: 4 * p)
        all.withUnsafeMutableBufferPointer { comm.allGather(mine, count: 4, into: $0.baseAddress!) }
        return (compare(all, (0..<p).flatMap { r in (0..<4).map { value(r, $0) } }, "received"), "")
    }

    private func allGatherDouble() -> (error: String?, note: String) {
        let value = { (r: Int, i: Int) in Double(r) + 1.0 / 3.0 + Double(i) * 1e-13 }
        let mine = (0..<3).map { value(me, $0) }
        var all = [Double](repeating: .nan, count: 3 * p)
        all.withUnsafeMutableBufferPointer { comm.allGather(mine, count: 3, into: $0.baseAddress!) }
        return (compare(all.map(\.bitPattern), (0..<p).flatMap { r in (0..<3).map { value(r, $0).bitPattern } }, "received bits"), "")
    }

    private func allGatherNothing() -> (error: String?, note: String) {
        let mine: [Float] = [1]
        var all: [Float] = [-7]
        all.withUnsafeMutableBufferPointer { comm.allGather(mine, count: 0, into: $0.baseAddress!) }
        return (compare(all, [-7], "buffer"), "")
    }

    private func allGatherOneDouble() -> (error: String?, note: String) {
        (compare(comm.allGather(Double(me) + 0.125), (0..<p).map { Double($0) + 0.125 }, "received"), "")
    }

    /// Sends c(s, d) values v(s, d, i) from every rank s to every rank d through buffers laid
    /// out by `sendOffsets`/`receiveOffsets`, and checks each received block and that every
    /// other receive position kept its sentinel.
    private func exchange(count c: (Int, Int) -> Int, sendOffsets: [Int], receiveOffsets: [Int],
                          value v: (Int, Int, Int) -> Float) -> String? {
        let sendCounts = (0..<p).map { c(me, $0) }, receiveCounts = (0..<p).map { c($0, me) }
        let sendSize = (0..<p).map { sendOffsets[$0] + sendCounts[$0] }.max() ?? 0
        let receiveSize = ((0..<p).map { receiveOffsets[$0] + receiveCounts[$0] }.max() ?? 0) + 2
        let sentinel: Float = -9
        var send = [Float](repeating: -1, count: sendSize)
        for d in 0..<p { for i in 0..<sendCounts[d] { send[sendOffsets[d] + i] = v(me, d, i) } }
        var receive = [Float](repeating: sentinel, count: receiveSize)
        var expected = receive
        for s in 0..<p { for i in 0..<receiveCounts[s] { expected[receiveOffsets[s] + i] = v(s, me, i) } }
        send.withUnsafeBufferPointer { sp in
            receive.withUnsafeMutableBufferPointer { rp in
                comm.allToAll(sp.baseAddress!, sendCounts: sendCounts, sendOffsets: sendOffsets,
                              receive: rp.baseAddress!, receiveCounts: receiveCounts, receiveOffsets: receiveOffsets)
            }
        }
        return compare(receive, expected, "receive buffer")
    }

    private func allToAllUneven() -> (error: String?, note: String) {
        // c(s, d) = (s + 2d + 1) mod 4: uneven, and zero for (1, 1), (3, 0), ...
        let c = { (s: Int, d: Int) in (s + 2 * d + 1) % 4 }
        // Blocks in reverse rank order with gaps: offsets that are no prefix sums.
        var sendOffsets = [Int](repeating: 0, count: p), receiveOffsets = sendOffsets
        var at = 1
        for d in (0..<p).reversed() { sendOffsets[d] = at; at += c(me, d) + 2 }
        at = 2
        for s in (0..<p).reversed() { receiveOffsets[s] = at; at += c(s, me) + 3 }
        let zeros = (0..<p).flatMap { s in (0..<p).map { c(s, $0) } }.filter { $0 == 0 }.count
        return (exchange(count: c, sendOffsets: sendOffsets, receiveOffsets: receiveOffsets,
                         value: { s, d, i in Float(s * 10_000 + d * 100 + i) + 0.5 }),
                "\(zeros) of \(p * p) counts zero")
    }

    private func allToAllSilentRoot() -> (error: String?, note: String) {
        let c = { (s: Int, d: Int) in s == 0 ? 0 : 2 }
        let sendOffsets = (0..<p).map { 2 * $0 }, receiveOffsets = (0..<p).map { 2 * $0 }
        return (exchange(count: c, sendOffsets: sendOffsets, receiveOffsets: receiveOffsets,
                         value: { s, d, i in Float(s * 100 + d * 10 + i) }), "")
    }

    private func allToAllLarge() -> (error: String?, note: String) {
        let n = 262_144
        let c = { (_: Int, _: Int) in n }
        let offsets = (0..<p).map { $0 * n }
        // Integers below 2²⁴: exact in Float.
        return (exchange(count: c, sendOffsets: offsets, receiveOffsets: offsets,
                         value: { s, d, i in Float((s * 7_919 + d * 104_729 + i) % 16_000_000) }),
                "\(n) floats per pair")
    }

    private func allToAllInt64() -> (error: String?, note: String) {
        let value = { (s: Int, d: Int, i: Int) -> Int64 in (Int64(s) << 40 + Int64(d) << 20 + Int64(i)) * (i == 1 ? -1 : 1) }
        let send = (0..<p).flatMap { d in (0..<3).map { value(me, d, $0) } }
        var receive = [Int64](repeating: 0, count: 3 * p)
        receive.withUnsafeMutableBufferPointer { comm.allToAll(send, count: 3, receive: $0.baseAddress!) }
        return (compare(receive, (0..<p).flatMap { s in (0..<3).map { value(s, me, $0) } }, "received"), "")
    }

    private func broadcastEveryRoot() -> (error: String?, note: String) {
        for root in 0..<p {
            let expected = (0..<5).map { Float(root) * 100 + Float($0) + 0.25 }
            var values = me == root ? expected : [Float](repeating: Float(-me - 1), count: 5)
            values.withUnsafeMutableBufferPointer { comm.broadcast($0.baseAddress!, count: 5, root: root) }
            if let error = compare(values, expected, "from root \(root)") { return (error, "") }
        }
        return (nil, "")
    }

    private func broadcastNothing() -> (error: String?, note: String) {
        var values: [Float] = [Float(me)]
        values.withUnsafeMutableBufferPointer { comm.broadcast($0.baseAddress!, count: 0, root: p - 1) }
        return (compare(values, [Float(me)], "buffer"), "")
    }

    /// Rank r's i-th summand: signs and exponents that make the order of addition matter.
    private static func summand(_ r: Int, _ i: Int) -> Double {
        var h = UInt64(truncatingIfNeeded: r &* 0x9E37_79B9 &+ i &* 0x85EB_CA6B &+ 1)
        h ^= h >> 33; h = h &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 29
        let exponent = Int((h >> 20) % 40) - 20
        return Double(sign: h & 1 == 0 ? .plus : .minus, exponent: exponent, significand: Double(1 + h % 1000))
    }

    /// Checks this rank's sums against the rank-ordered sum it computes itself, and that all
    /// ranks hold the same bits; notes how many elements another order would change.
    private func sameEverywhere(_ bits: [Int64], _ expected: [Int64], reordered: Int) -> (error: String?, note: String) {
        if let error = compare(bits, expected, "sum bits") { return (error, "") }
        var all = [Int64](repeating: 0, count: bits.count * p)
        all.withUnsafeMutableBufferPointer { comm.allGather(bits, count: bits.count, into: $0.baseAddress!) }
        for r in 0..<p where Array(all[r * bits.count ..< (r + 1) * bits.count]) != bits {
            return ("rank \(r)'s sums differ from this rank's", "")
        }
        return (nil, "the reverse order gives other bits on \(reordered) of \(bits.count) elements")
    }

    private func allReduceFloat() -> (error: String?, note: String) {
        let n = 1000
        let x = { (r: Int, i: Int) in Float(Self.summand(r, i)) }
        var values = (0..<n).map { x(me, $0) }
        values.withUnsafeMutableBufferPointer { comm.allReduceSum($0.baseAddress!, count: n) }
        let ordered = (0..<n).map { i in (0..<p).dropFirst().reduce(x(0, i)) { $0 + x($1, i) } }
        let reversed = (0..<n).map { i in (0..<p).reversed().dropFirst().reduce(x(p - 1, i)) { $0 + x($1, i) } }
        let reordered = (0..<n).filter { ordered[$0].bitPattern != reversed[$0].bitPattern }.count
        return sameEverywhere(values.map { Int64($0.bitPattern) }, ordered.map { Int64($0.bitPattern) }, reordered: reordered)
    }

    private func allReduceDouble() -> (error: String?, note: String) {
        let n = 1000
        let x = { (r: Int, i: Int) in Self.summand(r, i) * (1 + 1e-9 * Double(r)) }
        var values = (0..<n).map { x(me, $0) }
        comm.allReduceSum(&values)
        let ordered = (0..<n).map { i in (0..<p).dropFirst().reduce(x(0, i)) { $0 + x($1, i) } }
        let reversed = (0..<n).map { i in (0..<p).reversed().dropFirst().reduce(x(p - 1, i)) { $0 + x($1, i) } }
        let reordered = (0..<n).filter { ordered[$0].bitPattern != reversed[$0].bitPattern }.count
        return sameEverywhere(values.map { Int64(bitPattern: $0.bitPattern) }, ordered.map { Int64(bitPattern: $0.bitPattern) }, reordered: reordered)
    }

    private func allReduceInt() -> (error: String?, note: String) {
        let x = { (r: Int, i: Int) in (r + 1) * (i - 3) * 1_000_000_007 }
        var values = (0..<7).map { x(me, $0) }
        comm.allReduceSum(&values)
        return (compare(values, (0..<7).map { i in (0..<p).reduce(0) { $0 + x($1, i) } }, "sums"), "")
    }

    /// Rank 0 sleeps, then notes the time and enters the barrier; every rank notes the time it
    /// leaves. A barrier lets no rank leave before rank 0's time (one node: one clock).
    private func barrier() -> (error: String?, note: String) {
        if me == 0 { usleep(300_000) }
        let entered = now()
        comm.barrier()
        let left = now()
        let rank0Entered = comm.allGather(entered)[0]
        guard left >= rank0Entered else {
            return (String(format: "left the barrier %.3f s before rank 0 entered it", rank0Entered - left), "")
        }
        return (nil, "")
    }
}

/// Seconds since the epoch (CLOCK_REALTIME).
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
