import Foundation
import Testing
@testable import CardiacModels
import CaseAnalysis
@testable import Workstation

/// Layout by measurement on the terminal grid, at the three sizes the user guide names: with the
/// demo bundle's 11 risks and 29 phenotypes (flagged, weak and plain rows), in every pane and the
/// help overlay, nothing is cut ("…" nowhere on screen), nothing is written over a panel border
/// (every box edge runs unbroken from corner to corner), the phenotype flag column shows whole
/// flags, and the banner is whole and still says "demo model".
@Suite struct GridLayoutTests {
    static let sizes = [GridSize(width: 80, height: 24), GridSize(width: 120, height: 40), GridSize(width: 200, height: 60)]

    static func demoState() -> WorkstationState {
        var s = stateWithRecord(model: true)
        s.model = .loaded(id: "demo-v2", isSynthetic: true, disclaimer: "synthetic")
        var a = syntheticAnalysis()
        a.risks = HeadCommandTests.demoRisks.enumerated().map { i, r in
            let p = [0.43, 0.66, 0.99, 0.16, 0.13, 0.49, 0.23, 0.85, 0.78, 0.33, 0.65][i]
            let auc = [0.76, 0.88, 0.97, 0.90, 0.65, 0.94, 0.93, 0.85, 0.61, 0.51, 0.63][i]
            return RiskScore(target: HeadTarget(head: "risk", output: r.0), label: r.1, probability: p, validationAUC: auc,
                             isWeak: auc < 0.65, bands: [0.3, 0.6], band: p >= 0.6 ? .high : p >= 0.3 ? .intermediate : .low)
        }
        a.phenotypes = demoPhenotypeLabels.enumerated().map { i, label in
            let unit = label.contains("volume") ? "mL" : label.contains("fraction") ? "%" : label.contains("mass") ? "g"
                : label.contains("output") ? "L/min" : "mm"
            let value = [127, 40.7, 71.0, 90.9, 6.24, 221, 13.9][i % 7] as Double
            var p = PhenotypeValue(target: HeadTarget(head: "phenotype", output: "p\(i)"), label: label, value: value, unit: unit,
                                   referenceRange: 5.37...9.89, validationR: i % 5 == 4 ? 0.27 : 0.71, isOutOfRange: i % 3 == 0)
            // The calibrated 80 % interval (demo-v2 has one for every phenotype): the widest column set.
            p.interval80 = (value * 0.83)...(value * 1.17)
            return p
        }
        // An ECG that suggests DCM: its intervals are the DCM cell's, and the panel says so.
        a.intervalCell = "dcm"
        s.analysis = a
        // A cine and the model's measured generator statement (the CMR pane's longest texts).
        func loop(_ view: CMRView, _ size: Int) -> CineLoop {
            let frames = (0..<3).map { f in (0..<(size * size)).map { i in Float((i % size + f * 7) % size) / Float(size - 1) } }
            return CineLoop(view: view, width: size, height: size, frames: frames, phases: [0, 0.33, 0.66])
        }
        s.cmr = GeneratedCMR(modelID: "demo-v2", seed: 1, sax: loop(.sax, 80), lax: loop(.lax, 96))
        s.generatorInformativeness = "measured: generated EF agrees with the true EF at r = 0.65, ED area with the true EDV at r = 0.71 (1000 synthetic subjects)"
        return s
    }

    /// Problems on one rendered grid: cut text, borders written over, a cut flag, a cut banner.
    /// `boxes: false` where an overlay covers panels on purpose (the help): only cut text counts there.
    static func problems(_ grid: CellGrid, boxes: Bool = true) -> [String] {
        var out: [String] = []
        let rows = (0..<grid.height).map { grid.row($0) }
        for (y, row) in rows.enumerated() where row.contains("…") { out.append("cut at row \(y): \(row)") }
        func at(_ x: Int, _ y: Int) -> Character {
            let r = Array(rows[y]); return x < r.count ? r[x] : " "
        }
        for y in 0..<grid.height where boxes {
            let r = Array(rows[y])
            for x in r.indices where r[x] == "┌" || r[x] == "┐" {
                // Down the edge to the bottom corner: only "│" in between.
                let bottom: Character = r[x] == "┌" ? "└" : "┘"
                var yy = y + 1
                while yy < grid.height, at(x, yy) == "│" { yy += 1 }
                if yy >= grid.height || at(x, yy) != bottom { out.append("box edge at column \(x) from row \(y) broken at row \(yy): \(yy < grid.height ? rows[yy] : "")") }
            }
        }
        return out
    }

    @Test(arguments: sizes)
    func nothingCutNothingOverlapping(size: GridSize) {
        var s = Self.demoState()
        var checked = 0
        for focus in PaneID.allCases {
            for scroll in [0, 10, 20] {
                s.focus = focus
                s.scroll[.phenotypes] = scroll
                let (grid, _) = WorkstationRenderer.render(s, size: size, theme: .monochrome)
                let p = Self.problems(grid)
                #expect(p.isEmpty, "\(size) \(focus) scroll \(scroll): \(p.prefix(5))")
                #expect(grid.row(1).lowercased().contains("demo model"), "\(size): banner \(grid.row(1))")
                checked += 1
            }
        }
        #expect(checked == PaneID.allCases.count * 3)
    }

    @Test(arguments: sizes)
    func phenotypeFlagsAreWhole(size: GridSize) {
        var s = Self.demoState()
        s.focus = .phenotypes
        let (grid, _) = WorkstationRenderer.render(s, size: size, theme: .monochrome)
        let text = grid.text
        // Every out-of-range phenotype on screen carries a whole flag: "▲ HIGH"/"weak▲" or the compact "▲"/"w▲".
        // Every third demo phenotype is out of range: the visible ones show their flag.
        let flagged = text.split(separator: "\n").filter { $0.contains("▲") || $0.contains("▼") }
        #expect(flagged.count >= 3, "\(size): flags missing from the phenotype rows")
        for row in flagged { #expect(!row.contains("▲…") && !row.contains("▼…"), "\(size): \(row)") }
    }

    @Test(arguments: sizes)
    func intervalsCalibratedOnADiseaseGroupSaySo(size: GridSize) {
        var s = Self.demoState()
        s.focus = .phenotypes
        let text = WorkstationRenderer.render(s, size: size, theme: .monochrome).0.text
        #expect(text.contains("suggesting DCM") || text.contains("DCM-calibrated") || text.contains("DCM intervals"),
                "\(size): the phenotype panel does not say its intervals are the DCM group's")
        var none = s
        none.analysis?.intervalCell = "none"
        let plain = WorkstationRenderer.render(none, size: size, theme: .monochrome).0.text
        #expect(!plain.contains("DCM-calibrated") && !plain.contains("suggesting DCM") && !plain.contains("DCM intervals"))
    }

    @Test(arguments: sizes)
    func helpWrapsEveryDescription(size: GridSize) {
        var s = Self.demoState()
        s.showHelp = true
        var all = ""
        var pages = 0
        for page in 0..<6 {
            s.helpPage = page
            let (grid, _) = WorkstationRenderer.render(s, size: size, theme: .monochrome)
            #expect(Self.problems(grid, boxes: false).isEmpty, "\(size) help page \(page): \(Self.problems(grid, boxes: false).prefix(3))")
            #expect(grid.row(1).lowercased().contains("demo model"), "\(size) help page \(page): the overlay hides the banner")
            let text = grid.text
            if all.contains(text) { break }
            all += text
            pages += 1
        }
        // Every word of every description is on some page (wrapped, not cut).
        let words = Set(all.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "│" }).map(String.init))
        for b in WorkstationAction.keyMap.sections.flatMap(\.bindings) {
            for w in b.summary.split(separator: " ").map(String.init) where !words.contains(w) {
                // A word longer than the column is split across lines: its pieces are on the page in order.
                #expect(all.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: "").contains(w) || w.count > 20,
                        "\(size): help lacks \"\(w)\" of \"\(b.summary)\"")
            }
        }
        #expect(pages >= 1)
    }

    @Test func bannerKeepsDemoModelAndTheOutOfDistributionMark() {
        for width in 30...200 {
            let plain = WorkstationRenderer.bannerText(outside: nil, modelID: "demo-v2", width: width)
            #expect(plain.lowercased().contains("demo model") && plain.unicodeScalars.count <= width, "\(width): \(plain)")
            let ood = WorkstationRenderer.bannerText(outside: 3.2, modelID: "demo-v2", width: width)
            #expect(ood.lowercased().contains("out of distribution") && ood.lowercased().contains("demo model"), "\(width): \(ood)")
            #expect(ood.unicodeScalars.count <= width, "\(width): \(ood)")
        }
    }
}
