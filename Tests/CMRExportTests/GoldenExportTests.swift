import CaseAnalysis
import CardiacModels
import ECGFormats
import Imaging
import Foundation
import Testing
@testable import CMRExport

/// "No behaviour change" for refactors of the export path: one case (E07500, the tiny bundle,
/// seed 3) is exported and every file is compared byte for byte with the copy committed in
/// Fixtures/golden-export, which was written by the code before the use-case layer existed.
/// The manifest's three machine-dependent values (creation time, bundle folder, input path) are
/// replaced by placeholders on both sides.
///
/// Byte equality holds on the machine that wrote the copy; another CPU picks other OpenBLAS and
/// pixman kernels, which move the last float bits (a risk's 16th digit, a Grad-CAM colour at a band
/// edge, an anti-aliased trace pixel). So a file that is not byte-identical is compared as what it
/// means: a PNG pixel by pixel (same size, mean |Δ| ≤ 0.5 grey, ≤ 0.5 % of pixels off by > 16), the
/// manifest field by field (strings, keys and array lengths exact; numbers to 1e-5 relative; a
/// listed file's size and hash only where that file itself matched byte for byte). A refactor that
/// changes what is drawn or computed still fails.
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
        let result = try CaseExporter(cases: try CaseExportTests.cases(), options: CaseExportTests.options(seed: 3))
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
        var differing: Set<String> = []
        for (path, data) in expected.sorted(by: { $0.key < $1.key }) where actual[path] != data {
            differing.insert(path)
        }
        if !differing.isEmpty { print("[golden] not byte-identical here, compared by content: \(differing.sorted())") }
        for path in differing.sorted() where path.hasSuffix(".png") {
            let stats = try Self.pixelDifference(golden.appendingPathComponent(path), result.caseDirectory.appendingPathComponent(path))
            #expect(stats.sameSize && stats.meanAbsolute <= 0.5 && stats.fractionOver16 <= 0.005,
                    "\(path) differs from the golden copy: \(stats)")
        }
        if differing.contains(ExportManifest.fileName), let mine = actual[ExportManifest.fileName],
           let theirs = expected[ExportManifest.fileName] {
            let a = try JSONSerialization.jsonObject(with: mine), b = try JSONSerialization.jsonObject(with: theirs)
            let problems = Self.manifestDifferences(a, b, at: "", byteIdentical: Set(expected.keys).subtracting(differing))
            #expect(problems.isEmpty, "manifest.json differs from the golden copy: \(problems.prefix(5))")
        }
    }

    struct PixelDifference: CustomStringConvertible {
        var sameSize: Bool, meanAbsolute: Double, fractionOver16: Double
        var description: String { "same size \(sameSize), mean |Δ| \(meanAbsolute), fraction > 16: \(fractionOver16)" }
    }

    /// Grey-level difference of two PNGs (libpng converts colour to grey).
    static func pixelDifference(_ a: URL, _ b: URL) throws -> PixelDifference {
        let x = try PNGCodec.decodeGrey(contentsOf: a), y = try PNGCodec.decodeGrey(contentsOf: b)
        guard x.width == y.width, x.height == y.height else {
            return PixelDifference(sameSize: false, meanAbsolute: .infinity, fractionOver16: 1)
        }
        var sum = 0, over = 0
        for (p, q) in zip(x.pixels, y.pixels) {
            let d = abs(Int(p) - Int(q))
            sum += d
            if d > 16 { over += 1 }
        }
        let n = Double(max(1, x.pixels.count))
        return PixelDifference(sameSize: true, meanAbsolute: Double(sum) / n, fractionOver16: Double(over) / n)
    }

    /// Field-by-field differences of two manifests (JSON trees); empty when they mean the same.
    static func manifestDifferences(_ a: Any, _ b: Any, at path: String, byteIdentical: Set<String>) -> [String] {
        switch (a, b) {
        case let (x as [String: Any], y as [String: Any]):
            guard Set(x.keys) == Set(y.keys) else { return ["\(path): keys \(x.keys.sorted()) vs \(y.keys.sorted())"] }
            // A listed file's size and hash must match only if the file itself did.
            let fileEntry = (x["path"] as? String).map { !byteIdentical.contains($0) } ?? false
            return x.keys.sorted().flatMap { key -> [String] in
                if fileEntry, key == "sha256" || key == "bytes" { return [] }
                return manifestDifferences(x[key]!, y[key]!, at: "\(path).\(key)", byteIdentical: byteIdentical)
            }
        case let (x as [Any], y as [Any]):
            guard x.count == y.count else { return ["\(path): \(x.count) vs \(y.count) elements"] }
            return zip(x, y).enumerated().flatMap { i, pair in
                manifestDifferences(pair.0, pair.1, at: "\(path)[\(i)]", byteIdentical: byteIdentical)
            }
        case let (x as String, y as String):
            return x == y ? [] : ["\(path): \(x) vs \(y)"]
        case let (x as NSNumber, y as NSNumber):
            let u = x.doubleValue, v = y.doubleValue
            return abs(u - v) <= 1e-5 * max(1, abs(u), abs(v)) ? [] : ["\(path): \(u) vs \(v)"]
        case (is NSNull, is NSNull):
            return []
        default:
            return ["\(path): \(a) vs \(b)"]
        }
    }
}
