import Foundation
import TestSupport
import Testing
import ECGFormats
import NeuralCore
@testable import CardiacModels

// Fixtures/random-tiny + golden-random-tiny.safetensors are regenerated with
//   cd training && python -m ecg2cmr_train.bundle --random --layout tiny \
//     --out ../Tests/CardiacModelsTests/Fixtures/random-tiny \
//     --golden ../Tests/CardiacModelsTests/Fixtures/golden-random-tiny.safetensors

let fixtures: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
let repoRoot: URL = TestEnvironment.repositoryRoot

/// The shared probe (TestSupport), under the name this module's suites use.
func pythonCanImport(_ modules: String) -> Bool { TestEnvironment.pythonCanImport(modules) }

struct ParityReport: CustomStringConvertible {
    var embeddingMaxAbs: Float = 0
    var headMaxAbs: Float = 0
    var gradCAMMinCorrelation: Double = 1
    var gradCAMMaxRelError: Float = 0
    var latentMaxRel: Float = 0
    var framesMinPSNR: Double = .infinity
    var cases = 0
    var maps = 0
    var description: String {
        "cases \(cases): embedding max |Δ| \(embeddingMaxAbs), heads max |Δ| \(headMaxAbs), Grad-CAM (\(maps) maps) min r \(gradCAMMinCorrelation), max |Δ|/range \(gradCAMMaxRelError), latent max rel \(latentMaxRel), frames min PSNR \(framesMinPSNR) dB"
    }
}

func correlation(_ a: [Float], _ b: [Float]) -> Double {
    let n = Double(a.count)
    let ma = a.reduce(0) { $0 + Double($1) } / n, mb = b.reduce(0) { $0 + Double($1) } / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for i in 0..<a.count { let x = Double(a[i]) - ma, y = Double(b[i]) - mb; sab += x * y; saa += x * x; sbb += y * y }
    if saa == 0 && sbb == 0 { return 1 }
    return sab / (saa * sbb).squareRoot()
}

func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var mse = 0.0
    for i in 0..<a.count { let d = Double(a[i] - b[i]); mse += d * d }
    mse /= Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

/// Runs every golden case through the Swift engine and measures the differences.
func goldenParity(bundle url: URL, golden gurl: URL) throws -> ParityReport {
    let bundle = try ModelBundle.load(from: url)
    let pipeline = try CardiacPipeline(bundle: bundle)
    let golden = try SafeTensorsFile(url: gurl)
    let cases = Int(golden.metadata["cases"] ?? "") ?? 0
    #expect(cases > 0)
    var r = ParityReport()
    r.cases = cases
    let spec = bundle.manifest.input
    for k in 0..<cases {
        let p = "case\(k)."
        let x = try golden.tensor(p + "input")
        let input = PreparedECG(leads: spec.leads.map { LeadID(parsing: $0) }, samplingRate: spec.samplingRate,
                                sampleCount: spec.sampleCount, values: x.values)
        let a = pipeline.analyse(input)
        let emb = try golden.tensor(p + "embedding").values
        r.embeddingMaxAbs = max(r.embeddingMaxAbs, maxAbs(a.embedding, emb))
        for h in bundle.manifest.heads {
            r.headMaxAbs = max(r.headMaxAbs, maxAbs(a.rawHeads[h.name] ?? [], try golden.tensor(p + "head.\(h.name)").values))
        }
        // Batch path must agree with the single path.
        let batch = pipeline.analyse(batch: [input, input, input])
        for b in batch { #expect(maxAbs(b.embedding, a.embedding) < 1e-5) }
        for name in golden.names where name.hasPrefix(p + "gradcam.") {
            let parts = name.dropFirst((p + "gradcam.").count).split(separator: ".", maxSplits: 1).map(String.init)
            let map = try pipeline.gradCAM(input, target: HeadTarget(head: parts[0], output: parts[1]))
            let ref = try golden.tensor(name).values
            let range = (ref.max() ?? 0) - (ref.min() ?? 0)
            r.gradCAMMinCorrelation = min(r.gradCAMMinCorrelation, correlation(map.values, ref))
            r.gradCAMMaxRelError = max(r.gradCAMMaxRelError, maxAbs(map.values, ref) / max(range, 1e-12))
            r.maps += 1
        }
        if bundle.hasGenerator, let seedText = golden.metadata[p + "gen.seed"], let seed = UInt64(seedText) {
            var rng = SeededGaussian(seed: seed)
            let noise = try golden.tensor(p + "gen.noise").values
            #expect(maxAbs(rng.draw(noise.count), noise) < 1e-6, "seeded noise differs from the reference")
            let latent = try pipeline.sampleLatent(embedding: a.embedding, noise: noise)
            let ref = try golden.tensor(p + "gen.latent").values
            let scale = ref.map(abs).max() ?? 1
            r.latentMaxRel = max(r.latentMaxRel, maxAbs(latent, ref) / scale)
            let phases = try golden.tensor(p + "gen.phases").values.map(Double.init)
            for view in CMRView.allCases {
                let frames = try pipeline.renderFrames(view: view, latent: latent, phases: phases)
                let refFrames = try golden.tensor(p + "gen.\(view.rawValue)").values
                r.framesMinPSNR = min(r.framesMinPSNR, psnr(frames.flatMap { $0 }, refFrames))
            }
        }
    }
    return r
}

func maxAbs(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func checkTolerances(_ r: ParityReport) {
    #expect(r.embeddingMaxAbs <= 1e-4, "\(r)")
    #expect(r.headMaxAbs <= 1e-4, "\(r)")
    #expect(r.gradCAMMinCorrelation >= 0.99, "\(r)")
    #expect(r.gradCAMMaxRelError <= 1e-3, "\(r)")
    #expect(r.framesMinPSNR >= 40, "\(r)")
}

@Test func randomTinyBundleMatchesPyTorchGoldenVectors() throws {
    let r = try goldenParity(bundle: fixtures.appendingPathComponent("random-tiny"),
                             golden: fixtures.appendingPathComponent("golden-random-tiny.safetensors"))
    print("parity random-tiny: \(r)")
    #expect(r.maps == 24 && r.cases == 2)
    checkTolerances(r)
    #expect(r.latentMaxRel <= 1e-3, "\(r)")
}

/// Grad-CAM on the first block's output: the backward pass runs through the whole second block
/// (MLP, GELU, layer norms, attention softmax) before reaching the activations, as PyTorch's
/// autograd does for `gradcam.layer = encoder.blocks.0`.
@Test func gradCAMOnAnEarlierBlockMatchesPyTorch() throws {
    let url = fixtures.appendingPathComponent("random-tiny-block0")
    #expect(try ModelBundle.load(from: url).manifest.gradcam?.layer == "encoder.blocks.0")
    let r = try goldenParity(bundle: url, golden: fixtures.appendingPathComponent("golden-random-tiny-block0.safetensors"))
    print("parity random-tiny-block0: \(r)")
    #expect(r.maps == 24 && r.cases == 2)
    checkTolerances(r)
    // The maps must differ from the last block's, or the test would not see a wrong layer.
    let last = try SafeTensorsFile(url: fixtures.appendingPathComponent("golden-random-tiny.safetensors"))
    let first = try SafeTensorsFile(url: fixtures.appendingPathComponent("golden-random-tiny-block0.safetensors"))
    let name = last.names.first { $0.hasPrefix("case0.gradcam.") } ?? ""
    #expect(maxAbs(try last.tensor(name).values, try first.tensor(name).values) > 0.05)
}

private let demoV1 = repoRoot.appendingPathComponent("assets/models/demo-v1")
private let demoV1Golden = [fixtures.appendingPathComponent("golden-demo-v1.safetensors"),
                            demoV1.appendingPathComponent("golden-demo-v1.safetensors")]
    .first { FileManager.default.fileExists(atPath: $0.path) }

/// The v1 demo bundle (still loadable) against its own golden vectors.
@Test(.enabled(if: FileManager.default.fileExists(atPath: demoV1.appendingPathComponent("manifest.json").path) && demoV1Golden != nil,
               "assets/models/demo-v1 and golden-demo-v1.safetensors are written by the v1 training pipeline"))
func trainedDemoBundleMatchesPyTorchGoldenVectors() throws {
    let golden = try #require(demoV1Golden)
    let r = try goldenParity(bundle: demoV1, golden: golden)
    print("parity demo-v1: \(r)")
    checkTolerances(r)
}
