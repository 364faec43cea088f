import Foundation
import Testing
@testable import CardiacModels
import ECGFormats
@testable import Workstation

@Suite struct ScreenSnapshotTests {
    @Test func sampleECGAt80x24WithoutModel() throws {
        var s = stateWithRecord(model: false)
        s.model = .none(reason: "no model loaded")
        let (grid, hits) = WorkstationRenderer.render(s, size: GridSize(width: 80, height: 24), theme: .monochrome)
        let text = grid.text
        #expect(grid.row(0).contains("TEST-001") && grid.row(0).contains("HR 75 bpm") && grid.row(0).contains("regular"))
        #expect(text.contains("rhythm") && text.contains("aVR") && text.contains("V6"))
        #expect(text.contains("25 mm/s  10 mm/mV"))
        #expect(!text.contains("SYNTHETIC DEMO MODEL"))  // no model → no model banner, no scores
        #expect(hits.leads.count == 13)  // 12 panels + rhythm strip
        #expect(text.unicodeScalars.contains { $0.value >= 0x2801 && $0.value <= 0x28FF })  // braille traces
        try expectSnapshot(text, named: "screen-80x24-no-model")
        // The risk pane, when chosen, says so instead of showing numbers.
        s.focus = .risks
        let (risks, _) = WorkstationRenderer.render(s, size: GridSize(width: 80, height: 24), theme: .monochrome)
        #expect(risks.text.contains("no model loaded"))
    }

    @Test func sampleECGAt200x60WithModel() throws {
        let s = stateWithRecord(model: true)
        let (grid, hits) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
        let text = grid.text
        #expect(grid.row(1).contains("SYNTHETIC DEMO MODEL — not for clinical use"))
        #expect(text.contains("Coronary artery disease") && text.contains("0.72") && text.contains("HIGH"))
        #expect(text.contains("LV ejection fraction") && text.contains("▼ LOW"))
        #expect(text.contains("LV mass") && text.contains("▲ HIGH"))
        #expect(text.contains("if cardiomyopathy: DCM 0.60"))
        #expect(hits.heads.count == 4)
        try expectSnapshot(text, named: "screen-200x60-model")
    }

    @Test func weakHeadIsMarked() {
        let s = stateWithRecord(model: true)
        let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .standard)
        guard let (_, y) = grid.find("Native T1") else { Issue.record("weak head row missing"); return }
        #expect(grid.row(y).contains("weak") && grid.row(y).contains("0.58"))
        guard let (_, cadY) = grid.find("Coronary artery") else { Issue.record("CAD row missing"); return }
        #expect(!grid.row(cadY).contains("weak"))
        // Weak bars use the hatched glyph so the mark survives without colour too.
        #expect(grid.row(y).contains("▒") && !grid.row(cadY).contains("▒"))
    }

    @Test func gradCAMColoursTracesAndListsSegments() throws {
        var s = stateWithRecord(model: true)
        s.gradCAMOn = true
        s.gradCAMHeadIndex = 0   // CAD, chosen (nothing is flagged in this state, so there is no default head)
        s.gradCAM = syntheticGradCAM(target: HeadTarget(head: "risk", output: "cad"))
        let size = GridSize(width: 200, height: 60)
        let (grid, hits) = WorkstationRenderer.render(s, size: size, theme: .standard)
        #expect(grid.text.contains("head: Coronary artery disease (risk.cad)"))
        #expect(grid.text.contains("1. V2    5.50– 6.00 s  0.95"))
        #expect(grid.text.contains("2. II    1.00– 1.50 s  0.60"))
        // V2 panel (5–7.5 s window) is tinted where the map is hot, and not elsewhere.
        let v2 = try #require(hits.leads.first { $0.lead == .v2 && !$0.isRhythmStrip })
        let hot = try #require(v2.column(atSeconds: 5.7)), cold = try #require(v2.column(atSeconds: 7.0))
        let paper: Set<TerminalColor> = [Theme.standard.paper.background, Theme.standard.gridMajor.background]
        #expect(!paper.contains(grid[hot, v2.rect.y + 2].style.background))
        #expect(grid[hot, v2.rect.y + 2].style.background != grid[cold, v2.rect.y + 2].style.background)
        // Off: no tint (paper or its grid lines only).
        s.gradCAMOn = false
        let (off, _) = WorkstationRenderer.render(s, size: size, theme: .standard)
        #expect(paper.contains(off[hot, v2.rect.y + 2].style.background) && paper.contains(off[cold, v2.rect.y + 2].style.background))
        var mono = s; mono.gradCAMOn = true
        let (monoGrid, _) = WorkstationRenderer.render(mono, size: size, theme: .monochrome)
        try expectSnapshot(monoGrid.text, named: "screen-200x60-gradcam")
    }

    @Test func corruptFileShowsErrorAndAppKeepsRunning() throws {
        // Fixed name: the path is part of the error text in the snapshot.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg2cmr-tui-corrupt")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not an ecg \u{0}\u{1}\u{2}".utf8).write(to: dir.appendingPathComponent("a-corrupt.csv"))
        var csv = "# sampling_rate=500\n# units=mV\nI,II,V1\n"
        for i in 0..<2500 { let v = sin(Double(i) / 20); csv += "\(v),\(v * 1.2),\(-v)\n" }
        try csv.write(to: dir.appendingPathComponent("b-good.csv"), atomically: true, encoding: .utf8)

        let screen = GridScreen(width: 80, height: 24)
        let app = WorkstationApp(screen: screen, theme: .monochrome, cases: nil)
        app.open(dir)
        #expect(app.waitForBackgroundWork())
        app.renderFrame()
        let status = screen.lastFrame.row(23)
        #expect(status.contains("error:") && status.contains("a-corrupt.csv"), "status: \(status)")
        #expect(screen.text.contains("Cannot show this ECG"))
        try expectSnapshot(screen.text, named: "screen-80x24-corrupt")
        #expect(app.state.status.text.contains("a-corrupt.csv"))
        app.handle(.key(.character("n")))
        #expect(app.waitForBackgroundWork())
        app.renderFrame()
        #expect(!app.isQuitRequested)
        #expect(app.state.current?.record.leads.count ?? 0 >= 3)
        #expect(screen.lastFrame.row(23).contains("opened b-good.csv"))
    }

    @Test func keysChangePaperCaliperAndCommands() {
        let screen = GridScreen(width: 120, height: 40)
        let app = WorkstationApp(screen: screen, theme: .monochrome, cases: nil)
        app.state = stateWithRecord(model: false)
        app.renderFrame()
        for k in "++>" { app.handle(.key(.character(k))) }
        #expect(app.state.paper.gainMillimetresPerMillivolt == 40 && app.state.paper.speedMillimetresPerSecond == 50)
        app.handle(.key(.character("0")))
        #expect(app.state.paper == PaperSettings())
        app.handle(.key(.character("c")))
        for _ in 0..<20 { app.handle(.key(.character("L"))) }  // 20 × 40 ms
        app.renderFrame()
        #expect(screen.text.contains("Δt 800 ms (75 bpm)"))
        for k in ":gain 20" { app.handle(.key(.character(k))) }
        app.handle(.key(.enter))
        #expect(app.state.paper.gainMillimetresPerMillivolt == 20)
        for k in ":frobnicate" { app.handle(.key(.character(k))) }
        app.handle(.key(.enter))
        app.renderFrame()
        #expect(screen.lastFrame.row(39).contains("unknown command :frobnicate"))
        app.handle(.key(.character("z")))
        #expect(app.state.zoomed)
        app.handle(.key(.escape))
        #expect(!app.state.zoomed)
        app.handle(.key(.character("g")))  // no model: refused with a message, not a crash
        #expect(!app.state.gradCAMOn && app.state.status.isError)
        app.handle(.key(.character("q")))
        #expect(app.isQuitRequested)
    }

    @Test func mouseSelectsLeadsAndResizeRelayouts() {
        let screen = GridScreen(width: 200, height: 60)
        let app = WorkstationApp(screen: screen, theme: .monochrome, cases: nil)
        app.state = stateWithRecord(model: false)
        app.renderFrame()
        guard let (x, y) = screen.lastFrame.find("V4") else { Issue.record("no V4 label"); return }
        app.handle(.mouse(MouseEvent(x: x + 3, y: y + 2, button: .left)))
        #expect(app.state.selectedLead == .v4)
        #expect(app.state.cursorSeconds >= 7.5 && app.state.cursorSeconds < 10)
        screen.resize(width: 80, height: 24)
        if let e = screen.nextEvent(timeoutMilliseconds: 0) { app.handle(e) }
        app.renderFrame()
        #expect(screen.lastFrame.width == 80 && screen.text.contains(" Traces "))
        screen.resize(width: 60, height: 20)
        app.renderFrame()
        #expect(screen.lastFrame.row(0).contains("small terminal 60×20"))
    }

    @Test func opensSampleDataAndMovesBetweenCases() throws {
        let samples = repoRoot().appendingPathComponent("sample-data")
        guard FileManager.default.fileExists(atPath: samples.path) else { return }
        let files = CaseDiscovery.ecgFiles(in: samples)
        #expect(files.count >= 10)
        let screen = GridScreen(width: 120, height: 40)
        let app = WorkstationApp(screen: screen, theme: .monochrome, cases: nil)
        app.open(samples)
        #expect(app.waitForBackgroundWork())
        app.renderFrame()
        #expect(screen.lastFrame.row(0).contains("1/\(files.count)"))
        app.handle(.key(.character("n")))
        #expect(app.waitForBackgroundWork())
        app.renderFrame()
        #expect(screen.lastFrame.row(0).contains("2/\(files.count)"))
        #expect(app.state.current != nil, "\(app.state.loadError ?? "")")
    }
}
