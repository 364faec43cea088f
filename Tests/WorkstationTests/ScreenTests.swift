import Foundation
import Testing
@testable import Workstation

@Suite struct CellGridTests {
    @Test func writesAreClippedAndTruncated() {
        var g = CellGrid(width: 10, height: 2)
        #expect(g.write("hello world", x: 3, y: 0, style: .plain) == 7)
        #expect(g.row(0) == "   hello w")
        g.write("x", x: -1, y: 5, style: .plain)  // outside: ignored, no crash
        g.writeTruncated("abcdefghijkl", x: 0, y: 1, width: 5, style: .plain)
        #expect(g.row(1).hasPrefix("abcd…"))
    }

    @Test func diffSendsOnlyChangedCells() {
        let screen = GridScreen(width: 20, height: 5)
        var a = CellGrid(width: 20, height: 5)
        a.write("ECG", x: 0, y: 0, style: .plain)
        screen.present(a)
        #expect(screen.lastChangedCells == 100)  // first frame: everything
        var b = a
        b.write("EKG", x: 0, y: 0, style: .plain)
        screen.present(b)
        #expect(screen.lastChangedCells == 1)
        b.restyle(x: 5, y: 3) { $0.attributes = .bold }
        #expect(b.changedRuns(since: a).map(\.length) == [1, 1])
    }

    @Test func brailleDotsFollowTheDrawilleLayout() {
        var c = BrailleCanvas(widthCells: 2, heightCells: 1)
        c.set(x: 0, y: 0)
        #expect(c.glyph(cellX: 0, cellY: 0) == "\u{2801}")
        c.set(x: 1, y: 3)
        #expect(c.glyph(cellX: 0, cellY: 0) == "\u{2881}")
        #expect(c.glyph(cellX: 1, cellY: 0) == nil)
        c.line(x0: 0, y0: 0, x1: 3, y1: 3)
        #expect(c.isSet(x: 2, y: 2) && c.isSet(x: 3, y: 3))
    }

    @Test func noColorSelectsMonochrome() {
        #expect(Theme.fromEnvironment(["NO_COLOR": "1"]).isMonochrome)
        #expect(!Theme.fromEnvironment(["NO_COLOR": ""]).isMonochrome)
        #expect(!Theme.fromEnvironment([:]).isMonochrome)
    }

    @Test func colourDegradesToTheGreyRampAndCube() {
        #expect(TerminalScreen.nearest256(128, 128, 128) == 244)
        #expect(TerminalScreen.nearest256(255, 0, 0) == 196)
        #expect(TerminalScreen.nearestANSI((250, 250, 250)) == 15)
    }
}

@Suite struct KeyMapTests {
    @Test func everyKeyHasOneMeaning() {
        var seen: [Key: WorkstationAction] = [:]
        for b in WorkstationAction.keyMap.bindings {
            for k in b.keys {
                #expect(seen[k] == nil, "key \(k) bound twice")
                seen[k] = b.action
            }
        }
        #expect(WorkstationAction.keyMap.action(for: .character("g")) == .toggleGradCAM)
        #expect(WorkstationAction.keyMap.action(for: .ctrl("c")) == .quit)
    }

    @Test func helpOverlayListsEveryBinding() throws {
        var s = stateWithRecord(model: true)
        s.showHelp = true
        let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: 200, height: 60), theme: .monochrome)
        for b in WorkstationAction.keyMap.bindings {
            #expect(grid.text.contains(b.summary), "help lacks \(b.summary)")
            #expect(grid.text.contains(b.keyLabel), "help lacks keys \(b.keyLabel)")
        }
        try expectSnapshot(grid.text, named: "help-200x60")
    }

    @Test func keyScriptsParse() {
        #expect(WorkstationLauncher.parseKeys("g<Tab>:q<Enter>") == [.character("g"), .tab, .character(":"), .character("q"), .enter])
    }
}
