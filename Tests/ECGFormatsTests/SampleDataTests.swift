import Foundation
import Testing
@testable import ECGFormats

/// Every ECG file the cohort writes into sample-data/ must read: 10 s, 500 Hz, the 12 standard leads.
@Suite struct SampleDataTests {
    static let ecgFiles: [String] = {
        guard let folders = try? FileManager.default.contentsOfDirectory(atPath: Paths.sampleData.path) else { return [] }
        var files: [String] = []
        for folder in folders.sorted() where folder.hasPrefix("P") {
            let dir = Paths.sampleData.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for name in names.sorted() where name.hasPrefix("ecg") && !name.hasSuffix(".dat") {
                files.append(folder + "/" + name)
            }
        }
        return files
    }()

    @Test func sampleDataHasECGFiles() {
        #expect(Self.ecgFiles.count >= 14, "found \(Self.ecgFiles)")
    }

    @Test(arguments: ecgFiles)
    func sampleFileReads(relativePath: String) throws {
        let record = try ECGFileReader.read(url: Paths.sampleData.appendingPathComponent(relativePath))
        #expect(record.samplingRate == 500)
        #expect(record.sampleCount == 5000)
        #expect(Array(record.leads.prefix(12).map(\.id)) == LeadID.standard12)
        #expect(record.leads.allSatisfy { $0.millivolts.allSatisfy(\.isFinite) })
        // A real ECG spans at least a few tenths of a millivolt in lead II.
        let ii = try #require(record.lead(.ii)).millivolts
        #expect((ii.max() ?? 0) - (ii.min() ?? 0) > 0.3)
    }
}
