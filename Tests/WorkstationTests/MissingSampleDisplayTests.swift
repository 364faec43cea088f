import ECGFormats
import Foundation
import SignalKit
import Testing
@testable import Workstation

/// Issue 23: a NaN (missing) or huge sample in the shown window trapped in `Int(…)` (SIGILL in
/// TraceView.swift); now NaN is a gap in the trace and off-scale values are pinned off the panel.
@Suite struct MissingSampleDisplayTests {
    func record(_ i: [Float]) throws -> ECGRecord {
        let ii = [Float](repeating: 0.1, count: i.count)
        return try ECGRecord.canonical(storedLeads: [Lead(parsing: "I", millivolts: i), Lead(parsing: "II", millivolts: ii)],
                                       samplingRate: 500, metadata: ECGMetadata(),
                                       provenance: Provenance(format: .csv, path: "/x/a.csv", sha256: ""))
    }

    func dots(_ record: ECGRecord, lead: LeadID = .i) -> [(x: Int, y: Int)] {
        var grid = CellGrid(width: 200, height: 40)
        let drawn = TraceView.render(record: record, layout: .single(lead), settings: PaperSettings(), overlay: TraceOverlay(),
                                     into: &grid, area: Rect(x: 0, y: 0, width: 200, height: 40), theme: .monochrome)
        guard let region = drawn.regions.first else { return [] }
        return brailleDots(grid, region.rect)
    }

    @Test func aMissingStretchIsAGapAndNothingTraps() throws {
        var samples = (0..<5000).map { Float(sin(Double($0) / 40)) }
        for k in 2000..<2600 { samples[k] = .nan }
        let drawn = dots(try record(samples))
        #expect(!drawn.isEmpty)
        // 600 of 5000 samples (12 % of the width) are missing: no dot in the middle of that stretch.
        let width = (drawn.map(\.x).max() ?? 0) + 1
        let lo = Int(Double(width) * 0.42), hi = Int(Double(width) * 0.50)
        #expect(!drawn.contains { $0.x > lo && $0.x < hi }, "dots drawn across the gap")
        #expect(drawn.contains { $0.x < lo } && drawn.contains { $0.x > Int(Double(width) * 0.54) })
    }

    @Test func hugeAndAllMissingLeadsDrawWithoutTrapping() throws {
        var huge = [Float](repeating: 0.1, count: 5000)
        for k in stride(from: 0, to: 5000, by: 97) { huge[k] = k % 2 == 0 ? 3.4e38 : -3.4e38 }
        _ = dots(try record(huge))
        _ = dots(try record([Float](repeating: .nan, count: 5000)))
        _ = dots(ECGRecord(leads: [Lead(parsing: "I", millivolts: [.infinity, -.infinity, .nan, 1])], samplingRate: 500,
                           metadata: ECGMetadata(), provenance: Provenance(format: .csv, path: "/x", sha256: "")))
    }

    /// The header says when the measurements were made around a gap (the full statement, with the
    /// time, is in `info` and the report): a real record with 0.4 s of V2 missing.
    @Test func theHeaderSaysTheMeasurementsSkippedAGap() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let clean = try ECGFileReader.read(url: root.appendingPathComponent("tests/records/cinc2021/E07500.hea"))
        var record = clean
        let k = try #require(record.leads.firstIndex { $0.id == .v2 })
        for t in 2000..<2200 { record.leads[k].millivolts[t] = .nan }
        let m = try GlobalMeasurer.measure(record)
        #expect(WorkstationRenderer.headerGaps(m) == "measured around gap: V2")
        #expect(WorkstationRenderer.headerGaps(m, compact: true) == "gap V2")
        #expect(WorkstationRenderer.headerGaps(try GlobalMeasurer.measure(clean)) == nil)
    }
}
