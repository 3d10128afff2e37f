/// Cochran's (1954) rule for contingency tables, used for the class × expert table behind mutual
/// information and Cramér's V: the expected counts r_c·k_e/N of the occupied rows and columns,
/// and the share of them below 5. Above 0.2 the χ²-type approximations behind the Miller–Madow
/// and Bergsma corrections, and the bootstrap of them, are not to be trusted: with token-id labels
/// (thousands of classes, most with a handful of tokens) the intervals were seen to exclude their
/// own estimate. Cochran, "Some methods for strengthening the common χ² tests", Biometrics 10
/// (1954) 417–451.
enum SparseTable {
    /// Above this share of expected counts below 5, a table is sparse.
    static let maximumShare = 0.2

    /// The share of expected counts below 5 in the `rows` × `columns` table (row-major), over
    /// the rows and columns with any count; 0 for an empty table.
    static func shareBelowFive(_ table: [Double], rows: Int, columns: Int) -> Double {
        let margins = TableMargins(table, rows: rows, columns: columns)
        let occupiedColumns = margins.columnSums.filter { $0 > 0 }
        guard margins.total > 0, !occupiedColumns.isEmpty else { return 0 }
        var cells = 0, small = 0
        for r in margins.rowSums where r > 0 {
            for c in occupiedColumns {
                cells += 1
                if r * c / margins.total < 5 { small += 1 }
            }
        }
        return Double(small) / Double(cells)
    }
}
