import CardiacModels
import ECGFormats
import Foundation
import Testing
@testable import CMRExport

/// "No behaviour change" for refactors of the export path: one case (E07500, the tiny bundle,
/// seed 3) is exported and every file is compared byte for byte with the copy committed in
/// Fixtures/golden-export, which was written by the code before the use-case layer existed.
/// The manifest's three machine-dependent values (creation time, bundle folder, input path) are
/// replaced by placeholders on both sides; everything else must match to the byte.
///
/// Regenerate only for an intended change of the output: `UPDATE_GOLDEN=1 swift test --filter GoldenExportTests`.
@Suite(.serialized) struct GoldenExportTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/golden-export")

    /// The manifest with its machine-dependent values replaced, as committed.
    static func portableManifest(_ data: Data) throws -> Data {
        var m = try JSONDecoder().decode(ExportManifest.self, from: data)
        m.createdAt = "<created-at>"
        m.model.directory = "<model-directory>"
        m.input.path = "<input-path>"
        return try m.encoded()
    }

    /// Every file below `root` (relative path → bytes), the manifest made portable.
    static func files(below root: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            let data = try Data(contentsOf: url)
            out[relative] = relative == ExportManifest.fileName ? try portableManifest(data) : data
        }
        return out
    }

    @Test func exportIsByteIdenticalToThePreRefactorGolden() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        let result = try CaseExporter(pipeline: try CaseExportTests.pipeline(), options: CaseExportTests.options(seed: 3))
            .export(record: record, into: out)
        let actual = try Self.files(below: result.caseDirectory)
        let golden = Self.goldenDirectory.appendingPathComponent(result.caseDirectory.lastPathComponent)

        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.removeItem(at: Self.goldenDirectory)
            for (path, data) in actual {
                let url = golden.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: url)
            }
        }
        let expected = try Self.files(below: golden)
        #expect(expected.count == 64, "the golden copy is committed: 63 listed files and the manifest (\(golden.path))")
        #expect(Set(actual.keys) == Set(expected.keys))
        for (path, data) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(actual[path] == data, "\(path) differs from the golden copy")
        }
    }
}
