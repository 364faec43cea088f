import Foundation
import Testing
@testable import CardiacModels
import ECGFormats
@testable import Workstation

// Model v2 honesty on screen: the out-of-distribution warning, weak phenotypes styled as weak
// risk heads, the conditional subtype line and the generator's measured informativeness.

@Test func outOfDistributionWarningLeadsTheBannerAtEveryWidth() {
    var s = stateWithRecord(model: true)
    s.analysis?.outOfDistribution = OutOfDistributionVerdict(score: 7.5, embeddingDistance: 900, inputDistance: 4000,
                                                             embeddingThreshold: 120, inputThreshold: 800)
    for width in [80, 120, 200] {
        let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: width, height: 40), theme: .monochrome)
        #expect(grid.row(1).contains("OUT OF DISTRIBUTION"), "width \(width): \(grid.row(1))")
    }
    s.analysis?.outOfDistribution?.score = 0.4
    let (inside, _) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
    #expect(!inside.text.contains("OUT OF DISTRIBUTION"))
    #expect(inside.row(1).contains("SYNTHETIC DEMO MODEL"))
}

@Test func weakPhenotypeIsMarkedWeak() {
    var s = stateWithRecord(model: true)
    s.analysis?.phenotypes[1].isWeak = true
    s.focus = .phenotypes
    let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
    let row = grid.text.split(separator: "\n").first { $0.contains("LV end-diastolic volume") } ?? ""
    #expect(row.contains("weak"), "\(row)")
    let other = grid.text.split(separator: "\n").first { $0.contains("LV ejection fraction") } ?? ""
    #expect(!other.contains("weak"), "\(other)")
}

@Test func subtypeLineIsConditionalAndComplete() {
    let s = stateWithRecord(model: true)
    for width in [80, 120, 200, 250] {
        var t = s
        t.focus = .risks
        let (grid, _) = WorkstationRenderer.render(t, size: GridSize(width: width, height: 40), theme: .monochrome)
        let rows = grid.text.split(separator: "\n").map(String.init)
        let at = rows.firstIndex { $0.contains("if cardiomyopathy:") }
        #expect(at != nil, "width \(width): no conditional subtype line")
        let lines = at.map { rows[$0...min($0 + 1, rows.count - 1)].joined(separator: " ") } ?? ""
        #expect(lines.contains("RCM 0.10"), "width \(width): the last subtype must not be cut off")
    }
}

@Test func generatorInformativenessIsShownUnderTheCine() {
    var s = stateWithRecord(model: true)
    let frame = [Float](repeating: 0.5, count: 16 * 16)
    let loop = { (v: CMRView) in CineLoop(view: v, width: 16, height: 16, frames: [frame, frame], phases: [0, 0.5]) }
    s.cmr = GeneratedCMR(modelID: "demo-test", seed: 1, sax: loop(.sax), lax: loop(.lax))
    s.generatorInformativeness = "measured: generated EF agrees with the true EF at r = 0.52"
    s.focus = .cmr
    let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: 80, height: 24), theme: .monochrome)
    #expect(grid.text.contains("generated EF agrees with the true EF at r = 0.52"))
}
