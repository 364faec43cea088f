import Foundation

/// Finds the workstation's bundled resources (`assets/models/…`, `sample-data/`) whether it runs
/// from the repository, from a build folder inside it, or from a copied binary beside them.
public enum ResourceLocator {
    /// Walks up (at most 12 levels) from the working directory, then from the executable's
    /// directory, returning the first `<dir>/<relativePath>` that `accept` takes.
    public static func find(_ relativePath: String, where accept: (URL) -> Bool) -> URL? {
        let fm = FileManager.default
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let exe = Bundle.main.executableURL { starts.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<12 {
                let candidate = dir.appendingPathComponent(relativePath)
                if accept(candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
