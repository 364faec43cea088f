import CaseAnalysis
import CardiacModels
import ECGFormats
import Foundation
import Imaging
import Testing
@testable import CMRExport

/// `--anatomy range`: recorded in the export options only when asked for (earlier manifests decode
/// and compare unchanged), and refused with a typed error by a bundle that predicts no intervals.
@Suite struct AnatomyOptionTests {
    @Test func pointEstimateLeavesTheOptionsAsBeforeAndRangeRoundTrips() throws {
        let point = ExportOptions(seed: 3)
        let json = String(decoding: try JSONEncoder().encode(point), as: UTF8.self)
        #expect(!json.contains("anatomy"), "the default writes no new key: \(json)")
        #expect(try JSONDecoder().decode(ExportOptions.self, from: Data(json.utf8)) == point)
        let range = ExportOptions(seed: 3, anatomy: .withinInterval80)
        let back = try JSONDecoder().decode(ExportOptions.self, from: try JSONEncoder().encode(range))
        #expect(back.anatomy == .withinInterval80 && back != point)
    }

    @Test func aBundleWithoutIntervalsRefusesTheRangeDraw() throws {
        let url = try #require(Bundle.module.url(forResource: "bundle-tiny", withExtension: nil, subdirectory: "Fixtures"))
        let pipeline = try CardiacPipeline(bundle: try ModelBundle.load(from: url))
        #expect(!pipeline.canDrawAnatomyRange)
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("anatomy-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let exporter = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: ExportOptions(seed: 3, size: 32, anatomy: .withinInterval80))
        do {
            _ = try exporter.export(record: record, into: out)
            Issue.record("a bundle without intervals exported a range draw")
        } catch let e as CMRExportError {
            #expect("\(e)".contains("--anatomy point"), "\(e)")
        }
    }
}
