/// A problem with something the user gave Switchyard: a file, a field in it, or an
/// option value. Its message names the file, the place and what was expected, and the
/// CLI turns it into a non-zero exit, never a crash.
///
/// ```swift
/// throw InputError(file: "train.idx", location: "byte 4",
///                  message: "dimension count is 7, expected 1 or 3")
/// ```
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file concerned, or nil for a command-line value.
    public var file: String?
    /// Where in the file: "byte 16", "line 3", "field model.width", …
    public var location: String?
    /// What is wrong and what was expected.
    public var message: String

    /// An error about `file` at `location`.
    public init(file: String? = nil, location: String? = nil, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    /// "file: location: message", leaving out the parts that are nil.
    public var description: String {
        [file, location, message].compactMap { $0 }.joined(separator: ": ")
    }
}
