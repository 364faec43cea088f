import Foundation
import Testing
@testable import CardiacModels
import ECGFormats
@testable import Workstation

// An out-of-distribution ECG on screen: the risk and phenotype panels say its outputs are
// withheld (no bar, no HIGH, no ▲/▼) until `u` shows them greyed and labelled unreliable; the
// banner keeps "out of distribution" and "demo model" at every width.

private func outsideState() -> WorkstationState {
    var s = stateWithRecord(model: true)
    s.analysis?.outOfDistribution = OutOfDistributionVerdict(score: 3.2, embeddingDistance: 900, inputDistance: 4000,
                                                             embeddingThreshold: 120, inputThreshold: 800)
    return s
}

private let sizes = [GridSize(width: 80, height: 24), GridSize(width: 120, height: 40), GridSize(width: 200, height: 60)]

@Test func withheldPanelsDrawNoFinding() {
    for size in sizes {
        for focus in [PaneID.risks, .phenotypes] {
            var s = outsideState()
            s.focus = focus
            let (grid, _) = WorkstationRenderer.render(s, size: size, theme: .monochrome)
            let text = grid.text
            #expect(text.contains("withheld: out of distribution"), "\(size) \(focus)")
            #expect(!text.contains("HIGH") && !text.contains("▲") && !text.contains("▼") && !text.contains("█"), "\(size) \(focus)")
            #expect(!text.contains("Coronary artery disease") && !text.contains("LV ejection fraction"), "\(size) \(focus)")
        }
    }
    // The statement is wrapped at words, never cut ("…") — at 120×40 the panel is 42 columns.
    for size in sizes {
        var s = outsideState()
        s.focus = .risks
        let text = WorkstationRenderer.render(s, size: size, theme: .monochrome).0.text
        #expect(text.contains("unlike the model's training") && text.contains("u: show them greyed"), "\(size)")
        #expect(!text.contains("…"), "\(size): a withheld statement is cut")
    }
    // Inside the distribution the same analysis draws its findings (so the check can fail).
    var inside = stateWithRecord(model: true)
    inside.focus = .risks
    let (grid, _) = WorkstationRenderer.render(inside, size: GridSize(width: 200, height: 60), theme: .monochrome)
    #expect(grid.text.contains("HIGH") && grid.text.contains("█"))
}

@Test func showUnreliableGreysTheRows() {
    var s = outsideState()
    s.showUnreliable = true
    for size in sizes {
        var t = s
        t.focus = .risks
        let (grid, _) = WorkstationRenderer.render(t, size: size, theme: .standard)
        let rows = grid.text.split(separator: "\n").map(String.init)
        #expect(grid.text.contains(OutOfDistributionVerdict.unreliableLabel), "\(size)")
        #expect(!grid.text.contains("HIGH") && !grid.text.contains("█"), "\(size)")
        let cad = rows.firstIndex { $0.contains("CAD") || $0.contains("Coronary") }
        #expect(cad != nil, "\(size): rows not shown")
        // Every cell of the head rows is in the weak (grey) style: none is drawn as a finding.
        if let y = cad {
            #expect(rows[y].contains("unrel"), "\(size): \(rows[y])")
            let styles = (0..<size.width).map { grid[$0, y].style }
            #expect(!styles.contains(Theme.standard.riskHigh), "\(size): a risk cell in the HIGH style")
        }
        t.focus = .phenotypes
        let (pg, _) = WorkstationRenderer.render(t, size: size, theme: .monochrome)
        #expect(pg.text.contains(OutOfDistributionVerdict.unreliableLabel), "\(size)")
        let lvef = pg.text.split(separator: "\n").first { $0.contains("LV EF") || $0.contains("LV ejection") } ?? ""
        #expect(!lvef.isEmpty && !lvef.contains("LOW") && !lvef.contains("▼"), "\(size): \(lvef)")
    }
}

@Test func unreliableKeyIsInTheKeyMap() {
    let bindings = WorkstationAction.keyMap.bindings.filter { $0.action == .toggleUnreliable }
    #expect(bindings.count == 1)
    #expect(bindings.first?.keys == [.character("u")])
}

@Test func bannerKeepsOutOfDistributionAndDemoModelUncut() {
    for width in [20, 30, 40, 60, 78, 80, 118, 198] {
        let text = WorkstationRenderer.bannerText(outside: 3.2, modelID: "demo-v2", width: width)
        #expect(text.lowercased().contains("out of distribution"), "\(width): \(text)")
        #expect(text.lowercased().contains("demo model"), "\(width): \(text)")
        if width >= 30 { #expect(text.unicodeScalars.count <= width, "\(width): \(text)") }
        let inside = WorkstationRenderer.bannerText(outside: nil, modelID: "demo-v2", width: width)
        #expect(inside.lowercased().contains("demo model") && !inside.lowercased().contains("distribution"))
    }
    let s = outsideState()
    for size in sizes {
        let (grid, _) = WorkstationRenderer.render(s, size: size, theme: .monochrome)
        let banner = grid.row(1).lowercased()
        #expect(banner.contains("out of distribution") && banner.contains("demo model") && !banner.contains("…"), "\(size): \(banner)")
    }
}

@Test func userGuideKeyTableIsGeneratedFromTheKeyMap() throws {
    // docs/user-guide.md carries `ecg2cmr view --key-table` verbatim: a key added to the map (u)
    // without regenerating the table fails here.
    let guide = try String(contentsOf: repoRoot().appendingPathComponent("docs/user-guide.md"), encoding: .utf8)
    let table = WorkstationAction.keyMap.markdownTable.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(guide.contains(table))
    #expect(table.contains("| `u` | Model |"))
}
