extension RoutingTrace {
    /// The number of tokens whose label is −1 (unknown); 0 without labels.
    public var unknownLabelCount: Int {
        guard let labels else { return 0 }
        return labels.withUnsafeBufferPointer { l in l.reduce(0) { $0 + ($1 < 0 ? 1 : 0) } }
    }

    /// The trace as the statistics take it: the class statistics compare the classes of
    /// all tokens, so a trace in which some or all labels are −1 (unknown, as CSV and NPY
    /// imports allow) is analysed without labels, every other statistic over all tokens.
    /// Returns the trace unchanged when every label is known, else the trace without
    /// labels and a note saying why, for the user.
    public func labelledForStatistics() -> (trace: RoutingTrace, note: String?) {
        let unknown = unknownLabelCount
        guard unknown > 0 else { return (self, nil) }
        var trace = self
        trace.labels = nil
        trace.classCount = 0
        trace.classNames = []
        return (trace, Self.unknownLabelNote(unknown: unknown, tokens: tokenCount))
    }

    /// What the user is told when `unknown` of `tokens` labels are −1 (nil when none is).
    public static func unknownLabelNote(unknown: Int, tokens: Int) -> String? {
        guard unknown > 0 else { return nil }
        return unknown == tokens
            ? "every token's label is −1 (unknown): analysed without class statistics"
            : "\(unknown) of \(tokens) tokens have label −1 (unknown): analysed without class statistics (they compare the classes of all tokens); every other statistic covers all tokens"
    }
}
