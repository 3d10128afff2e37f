/// The row and column sums of a row-major `rows` × `columns` table, and its total.
struct TableMargins {
    var rowSums: [Double]
    var columnSums: [Double]
    var total: Double

    init(_ table: [Double], rows: Int, columns: Int) {
        rowSums = [Double](repeating: 0, count: rows)
        columnSums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns {
                rowSums[r] += table[r * columns + c]
                columnSums[c] += table[r * columns + c]
            }
        }
        total = rowSums.reduce(0, +)
    }

    /// The expected count of cell (r, c) under independence, `rowSum · columnSum / total`.
    func expected(_ r: Int, _ c: Int) -> Double { rowSums[r] * columnSums[c] / total }
}
