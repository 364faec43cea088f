import Foundation
import Testing
@testable import CardiacModels
import ECGFormats
import SignalKit
@testable import Workstation

/// Braille dots set in the cells of `rect` (dot coordinates relative to the rect's top-left).
func brailleDots(_ grid: CellGrid, _ rect: Rect) -> [(x: Int, y: Int)] {
    var dots: [(x: Int, y: Int)] = []
    for cy in 0..<rect.height {
        for cx in 0..<rect.width {
            let v = grid[rect.x + cx, rect.y + cy].scalar.value
            guard v >= 0x2800, v <= 0x28FF else { continue }
            let bits = UInt8(v - 0x2800)
            for (row, pair) in BrailleCanvas.dotBits.enumerated() {
                for (col, bit) in pair.enumerated() where bits & bit != 0 { dots.append((cx * 2 + col, cy * 4 + row)) }
            }
        }
    }
    return dots
}

let mitbih100 = repoRoot().appendingPathComponent("tests/records/100.hea")

@Suite struct SquarePaperTests {
    /// The 1 mV × 200 ms standardisation pulse of the first row, measured in dots: (width, height).
    func calibrationBox(cell: CellPixelSize, size: GridSize) throws -> (width: Int, height: Int, geometry: TraceGeometry) {
        var grid = CellGrid(size: size)
        var overlay = TraceOverlay()
        overlay.cell = cell
        let area = Rect(x: 0, y: 0, width: size.width, height: size.height)
        let drawn = TraceView.render(record: syntheticRecord(), layout: .standard12, settings: PaperSettings(), overlay: overlay,
                                     into: &grid, area: area, theme: .monochrome)
        let first = try #require(drawn.regions.first)
        let gutter = Rect(x: 0, y: first.rect.y, width: first.rect.x, height: first.rect.height)
        let dots = brailleDots(grid, gutter)
        let top = try #require(dots.map(\.y).min()), base = try #require(dots.map(\.y).max())
        // The top edge of the pulse: the dots on its highest row.
        let topRow = dots.filter { $0.y == top }.map(\.x)
        return (try #require(topRow.max()) - (try #require(topRow.min())), base - top, try #require(drawn.geometry))
    }

    @Test func oneMillimetreIsAsManyDotsHighAsWideOnAStandardCell() throws {
        // 10×20-pixel cells: a braille dot is square, so dots per mm must match on both axes.
        for width in [120, 200, 250] {
            let (w, h, g) = try calibrationBox(cell: .assumed, size: GridSize(width: width, height: 60))
            #expect(g.dotsPerMillimetreX == g.dotsPerMillimetreY)
            let perMMWide = Double(w) / 5, perMMHigh = Double(h) / g.shownGainMillimetresPerMillivolt  // 200 ms = 5 mm at 25 mm/s
            #expect(abs(perMMWide - perMMHigh) <= 1.0 / 5 + 1.0 / g.shownGainMillimetresPerMillivolt, "\(width): \(w)×\(h) dots")
            #expect(h == 2 * w || abs(h - 2 * w) <= 1, "\(width) columns: pulse \(w) dots wide, \(h) high")
        }
    }

    @Test func millimetresStaySquareInPixelsForOtherFonts() throws {
        for cell in [CellPixelSize(width: 8, height: 17), CellPixelSize(width: 9, height: 21), CellPixelSize(width: 12, height: 24)] {
            let (w, h, _) = try calibrationBox(cell: cell, size: GridSize(width: 250, height: 70))
            let pixelsPerMMWide = Double(w) / 5 * Double(cell.width) / 2
            let pixelsPerMMHigh = Double(h) / 10 * Double(cell.height) / 4
            // Within one dot of rounding on either edge.
            #expect(abs(pixelsPerMMWide - pixelsPerMMHigh) / pixelsPerMMWide < 0.2, "\(cell): \(w)×\(h) dots")
        }
    }

    @Test func smallTerminalStatesTheGainItCanShow() {
        // 80×24: rows are 26 mm, too short for 20 mm/mV (needs 40 mm), so 10 mm/mV is drawn and said.
        var s = stateWithRecord(model: true)
        s.paper.gainMillimetresPerMillivolt = 20
        let (grid, hits) = WorkstationRenderer.render(s, size: GridSize(width: 80, height: 24), theme: .monochrome)
        let g = hits.traceGeometry
        #expect(g?.isGainHonoured == false)
        #expect(g?.shownGainMillimetresPerMillivolt == 10)
        #expect(grid.text.contains("25 mm/s  10 mm/mV (20 mm/mV needs rows ≥ 40 mm; these are 26 mm)"))
        // 60×16 leaves rows too short for 10 mm/mV as well.
        let (tiny, tinyHits) = WorkstationRenderer.render(stateWithRecord(model: true), size: GridSize(width: 80, height: 16), theme: .monochrome)
        #expect(tinyHits.traceGeometry?.isGainHonoured == false)
        #expect(tiny.text.contains("(10 mm/mV needs rows ≥ 20 mm"))
        // 200×60: room for the standard.
        let (big, bigHits) = WorkstationRenderer.render(stateWithRecord(model: false), size: GridSize(width: 200, height: 60), theme: .monochrome)
        #expect(bigHits.traceGeometry?.isGainHonoured == true)
        #expect(big.text.contains("25 mm/s  10 mm/mV  filter off"))
    }
}

@Suite struct WholeRecordTests {
    @Test func mitBih100ShowsMLIIAsLeadIIWithTimeAxisAndBeats() throws {
        let record = try ECGFileReader.read(url: mitbih100)
        var s = WorkstationState()
        s.cases = [mitbih100]
        s.current = LoadedCase(url: mitbih100, record: record)
        s.model = .none(reason: "no model loaded")
        let (grid, hits) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
        let text = grid.text
        #expect(text.contains("II rhythm") && !text.contains("II rhythm (absent)"))
        #expect(text.contains("window 0–10 s of 1805.6 s"))
        #expect(text.contains("╵1 s") && text.contains("╵5 s"))
        let strip = try #require(hits.leads.first { $0.isRhythmStrip })
        #expect(strip.lead == .ii)
        // Beat labels from 100.atr above the strip: 12 annotated beats in 0–10 s (all N).
        let marks = (strip.rect.x..<strip.rect.maxX).filter { grid[$0, strip.rect.y].scalar == "N" }
        #expect(marks.count >= 11)
        #expect(s.current?.annotationNote == "2273 annotated beats from 100.atr")
        try expectSnapshot(text, named: "screen-200x60-mitbih100")
    }

    @Test func scrollingMovesGridAndRhythmStripTogether() throws {
        // A 12-lead record longer than the window (PTB s0010_re, 38.4 s): the grid's columns and the
        // rhythm strip scroll together, each column above the same seconds of the strip.
        let ptb = mitbih100.deletingLastPathComponent().appendingPathComponent("s0010_re.hea")
        let twelve = WorkstationApp(screen: GridScreen(width: 200, height: 60), theme: .monochrome, pipeline: nil)
        twelve.open(ptb)
        #expect(twelve.waitForBackgroundWork())
        twelve.handle(.key(.character("}")))
        #expect(twelve.state.window.startSeconds == 10)
        twelve.renderFrame()
        let ii = try #require(twelve.hits.leads.first { $0.lead == .ii && !$0.isRhythmStrip })
        let rhythm = try #require(twelve.hits.leads.first { $0.isRhythmStrip })
        #expect(ii.startSeconds == 10 && rhythm.startSeconds == 10)
        // The V5 column (fourth) starts where the strip shows 17.5 s, at the same screen column.
        let v5 = try #require(twelve.hits.leads.first { $0.lead == .v5 && !$0.isRhythmStrip })
        #expect(v5.startSeconds == 17.5)
        #expect(abs((rhythm.column(atSeconds: 17.5) ?? -99) - v5.rect.x) <= 1)

        // A 2-lead Holter-style record (MIT-BIH 100: MLII, V5) is shown as two full strips, which scroll together.
        let screen = GridScreen(width: 200, height: 60)
        let app = WorkstationApp(screen: screen, theme: .monochrome, pipeline: nil)
        app.open(mitbih100)
        #expect(app.waitForBackgroundWork())
        app.handle(.key(.character("}")))
        app.handle(.key(.character("}")))
        #expect(app.state.window.startSeconds == 20)
        app.renderFrame()
        #expect(screen.text.contains("window 20–30 s of 1805.6 s"))
        let strips = app.hits.leads.filter(\.isRhythmStrip)
        #expect(strips.map(\.lead) == [.ii, .v5], "one full-width strip per stored lead")
        #expect(strips.allSatisfy { $0.startSeconds == 20 })
        #expect(!screen.text.contains("(absent)"), "no grid of absent leads")
        app.handle(.key(.end))
        #expect(abs(app.state.window.endSeconds - 650_000.0 / 360) < 1e-6)
        app.handle(.key(.home))
        #expect(app.state.window.startSeconds == 0)
        app.runCommand("goto 600")
        #expect(app.state.window.startSeconds == 600 && app.state.cursorSeconds == 600)
    }
}

@Suite struct CaliperAndFilterTests {
    @Test func caliperStepsFourMillisecondsAndSnapsToOnsets() throws {
        let screen = GridScreen(width: 200, height: 60)
        let app = WorkstationApp(screen: screen, theme: .monochrome, pipeline: nil)
        app.state.cases = [URL(fileURLWithPath: "/data/TEST-001.csv")]
        app.state.current = LoadedCase(url: app.state.cases[0], record: syntheticRecord())
        app.state.cursorSeconds = 1.0
        app.handle(.key(.character("l")))
        #expect(abs(app.state.cursorSeconds - 1.004) < 1e-9)
        app.handle(.key(.character("L")))
        #expect(abs(app.state.cursorSeconds - 1.044) < 1e-9)
        app.handle(.key(.character("h")))
        #expect(abs(app.state.cursorSeconds - 1.040) < 1e-9)
        // Snap to the next QRS onset, set the caliper, snap to that beat's QRS offset: reads the QRS duration.
        let marks = try #require(app.state.current?.caliperLandmarks)
        #expect(marks.contains { $0.name == "QRS onset" } && marks.contains { $0.name == "T end" })
        while app.state.cursorLandmark != "QRS onset" { app.handle(.key(.character("o"))) }
        let onset = app.state.cursorSeconds
        app.handle(.key(.character("c")))
        while app.state.cursorLandmark != "QRS offset" { app.handle(.key(.character("o"))) }
        let qrs = (app.state.cursorSeconds - onset) * 1000
        let measured = try #require(app.state.current?.measurements?.qrsMs)
        #expect(abs(qrs - measured) < 1)
        app.renderFrame()
        #expect(screen.text.contains("(QRS offset)") && screen.text.contains(String(format: "Δt %.0f ms", qrs)))
        app.handle(.key(.character("O")))
        #expect(app.state.cursorLandmark == "R peak")
    }

    @Test func displayFilterCyclesAndIsAlwaysShown() {
        let screen = GridScreen(width: 120, height: 40)
        let app = WorkstationApp(screen: screen, theme: .monochrome, pipeline: nil)
        app.state.cases = [URL(fileURLWithPath: "/data/TEST-001.csv")]
        app.state.current = LoadedCase(url: app.state.cases[0], record: syntheticRecord())
        app.renderFrame()
        #expect(screen.text.contains("filter off"))
        var seen: [String] = []
        for _ in DisplayFilter.allCases {
            app.handle(.key(.character("f")))
            app.renderFrame()
            seen.append(app.state.displayFilter.label)
            #expect(screen.text.contains(app.state.displayFilter.label))
            #expect((app.state.displayRecord == nil) == (app.state.displayFilter == .off))
        }
        #expect(seen == ["filter 0.05–150 Hz", "filter 0.5–40 Hz", "filter 50 Hz notch", "filter 60 Hz notch", "filter off"])
        // The filter changes what is drawn, never the record the model and the measurements see.
        app.runCommand("filter 0.5-40")
        #expect(app.state.displayRecord?.leads[1].millivolts != app.state.current?.record.leads[1].millivolts)
        app.runCommand("filter bogus")
        #expect(app.state.status.isError && app.state.displayFilter == .monitoring)
    }

    @Test func cinePlaysOneLoopPerHeartbeat() {
        var s = stateWithRecord(model: false)
        #expect(s.cineFrameIntervalSeconds == 0.08)  // no cine yet
        s.current?.heartRateBpm = 75
        let frames = 25
        s.cmr = GeneratedCMR(modelID: "demo-test", seed: 1,
                             sax: CineLoop(view: .sax, width: 2, height: 2, frames: Array(repeating: [0, 0, 0, 0], count: frames), phases: []),
                             lax: CineLoop(view: .lax, width: 2, height: 2, frames: [[0, 0, 0, 0]], phases: []))
        #expect(abs(s.cineFrameIntervalSeconds * Double(frames) - 0.8) < 1e-9)
        s.current?.heartRateBpm = 100
        #expect(abs(s.cineFrameIntervalSeconds * Double(frames) - 0.6) < 1e-9)
    }
}

@Suite struct GradCAMLegendTests {
    @Test func legendExplainsTheTintAndGridStaysVisible() throws {
        var s = stateWithRecord(model: true)
        s.gradCAMOn = true
        s.gradCAM = syntheticGradCAM(target: HeadTarget(head: "risk", output: "cad"))
        let (grid, hits) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .standard)
        let (lx, ly) = try #require(grid.find("tint 0 "))
        #expect(grid.row(ly).contains("1 relevance"))
        // Swatches run from cold to hot.
        #expect(grid[lx + 7, ly].style.background != grid[lx + 14, ly].style.background)
        // Under the hot V2 segment, major grid lines keep a lighter tint than the paper between them.
        let v2 = try #require(hits.leads.first { $0.lead == .v2 && !$0.isRhythmStrip })
        let x = try #require(v2.column(atSeconds: 5.7))
        let backgrounds = Set((v2.rect.y..<v2.rect.maxY).map { grid[x, $0].style.background })
        #expect(backgrounds.count >= 2)
        // A beat-aware model's rhythm token is stated beside the legend.
        s.gradCAM?.rhythmRelevance = 0.42
        let (mono, _) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
        #expect(mono.text.contains("tint: bold trace = relevance ≥ 0.5 · rhythm 0.42"))
    }
}

@Suite struct FolderDiscoveryTests {
    /// `view DIR` lists every ECG below the folder, as `screen` does — not only the first file of
    /// each sub-folder — and says how many paths could not be read.
    @Test func viewFindsEveryECGRecursively() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ecg2cmr-view-dir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var csv = "# sampling_rate=500\n# units=mV\nI,II,V1\n"
        for i in 0..<2500 { let v = sin(Double(i) / 20); csv += "\(v),\(v * 1.2),\(-v)\n" }
        let files = ["site-a/p1/rest.csv", "site-a/p1/followup.csv", "site-a/p2/deep/ecg.csv", "top.csv"]
        for f in files {
            let url = root.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(csv.utf8).write(to: url)
        }
        try Data("x".utf8).write(to: root.appendingPathComponent("site-a/p1/notes.txt"))
        let found = CaseDiscovery.ecgFiles(in: root).map { $0.path.replacingOccurrences(of: root.path + "/", with: "") }
        #expect(found == ["site-a/p1/followup.csv", "site-a/p1/rest.csv", "site-a/p2/deep/ecg.csv", "top.csv"])
        let app = WorkstationApp(screen: GridScreen(width: 120, height: 40), theme: .monochrome, pipeline: nil)
        app.open(root)
        #expect(app.waitForBackgroundWork())
        #expect(app.state.cases.count == 4)
    }
}
