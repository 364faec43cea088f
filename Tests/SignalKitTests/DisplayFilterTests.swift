import ECGFormats
import Foundation
import TestSupport
import Testing
@testable import SignalKit

/// Issue 22: the display filters have no edge transient. A 10 s excerpt of a long real record
/// filtered alone must match the same 10 s filtered inside the whole record (what the reader sees
/// scrolling the TUI, or printing a window, must not depend on where the excerpt was cut).
@Suite struct DisplayFilterTests {
    /// Max |error| of every consecutive 10 s excerpt against the whole record, over all leads.
    static func excerptErrors(_ record: ECGRecord, filter: DisplayFilter) throws -> [Double] {
        let whole = try filter.apply(to: record)
        let n = Int(10 * record.samplingRate)
        var errors: [Double] = []
        var start = 0
        while start + n <= record.sampleCount {
            var excerpt = record
            for k in excerpt.leads.indices { excerpt.leads[k].millivolts = Array(record.leads[k].millivolts[start..<(start + n)]) }
            let part = try filter.apply(to: excerpt)
            var worst = 0.0
            for (a, b) in zip(part.leads, whole.leads) {
                for t in 0..<n { worst = max(worst, abs(Double(a.millivolts[t]) - Double(b.millivolts[start + t]))) }
            }
            errors.append(worst)
            start += n
        }
        return errors
    }

    @Test func tenSecondExcerptsMatchTheWholeRecord() throws {
        for name in ["100.hea", "s0010_re.hea"] {
            let record = try ECGFileReader.read(url: TestEnvironment.records.appendingPathComponent(name))
            let errors = try Self.excerptErrors(record, filter: .diagnostic)
            let med = errors.sorted()[errors.count / 2], worst = errors.max() ?? .infinity
            print("[filter-edge] \(name): \(errors.count) excerpts of 10 s, diagnostic filter, max |error| median \(med) mV, worst \(worst) mV")
            #expect(med <= 0.06 && worst <= 0.4, "\(name): median \(med), worst \(worst)")
        }
    }

    @Test func settlingTimeAndNamesAndGaps() throws {
        // The 0.67 Hz high-pass at 500 Hz settles (to 1e-4) in about 3.2 s; the pad is at least that.
        let design = try #require(try DisplayFilter.diagnostic.design(samplingRate: 500))
        let settle = Double(design.sections.settlingSamples()) / 500
        #expect(settle > 2.5 && settle < 4, "\(settle) s")
        #expect(design.description.hasPrefix("0.67–150 Hz"))
        #expect(try DisplayFilter.diagnostic.design(samplingRate: 250)?.description.hasPrefix("0.67 Hz high-pass") == true)
        #expect(DisplayFilter(name: "off") == .off && DisplayFilter(name: "none") == .off && DisplayFilter(name: "Monitor") == .monitor)
        #expect(DisplayFilter(name: "0.5-40") == .monitor && DisplayFilter(name: "bogus") == nil)
        #expect(throws: SignalError.self) { try DisplayFilter.notch60.design(samplingRate: 100) }
        // A missing sample stays a gap and does not spread: the runs on each side are filtered apart.
        var x = (0..<5000).map { Float(sin(Double($0) * 0.05)) }
        for i in 2000..<2010 { x[i] = .nan }
        let record = ECGRecord(leads: [Lead(id: .ii, millivolts: x)], samplingRate: 500, metadata: ECGMetadata(),
                               provenance: Provenance(format: .csv, path: "/tmp/gap.csv", sha256: ""))
        let y = try DisplayFilter.diagnostic.apply(to: record).leads[0].millivolts
        #expect(y[2000..<2010].allSatisfy { $0.isNaN })
        let finite = y[0..<2000].allSatisfy { $0.isFinite } && y[2010...].allSatisfy { $0.isFinite }
        #expect(finite)
    }
}
