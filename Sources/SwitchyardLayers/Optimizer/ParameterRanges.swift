import SwitchyardTensorCore

/// Splits the elements of a list of parameters, laid end to end, over the compute threads, so
/// that an optimiser step over hundreds of small tensors runs as one parallel region instead
/// of one region per tensor (each too small to split on its own).
///
/// Element `j` of parameter `i` is element `offsets[i] + j` of the whole. The split depends
/// only on the sizes and the thread count, and each element is handled by exactly one thread,
/// so element-wise work gives the same bits for any thread count.
struct ParameterRanges {
    /// Where each parameter starts in the whole; one more entry holds the total.
    let offsets: [Int]

    /// The ranges of `parameters`, in order.
    init(_ parameters: [Parameter]) {
        var offsets = [0]
        offsets.reserveCapacity(parameters.count + 1)
        for p in parameters { offsets.append(offsets.last! + p.count) }
        self.offsets = offsets
    }

    /// All elements.
    var total: Int { offsets.last! }

    /// Calls `body(parameter, elements)` for every piece of a parameter, with `elements` the
    /// parameter's own indices, each piece once and on one thread; a parameter may be cut
    /// between two threads.
    func forEachPiece(minimumPerPart: Int, _ body: (_ parameter: Int, _ elements: Range<Int>) -> Void) {
        parallelParts(total, minimumPerPart: minimumPerPart) { part, _ in
            var i = firstParameter(containing: part.lowerBound)
            while i < offsets.count - 1 && offsets[i] < part.upperBound {
                let start = max(part.lowerBound, offsets[i]), end = min(part.upperBound, offsets[i + 1])
                if start < end { body(i, (start - offsets[i])..<(end - offsets[i])) }
                i += 1
            }
        }
    }

    /// Calls `body(parameter)` for every parameter with at least one element, each on one
    /// thread: the part whose range holds the parameter's first element (so a large parameter
    /// is not split). Empty parameters are skipped.
    func forEachParameter(minimumPerPart: Int, _ body: (_ parameter: Int) -> Void) {
        parallelParts(total, minimumPerPart: minimumPerPart) { part, _ in
            var i = firstParameter(containing: part.lowerBound)
            if offsets[i] < part.lowerBound { i += 1 }   // started in the previous part
            while i < offsets.count - 1 && offsets[i] < part.upperBound {
                if offsets[i] < offsets[i + 1] { body(i) }
                i += 1
            }
        }
    }

    /// The parameter holding element `element` (< total) of the whole: the last i with
    /// offsets[i] ≤ element, so never an empty parameter.
    private func firstParameter(containing element: Int) -> Int {
        var low = 0, high = offsets.count - 1           // offsets[low] ≤ element < offsets[high]
        while high - low > 1 {
            let middle = (low + high) / 2
            if offsets[middle] <= element { low = middle } else { high = middle }
        }
        return low
    }
}
