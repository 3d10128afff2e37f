import SwitchyardFileIO
import Foundation

/// A file a report links to (an SVG chart), relative to the report's directory.
public struct ReportFile: Sendable, Equatable {
    /// The path relative to the report's directory, e.g. `charts/loss.svg`.
    public var name: String
    /// The file's text.
    public var contents: String

    /// A file called `name` holding `contents`.
    public init(name: String, contents: String) {
        self.name = name
        self.contents = contents
    }
}

/// A markdown report and the files it links to, ready to be written to a directory.
public struct ReportDocument: Sendable, Equatable {
    /// The markdown text of `report.md`.
    public var markdown: String
    /// The charts (and any other files) the markdown links to, relative paths.
    public var files: [ReportFile]

    /// A document of `markdown` linking to `files`.
    public init(markdown: String, files: [ReportFile]) {
        self.markdown = markdown
        self.files = files
    }

    /// Writes every linked file, then `report.md`, into `directory` (created if needed),
    /// each through a temporary file renamed into place, so that an interrupted write never
    /// leaves a report pointing at missing or half-written charts. Returns the report's path.
    @discardableResult
    public func write(to directory: String, reportName: String = "report.md") throws -> String {
        for file in files {
            try AtomicFile.write(file.contents, to: (directory as NSString).appendingPathComponent(file.name))
        }
        let path = (directory as NSString).appendingPathComponent(reportName)
        try AtomicFile.write(markdown, to: path)
        return path
    }
}
