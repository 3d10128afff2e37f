import SwitchyardFileIO

/// The expert count of a CSV or NPY trace, whose files do not record it: the count the
/// user gives, else the largest expert index + 1, within a bound tied to the data.
///
/// The statistics allocate tables of E × E and classes × E cells, so one wrong index
/// (expert 100,000 among experts 0–7) would cost gigabytes for a small file. An inferred
/// count is therefore refused when it exceeds twice the number of distinct experts that
/// appear plus 64 (``largestInferable(distinctExperts:)``): a trace that leaves more than
/// half of its experts unused, above that slack, is not a trace of that many experts. A
/// model that really has more experts than a trace shows gives its count (`--experts E`).
/// Every inferred count comes with a warning, since an expert that never appears above
/// the largest index is invisible to the importer.
public enum ExpertCountInference {
    /// The largest expert count inferred from a trace in which `distinctExperts` different
    /// experts appear: `2 × distinctExperts + 64`.
    public static func largestInferable(distinctExperts: Int) -> Int { 2 * distinctExperts + 64 }

    /// The expert count of a trace whose largest expert index is `largest` (at `location`
    /// of `file`) and in which the experts marked in `seen` (indexed by expert, at least
    /// `largest + 1` long) appear, with the warning to print. Throws when the count is
    /// unknown (no expert at all) or beyond ``largestInferable(distinctExperts:)``.
    public static func infer(largest: Int, seen: [Bool], file: String, location: String) throws -> (count: Int, warning: String) {
        guard largest >= 0 else {
            throw InputError(file: file, location: location,
                             message: "no assignment names an expert ≥ 0, so the expert count is unknown; give it explicitly (--experts E)")
        }
        let distinct = seen.reduce(0) { $0 + ($1 ? 1 : 0) }
        let count = largest + 1
        let bound = largestInferable(distinctExperts: distinct)
        if count > bound {
            let next = seen[0..<largest].lastIndex(of: true).map { "the next largest is \($0)" } ?? "no other expert appears"
            throw InputError(file: file, location: location,
                             message: "expert \(largest) would make the expert count \(count), but only \(distinct) distinct experts appear (\(next)); the count inferred from the largest index may be at most 2 × \(distinct) + 64 = \(bound). If the index is right, give the expert count explicitly (--experts E); otherwise fix the index")
        }
        var warning = "expert count \(count) inferred from the largest expert index \(largest); if the model has more experts, give --experts E (an expert that never appears above \(largest) would be left out)"
        let unused = (0..<count).filter { !seen[$0] }
        if !unused.isEmpty {
            let shown = unused.prefix(8).map(String.init).joined(separator: ", ")
            warning += "; \(unused.count) of the \(count) experts never appear (\(shown)\(unused.count > 8 ? ", …" : ""))"
        }
        return (count, warning)
    }
}
