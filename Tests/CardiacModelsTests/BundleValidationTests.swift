import Crypto
import Foundation
import Testing
import ECGFormats
import NeuralCore
@testable import CardiacModels

/// Copies the tiny fixture bundle to a temporary folder for mutation.
func scratchBundle() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: fixtures.appendingPathComponent("random-tiny"), to: dir)
    return dir
}

func editManifest(_ dir: URL, _ edit: (inout [String: Any]) -> Void) throws {
    let url = dir.appendingPathComponent("manifest.json")
    var m = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    edit(&m)
    try JSONSerialization.data(withJSONObject: m).write(to: url)
}

func expectLoadError(_ dir: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try ModelBundle.load(from: dir)
        Issue.record("bundle loaded but should fail with '\(fragment)'", sourceLocation: sourceLocation)
    } catch let e as ModelBundleError {
        #expect(e.description.contains(fragment), "\(e.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("untyped error \(error)", sourceLocation: sourceLocation)
    }
}

@Test func loadsTheFixtureBundle() throws {
    let b = try ModelBundle.load(from: fixtures.appendingPathComponent("random-tiny"))
    #expect(b.id == "random-tiny")
    #expect(b.isSynthetic)
    #expect(b.hasGenerator)
    #expect(b.headTargets.count == 12)
    #expect(b.weightsSHA256.count == 64)
}

@Test func manifestNamingAbsentTensorsFailsAtLoad() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in
        var heads = m["heads"] as! [[String: Any]]
        heads.append(["name": "lge", "kind": "sigmoid", "outputs": [["id": "lge", "label": "LGE"]]])
        m["heads"] = heads
    }
    expectLoadError(dir, "'heads.lge.weight' is missing")
}

@Test func misShapedTensorsFailAtLoad() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in
        var e = m["encoder"] as! [String: Any]
        e["mlpRatio"] = 3
        m["encoder"] = e
    }
    expectLoadError(dir, "encoder.blocks.0.mlp.fc1.weight' has shape [96, 48], expected [144, 48]")
}

@Test func truncatedWeightsFailAtLoad() throws {
    let dir = try scratchBundle()
    let w = dir.appendingPathComponent("model.safetensors")
    let data = try Data(contentsOf: w)
    try data.prefix(data.count - 100).write(to: w)
    expectLoadError(dir, "truncated")
}

@Test func nanWeightsFailAtLoad() throws {
    let dir = try scratchBundle()
    let w = dir.appendingPathComponent("model.safetensors")
    let file = try SafeTensorsFile(url: w)
    let entry = try #require(file.entries["encoder.blocks.1.attn.proj.weight"])
    var bytes = [UInt8](try Data(contentsOf: w))
    var headerLength = 0
    for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
    let nan = Float.nan.bitPattern
    for i in 0..<4 { bytes[8 + headerLength + entry.begin + 8 + i] = UInt8((nan >> (8 * UInt32(i))) & 0xff) }
    try Data(bytes).write(to: w)
    let digest = SHA256.hash(data: Data(bytes)).map { String(format: "%02x", $0) }.joined()
    try editManifest(dir) { m in m["weights"] = [["file": "model.safetensors", "sha256": digest]] }
    expectLoadError(dir, "'encoder.blocks.1.attn.proj.weight' contains NaN")
}

@Test func checksumAndManifestErrorsAreTyped() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in m["weights"] = [["file": "model.safetensors", "sha256": String(repeating: "0", count: 64)]] }
    expectLoadError(dir, "does not match")
    let dir2 = try scratchBundle()
    try editManifest(dir2) { m in m["gradcam"] = ["layer": "encoder.blocks.7"] }   // the tiny layout has 2 blocks
    expectLoadError(dir2, "gradcam.layer 'encoder.blocks.7'")
    try editManifest(dir2) { m in m["gradcam"] = ["layer": "encoder.pos_embed"] }
    expectLoadError(dir2, "must name a block output")
    let dir3 = try scratchBundle()
    try editManifest(dir3) { m in m.removeValue(forKey: "encoder") }
    expectLoadError(dir3, "missing key 'encoder'")
    expectLoadError(FileManager.default.temporaryDirectory.appendingPathComponent("no-such-bundle"), "no manifest.json")
}

@Test func generationIsSeededAndReproducible() throws {
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: fixtures.appendingPathComponent("random-tiny")))
    let emb = [Float](repeating: 0.1, count: 24)
    let a = try pipeline.generateCMR(embedding: emb, seed: 42, frameCount: 6)
    let b = try pipeline.generateCMR(embedding: emb, seed: 42, frameCount: 6)
    let c = try pipeline.generateCMR(embedding: emb, seed: 43, frameCount: 6)
    #expect(a.sax.frames == b.sax.frames && a.lax.frames == b.lax.frames)
    #expect(a.sax.frames != c.sax.frames)
    #expect(a.sax.frames.count == 6)
    #expect(a.sax.width == 16 && a.lax.width == 24)
    #expect(a.lax.frames[0].count == 576)
    let expectedPhases: [Double] = (0..<6).map { Double($0) / 6 }
    #expect(a.sax.phases == expectedPhases)
    #expect(a.sax.frames.allSatisfy { $0.allSatisfy { $0 >= 0 && $0 <= 1 } })
    #expect(throws: CardiacPipelineError.self) { try pipeline.generateCMR(embedding: [1, 2], seed: 1) }
}

@Test func preparesARecordAndInterpretsHeads() throws {
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: fixtures.appendingPathComponent("random-tiny")))
    // 10 s at 500 Hz, 12 leads with a 1 Hz spike train and a baseline drift.
    let leads = LeadID.standard12.enumerated().map { l, id in
        Lead(id: id, millivolts: (0..<5000).map { (i: Int) -> Float in
            let drift = Float(0.3 * sin(Double(i) / 500 * 0.5))
            let spike: Float = i % 500 < 10 ? Float(l + 1) * 0.1 : 0
            return drift + spike
        })
    }
    let record = ECGRecord(leads: leads, samplingRate: 500, metadata: ECGMetadata(),
                           provenance: Provenance(format: .csv, path: "synthetic", sha256: ""))
    let prepared = try pipeline.prepare(record)
    #expect(prepared.sampleCount == 500 && prepared.samplingRate == 50 && prepared.values.count == 6000)
    let a = pipeline.analyse(prepared)
    #expect(a.modelID == "random-tiny" && a.isSynthetic)
    #expect(a.risks.count == 6 && a.subtypes.count == 3 && a.phenotypes.count == 3)
    #expect(abs(a.subtypes.map(\.probability).reduce(0, +) - 1) < 1e-9)
    for r in a.risks {
        #expect(r.probability > 0 && r.probability < 1)
        #expect(r.band == (r.probability < 0.2 ? .low : r.probability < 0.5 ? .intermediate : .high))
    }
    let ef = try #require(a.phenotypes.first { $0.target.output == "lv_ef" })
    let rawEF = Double(try #require(a.rawHeads["phenotype"])[1])
    #expect(abs(ef.value - (rawEF * 7 + 60)) < 1e-4)
    #expect(ef.unit == "%")
    let map = try pipeline.gradCAM(prepared, target: HeadTarget(head: "risk", output: "cad"))
    #expect(map.values.count == 6000 && (map.values.max() ?? 0) <= 1)
    let top = map.topSegments(count: 3)
    #expect(top.count <= 3 && zip(top, top.dropFirst()).allSatisfy { $0.weight >= $1.weight })
    #expect(throws: CardiacPipelineError.self) { try pipeline.gradCAM(prepared, target: HeadTarget(head: "risk", output: "nope")) }
}

@Test func poolingAndClassTokenAreCheckedAtLoad() throws {
    func with(_ fields: [String: Any]) throws -> URL {
        let dir = try scratchBundle()
        try editManifest(dir) { m in
            var e = m["encoder"] as! [String: Any]
            for (k, v) in fields { e[k] = v }
            m["encoder"] = e
        }
        return dir
    }
    expectLoadError(try with(["pooling": "max"]), "encoder.pooling 'max' is not supported (attention, cls, mean, mha)")
    expectLoadError(try with(["pooling": "cls"]), "encoder.pooling 'cls' needs encoder.classToken true")
    expectLoadError(try with(["classToken": true]), "'encoder.cls_token' is missing")
    expectLoadError(try with(["pooling": "mean"]), "'encoder.fc_norm.weight' is missing")
    expectLoadError(try with(["pooling": "mha"]), "'pool.in_proj_weight' is missing")
}
