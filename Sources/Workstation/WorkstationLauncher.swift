import CaseAnalysis
import CommonKit
import ECGFormats
import Foundation

/// Finding inputs and the model, shared by `ecg2cmr view`, tests and benchmarks.
public enum WorkstationLauncher {
    /// `sample-data/` found from the working directory or next to the executable, walking up.
    public static func locateSampleData() -> URL? {
        ResourceLocator.find("sample-data") {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Loads the model: an explicit folder, else the default bundle; a failure is reported, not fatal
    /// (the workstation then shows "no model loaded").
    public static func loadModel(modelDirectory: URL?) -> (CaseAnalysis?, String?) {
        guard let dir = CaseAnalysis.locateBundle(modelDirectory) else {
            return (nil, "no bundle at \(CaseAnalysis.defaultBundlePath) (set ECG2CMR_MODEL or --model)")
        }
        do {
            return (try CaseAnalysis.load(bundleAt: dir), nil)
        } catch {
            return (nil, "\(dir.lastPathComponent): \(error)")
        }
    }

    /// Renders one screen of `input` headlessly after typing `keys` (for docs screenshots, and
    /// `ecg2cmr view --snapshot`). Background work is awaited after each key.
    /// Exports typed in `keys` (e, E, :export) go to `exportDirectory` and finish before the screen is drawn.
    public static func snapshot(input: URL, cases: CaseAnalysis?, readerOptions: ECGFileReader.Options = .init(),
                                modelError: String? = nil, size: GridSize,
                                exportDirectory: URL = URL(fileURLWithPath: "exports"), exportDICOM: Bool = false, exportPDF: Bool = false,
                                keys: [Key], theme: Theme = .monochrome) -> String {
        let screen = GridScreen(width: size.width, height: size.height)
        let app = WorkstationApp(screen: screen, theme: theme, cases: cases, modelLoadError: modelError, exportDirectory: exportDirectory)
        app.readerOptions = readerOptions
        app.exportDICOM = exportDICOM
        app.exportPDF = exportPDF
        app.open(input)
        // A snapshot is a batch run: wait for the case's model work however loaded the machine is.
        app.waitForBackgroundWork(timeoutSeconds: 600)
        for key in keys {
            app.handle(.key(key))
            // An export of every frame (with DICOM and the PDF) takes longer than a screen update.
            app.waitForBackgroundWork(timeoutSeconds: 600)
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

/// Timings for docs/PERFORMANCE.md (`ecg2cmr view --benchmark`), measured headlessly through the
/// same code paths as the terminal: state → views → cell grid → diff → present.
public struct WorkstationBenchmark: Sendable {
    public struct Result: Sendable {
        public var redrawMilliseconds: [String: Double] = [:]   // median per scenario
        public var changedCellsPerFrame: Double = 0
        public var caseChangeRecordMilliseconds: [Double] = []
        public var caseChangeModelMilliseconds: [Double] = []
    }

    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Full redraws at `size` (the cursor moves each frame so every frame differs), then case
    /// changes through every case in `input` (key press → record on screen → model output on screen).
    public static func run(input: URL, cases: CaseAnalysis?, size: GridSize, frames: Int,
                           readerOptions: ECGFileReader.Options = .init()) -> Result {
        var result = Result()
        let screen = GridScreen(width: size.width, height: size.height)
        let app = WorkstationApp(screen: screen, theme: .standard, cases: cases)
        app.readerOptions = readerOptions
        app.open(input)
        app.waitForBackgroundWork(timeoutSeconds: 120)
        func timeFrames(_ name: String) {
            var samples: [Double] = []
            var changed = 0
            for i in 0..<frames {
                app.state.cursorSeconds = 0.5 + Double(i % 80) * 0.1
                let t0 = DispatchTime.now().uptimeNanoseconds
                app.renderFrame()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                changed += screen.lastChangedCells
            }
            result.redrawMilliseconds[name] = median(samples)
            if result.redrawMilliseconds.count == 1 { result.changedCellsPerFrame = Double(changed) / Double(max(1, frames)) }
        }
        timeFrames("12-lead + panels")
        if cases != nil {
            app.perform(.toggleGradCAM)
            app.waitForBackgroundWork(timeoutSeconds: 120)
            timeFrames("12-lead + panels + Grad-CAM")
            app.perform(.toggleGradCAM)
        }
        app.state.zoomed = true
        timeFrames("single-lead zoom")
        app.state.zoomed = false
        app.state.showHelp = true
        timeFrames("help overlay")
        app.state.showHelp = false

        // Case changes: poll like the run loop does (every 5 ms) and stamp when each part lands.
        let cases = app.state.cases.count
        for _ in 0..<max(0, cases - 1) {
            let t0 = Date()
            app.perform(.nextCase)
            app.renderFrame()
            var recordShown: Double?
            var modelShown: Double?
            while Date().timeIntervalSince(t0) < 120 {
                app.applyBackgroundResults()
                app.renderFrame()
                let ms = Date().timeIntervalSince(t0) * 1000
                if recordShown == nil, app.state.current != nil || app.state.loadError != nil { recordShown = ms }
                if cases == nil || app.state.loadError != nil { if recordShown != nil { break } }
                if modelShown == nil, app.state.analysis != nil || app.state.analysisError != nil || app.state.modelNotApplicable != nil { modelShown = ms; break }
                usleep(5000)
            }
            if let r = recordShown { result.caseChangeRecordMilliseconds.append(r) }
            if let m = modelShown { result.caseChangeModelMilliseconds.append(m) }
            app.waitForBackgroundWork(timeoutSeconds: 120)  // let generation finish so cases don't overlap
        }
        return result
    }

    public static func report(_ r: Result, size: GridSize, frames: Int, modelID: String?) -> String {
        var lines = ["ecg2cmr view benchmark — \(size), \(frames) frames per scenario, model: \(modelID ?? "none")"]
        for (name, ms) in r.redrawMilliseconds.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "full redraw (render + diff + present), %@: median %.2f ms (budget 10 ms: %.1f× under)", name, ms, 10 / ms))
        }
        lines.append(String(format: "cells sent per frame after diffing (12-lead + panels, cursor moving): %.0f of %d", r.changedCellsPerFrame, size.width * size.height))
        func stats(_ xs: [Double]) -> String {
            guard !xs.isEmpty else { return "n/a" }
            return String(format: "median %.0f ms, max %.0f ms over %d case changes", median(xs), xs.max()!, xs.count)
        }
        lines.append("case change, key → ECG on screen: " + stats(r.caseChangeRecordMilliseconds))
        lines.append("case change, key → model scores on screen: " + stats(r.caseChangeModelMilliseconds))
        return lines.joined(separator: "\n")
    }
}
