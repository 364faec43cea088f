import CaseAnalysis
import CardiacModels
import Foundation
import TestSupport
import Testing
@testable import Screening

private let repoRoot = TestEnvironment.repositoryRoot
private let tinyBundle = repoRoot.appendingPathComponent("Tests/CardiacModelsTests/Fixtures/random-tiny")

private func temporaryDirectory() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("embed-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Test func npyBytesAreANumPyFloat32Matrix() throws {
    let data = EmbeddingExport.npy([1, -2.5, 3, 4, 5, 6], rows: 2, cols: 3)
    #expect(Array(data.prefix(8)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    #expect((10 + headerLength) % 64 == 0)
    let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
    #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)") && header.hasSuffix("\n"))
    #expect(data.count == 10 + headerLength + 6 * 4)
    let second = data.subdata(in: (10 + headerLength + 4)..<(10 + headerLength + 8))
    #expect(Float(bitPattern: second.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian) == -2.5)
}

@Test func embedWritesEveryFormatAndScreenAddsTheEmbedding() throws {
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: tinyBundle))
    let files = ["P01-healthy/ecg.hea", "P05-hcm/ecg-ukb.xml"].map { repoRoot.appendingPathComponent("sample-data/\($0)").path }
    let (rows, failures) = EmbeddingRunner(cases: CaseAnalysis(pipeline: pipeline)).run(paths: files + ["/nonexistent.hea"])
    #expect(rows.count == 2 && failures.count == 1)
    #expect(rows.allSatisfy { $0.vector.count == 24 && $0.modelID == pipeline.bundle.id && $0.sha256.count == 64 })
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }

    let jsonl = dir.appendingPathComponent("e.jsonl").path
    try EmbeddingExport.write(rows, to: jsonl)
    let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 2)
    let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
    #expect(first["file"] as? String == files[0] && first["model"] as? String == pipeline.bundle.id)
    let vector = (first["embedding"] as! [NSNumber]).map(\.floatValue)
    #expect(vector == rows[0].vector)                        // shortest round-trip floats

    let csv = dir.appendingPathComponent("e.csv").path
    try EmbeddingExport.write(rows, to: csv)
    let csvLines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
    #expect(csvLines[0].hasPrefix("file,sha256,model,e0,e1,") && csvLines[0].hasSuffix(",e23") && csvLines.count == 3)

    let npy = dir.appendingPathComponent("e.npy").path
    try EmbeddingExport.write(rows, to: npy)
    let index = try String(contentsOfFile: dir.appendingPathComponent("e.index.csv").path, encoding: .utf8)
    #expect(index.hasPrefix("row,file,sha256,model\n0,\(files[0]),"))
    #expect(throws: EmbeddingExport.Failure.self) { try EmbeddingExport.write(rows, to: dir.appendingPathComponent("e.txt").path) }

    var options = ScreeningOptions(jobs: 1)
    options.includeEmbeddings = true
    let results = BatchScreener(cases: CaseAnalysis(pipeline: pipeline), options: options).screen(files.map { .ecgFile($0) })
    #expect(results.map(\.embedding) == rows.map(\.vector))
    let plain = BatchScreener(cases: CaseAnalysis(pipeline: pipeline)).screen([.ecgFile(files[0])])
    #expect(plain[0].embedding == nil)
    #expect(results[0].flattened().contains { $0.0 == "emb_23" })
}

/// Issue 22: a 2-lead Holter-style record (MLII, V5) is read and measured but the model does not
/// apply — status "not-applicable" with the reason, counted apart from failures.
@Test func twoLeadRecordIsNotApplicableNotFailed() throws {
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: tinyBundle))
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let n = 5000
    var bytes = Data()
    var sums = [0, 0]   // WFDB checksums: the 16-bit sum of each signal's samples
    for t in 0..<n {
        let phase = Double(t % 400) / 500 - 0.4                      // a beat every 0.8 s
        let mv = exp(-pow(phase / 0.012, 2)) - 0.1 * exp(-pow((phase - 0.25) / 0.05, 2))
        for (k, gain) in [1.0, 0.6].enumerated() {
            let v = Int16(clamping: Int((200 * gain * mv).rounded()))
            sums[k] += Int(v)
            withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }
    try bytes.write(to: dir.appendingPathComponent("holter.dat"))
    let check = sums.map { Int(Int16(truncatingIfNeeded: $0)) }
    try "holter 2 500 \(n)\nholter.dat 16 200 16 0 0 \(check[0]) 0 MLII\nholter.dat 16 200 16 0 0 \(check[1]) 0 V5\n"
        .write(to: dir.appendingPathComponent("holter.hea"), atomically: true, encoding: .utf8)
    let log = try ResultLog(path: dir.appendingPathComponent("r.jsonl").path)
    let summary = BatchScreener(cases: CaseAnalysis(pipeline: pipeline), options: ScreeningOptions(jobs: 1)).run(paths: [dir.path], log: log)
    #expect(summary.failed == 0 && summary.screened == 0)
    #expect(summary.notApplicable.count == 1)
    #expect(summary.notApplicable.first?.reason.hasSuffix("this record has MLII, V5") == true, "\(summary.notApplicable)")
    let line = try String(contentsOfFile: dir.appendingPathComponent("r.jsonl").path, encoding: .utf8)
    #expect(line.contains("\"status\":\"not-applicable\""))
    #expect(line.contains("\"heartRateBpm\":75"))
}
