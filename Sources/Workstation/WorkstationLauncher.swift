import CardiacModels
import Foundation

/// Finding inputs and the model, shared by `ecg2cmr view`, tests and benchmarks.
public enum WorkstationLauncher {
    /// `sample-data/` found from the working directory or next to the executable, walking up.
    public static func locateSampleData() -> URL? {
        let fm = FileManager.default
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let exe = Bundle.main.executableURL { starts.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<12 {
                let candidate = dir.appendingPathComponent("sample-data")
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: candidate.path, isDirectory: &isDir), isDir.boolValue { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }

    /// Loads the model: an explicit folder, else the default bundle; a failure is reported, not fatal
    /// (the workstation then shows "no model loaded").
    public static func loadPipeline(modelDirectory: URL?) -> (CardiacPipeline?, String?) {
        guard let dir = modelDirectory ?? ModelBundle.locateDefault() else {
            return (nil, "no bundle at assets/models/demo-v1 (set ECG2CMR_MODEL or --model)")
        }
        do {
            let bundle = try ModelBundle.load(from: dir)
            return (try CardiacPipeline(bundle: bundle), nil)
        } catch {
            return (nil, "\(dir.lastPathComponent): \(error)")
        }
    }

    /// Renders one screen of `input` headlessly after typing `keys` (for docs screenshots, and
    /// `ecg2cmr view --snapshot`). Background work is awaited after each key.
    public static func snapshot(input: URL, pipeline: CardiacPipeline?, modelError: String? = nil, size: GridSize,
                                keys: [Key], theme: Theme = .monochrome) -> String {
        let screen = GridScreen(width: size.width, height: size.height)
        let app = WorkstationApp(screen: screen, theme: theme, pipeline: pipeline, modelLoadError: modelError)
        app.open(input)
        app.waitForBackgroundWork()
        for key in keys {
            app.handle(.key(key))
            app.waitForBackgroundWork()
        }
        app.renderFrame()
        return screen.text
    }

    /// Parses a key script like "g G n ? :case 2<Enter>" into keys: single characters are typed
    /// as-is, <Name> for Enter, Esc, Tab, Up, Down, Left, Right, PgUp, PgDn, Space.
    public static func parseKeys(_ script: String) -> [Key] {
        var keys: [Key] = []
        var i = script.startIndex
        while i < script.endIndex {
            let c = script[i]
            if c == "<", let close = script[i...].firstIndex(of: ">") {
                let name = script[script.index(after: i)..<close].lowercased()
                let named: [String: Key] = ["enter": .enter, "esc": .escape, "tab": .tab, "up": .up, "down": .down,
                                            "left": .left, "right": .right, "pgup": .pageUp, "pgdn": .pageDown, "space": .character(" ")]
                if let k = named[name] { keys.append(k); i = script.index(after: close); continue }
            }
            keys.append(.character(c))
            i = script.index(after: i)
        }
        return keys
    }
}
