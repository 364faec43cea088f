import Foundation
import Testing
@testable import ECGFormats

/// Multi-frequency, skewed and multi-segment WFDB records (Fixtures/wfdb-complete, written by
/// make_fixtures.py with wfdb-python) equal what wfdb.rdrecord returns, within 1 µV.
@Suite struct WFDBCompletenessTests {
    static func fixture(_ name: String) throws -> URL { try Paths.fixture("wfdb-complete/" + name) }

    /// The reference CSV: a header of signal names, then rows of mV ("nan" where rdrecord gives NaN).
    static func reference(_ name: String) throws -> (names: [String], columns: [[Double]]) {
        let text = try String(contentsOf: try fixture(name), encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        let names = lines.removeFirst().split(separator: ",").map(String.init)
        var cols = names.map { _ in [Double]() }
        for line in lines {
            for (k, v) in line.split(separator: ",").enumerated() { cols[k].append(Double(v) ?? .nan) }
        }
        return (names, cols)
    }

    static func expectEqual(_ record: ECGRecord, _ ref: (names: [String], columns: [[Double]]), _ what: String) {
        let stored = record.storedLeadsInFileOrder
        #expect(stored.map(\.id.description) == ref.names.map { LeadID(parsing: $0).description }, "\(what) leads")
        for (lead, col) in zip(stored, ref.columns) {
            #expect(lead.millivolts.count == col.count, "\(what) \(lead.id) length")
            var worst = 0.0
            for (a, b) in zip(lead.millivolts, col) {
                if b.isNaN { #expect(a.isNaN, "\(what) \(lead.id): NaN expected"); continue }
                worst = max(worst, abs(Double(a) - b))
            }
            #expect(worst <= 0.001, "\(what) \(lead.id): \(worst * 1000) µV from wfdb.rdrecord")
        }
    }

    @Test(arguments: ["multifreq16", "multifreq212"])
    func multiFrequencyAveragesFramesLikeRdrecord(_ name: String) throws {
        let url = try Self.fixture(name + ".hea")
        let record = try WFDBReader().read(url: url)
        #expect(record.samplingRate == 250)
        Self.expectEqual(record, try Self.reference(name + ".csv"), name)
        let expanded = try WFDBReader(expandFrames: true).read(url: url)
        #expect(expanded.samplingRate == (name == "multifreq16" ? 1000 : 750))
        Self.expectEqual(expanded, try Self.reference(name + ".expanded.csv"), name + " expanded")
    }

    @Test func skewShiftsSignalsLikeRdrecord() throws {
        Self.expectEqual(try WFDBReader().read(url: try Self.fixture("skew.hea")), try Self.reference("skew.csv"), "skew")
    }

    @Test(arguments: ["varseg", "fixseg"])
    func multiSegmentRecordsJoinLikeRdrecord(_ name: String) throws {
        let record = try WFDBReader().read(url: try Self.fixture(name + ".hea"))
        Self.expectEqual(record, try Self.reference(name + ".csv"), name)
        if name == "varseg" { #expect(record.metadata.ageYears == 61 && record.metadata.sex == .female) }
    }

    @Test func missingSegmentIsATypedError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wfdbseg-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("multi.hea")
        try "multi/2 12 500 1000\nseg1 500\nseg2 500\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: ECGFormatError.self) { try WFDBReader().read(url: url) }
        try "multi/2 12 500 1000\n../seg1 500\nseg2 500\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: ECGFormatError.self) { try WFDBReader().read(url: url) }
    }
}
