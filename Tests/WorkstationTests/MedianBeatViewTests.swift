import ECGFormats
import Foundation
import SignalKit
import Testing
@testable import Workstation

/// Key m: the selected lead's median beat with ecg2cmr's marks (│, letters above) and the
/// device's (┊, letters below) laid from ecg2cmr's QRS onset.
@Suite struct MedianBeatViewTests {
    let muse = repoRoot().appendingPathComponent("tests/records/example-muse.xml")

    func render(_ record: ECGRecord, size: GridSize = GridSize(width: 120, height: 40)) throws -> (CellGrid, LoadedCase) {
        var s = WorkstationState()
        s.cases = [muse]
        let c = LoadedCase(url: muse, record: record)
        s.current = c
        s.model = .none(reason: "no model loaded")
        s.selectedLead = .ii
        s.medianBeatShown = true
        return (WorkstationRenderer.render(s, size: size, theme: .monochrome).0, c)
    }

    /// Columns of the plot holding `glyph` on the row below the letters.
    func columns(_ grid: CellGrid, glyph: Unicode.Scalar, row: Int) -> [Int] {
        (0..<grid.width).filter { grid[$0, row].scalar == glyph }
    }

    @Test func bothSetsOfMarksSitWhereTheirIntervalsSay() throws {
        var record = try ECGFileReader.read(url: muse)
        // Move the device's QT 60 ms later than ecg2cmr's: its T mark must move right of ours
        // and the disagreement must be named.
        let m = try #require(GlobalMeasurer.measure(record).summary)
        var device = try #require(record.metadata.deviceMeasurements)
        device.qtMs = try #require(m.qtMs) + 60
        device.prMs = m.prMs
        device.qrsMs = m.qrsMs
        record.metadata.deviceMeasurements = device
        let (grid, c) = try render(record)
        let text = grid.text
        #expect(text.contains("Median beat II"))
        #expect(text.contains("│ ecg2cmr P -"), "\(text)")
        #expect(text.contains("laid from ecg2cmr's QRS onset"))
        #expect(text.contains("QT"), "the QT disagreement is named")
        let f = try #require(c.measurements?.fiducials)
        #expect(c.measurements?.beats != nil)
        // Letters: ours on the row above the plot, the device's on the row below it.
        let titleRow = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("Median beat II") })
        let topRow = titleRow + 1
        let ourColumns = columns(grid, glyph: "│", row: topRow + 1).filter { $0 < 76 }
        #expect(ourColumns.count == 4, "P onset, QRS onset, QRS end, T end: \(ourColumns)")
        let deviceColumns = columns(grid, glyph: "┊", row: topRow + 1)
        #expect(!deviceColumns.isEmpty)
        // Columns are linear in ms: our P onset and T end give the scale; the device's T end is
        // 60 ms right of ours.
        let ourP = try #require(ourColumns.min()), ourT = try #require(ourColumns.max())
        let msPerColumn = (try #require(f.tOffsetMs) - (try #require(f.pOnsetMs))) / Double(ourT - ourP)
        let deviceT = try #require(deviceColumns.max())
        #expect(deviceT > ourT)
        #expect(abs(Double(deviceT - ourT) * msPerColumn - 60) <= 1.5 * msPerColumn,
                "device T \(deviceT), ours \(ourT), \(msPerColumn) ms per column")
    }

    @Test func agreementAndAbsenceAreSaid() throws {
        let record = try ECGFileReader.read(url: muse)
        let (grid, _) = try render(record)
        #expect(grid.text.contains("agree within tolerance"))
        var bare = record
        bare.metadata.deviceMeasurements = nil
        let (g2, _) = try render(bare)
        #expect(g2.text.contains("this file carries no device measurements"))
        #expect(!g2.text.contains("┊"))
    }

    @Test func narrowTerminalsKeepEveryLineWhole() throws {
        let record = try ECGFileReader.read(url: muse)
        let (grid, _) = try render(record, size: GridSize(width: 80, height: 24))
        let lines = grid.text.split(separator: "\n")
        let legend = try #require(lines.first { $0.contains("│ ecg2cmr") })
        #expect(!legend.contains("…"), "a shorter form fits: \(legend)")
        #expect(lines.contains { $0.contains("Median beat II") && !$0.contains("…") })
    }

    @Test func keyMOpensTheMedianBeat() throws {
        #expect(WorkstationAction.keyMap.action(for: .character("m")) == .toggleMedianBeat)
    }
}
