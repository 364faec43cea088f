import Foundation
import Testing
import ECGFormats
import NeuralCore
import SignalKit
@testable import CardiacModels

// The beat-aware demo bundle (encoder `beatvit1d`, generator `anatomy`) against the golden vectors
// the training pipeline wrote with PyTorch (training/ecg2cmr_train/bundle.py `write_golden_v2`):
// beat features, embedding, heads, Grad-CAM on the record, residual sampling, posed frames.

private let demoV2 = repoRoot.appendingPathComponent("assets/models/demo-v2")
private let goldenV2 = fixtures.appendingPathComponent("golden-demo-v2.safetensors")
private let haveDemoV2 = FileManager.default.fileExists(atPath: demoV2.appendingPathComponent("manifest.json").path)
    && FileManager.default.fileExists(atPath: goldenV2.path)

struct BeatParityReport: CustomStringConvertible {
    var peaksEqual = true
    var beatMaxAbs: Float = 0
    var rhythmMaxAbs: Float = 0
    var embeddingMaxAbs: Float = 0
    var headMaxAbs: Float = 0
    /// Heteroscedastic heads: log σ against `log_sigma.<group>` (0 when the bundle has none).
    var logSigmaMaxAbs: Float = 0
    var logSigmaGroups = 0
    var gradCAMMinCorrelation: Double = 1
    var gradCAMMaxRelError: Float = 0
    var rhythmCAMMaxAbs: Float = 0
    var residualMaxRel: Float = 0
    var framesMinPSNR: Double = .infinity
    var cases = 0
    var maps = 0
    var description: String {
        "cases \(cases): peaks equal \(peaksEqual), beats max |Δ| \(beatMaxAbs), rhythm max |Δ| \(rhythmMaxAbs), embedding max |Δ| \(embeddingMaxAbs), heads max |Δ| \(headMaxAbs), log σ (\(logSigmaGroups)) max |Δ| \(logSigmaMaxAbs), Grad-CAM (\(maps) maps) min r \(gradCAMMinCorrelation), max |Δ|/range \(gradCAMMaxRelError), rhythm relevance max |Δ| \(rhythmCAMMaxAbs), residual max rel \(residualMaxRel), frames min PSNR \(framesMinPSNR) dB"
    }
}

func beatParity(bundle url: URL, golden gurl: URL) throws -> BeatParityReport {
    let bundle = try ModelBundle.load(from: url)
    let pipeline = try CardiacPipeline(bundle: bundle)
    let golden = try SafeTensorsFile(url: gurl)
    let cases = Int(golden.metadata["cases"] ?? "") ?? 0
    var r = BeatParityReport()
    r.cases = cases
    let spec = bundle.manifest.input
    guard case let .beats(beatSpec, _) = bundle.encoder.layout else { Issue.record("not a beat-aware bundle"); return r }
    for k in 0..<cases {
        let p = "case\(k)."
        let x = try golden.tensor(p + "input").values
        let features = try BeatExtractor.extract(values: x, leadNames: spec.leads, sampleCount: spec.sampleCount,
                                                 samplingRate: spec.samplingRate, spec: beatSpec)
        let refPeaks = try golden.tensor(p + "peaks").values.map { Int($0) }
        r.peaksEqual = r.peaksEqual && features.rPeakIndices == refPeaks
        r.beatMaxAbs = max(r.beatMaxAbs, maxAbs(features.medianBeat, try golden.tensor(p + "beats").values))
        r.rhythmMaxAbs = max(r.rhythmMaxAbs, maxAbs(features.rhythm, try golden.tensor(p + "rhythm").values))
        let input = PreparedECG(leads: spec.leads.map { LeadID(parsing: $0) }, samplingRate: spec.samplingRate,
                                sampleCount: spec.sampleCount, values: x, beats: features)
        let a = pipeline.analyse(input)
        r.embeddingMaxAbs = max(r.embeddingMaxAbs, maxAbs(a.embedding, try golden.tensor(p + "embedding").values))
        for h in bundle.manifest.heads {
            r.headMaxAbs = max(r.headMaxAbs, maxAbs(a.rawHeads[h.name] ?? [], try golden.tensor(p + "head.\(h.name)").values))
            if h.uncertainty != nil {
                r.logSigmaMaxAbs = max(r.logSigmaMaxAbs, maxAbs(a.rawHeads["\(h.name).logSigma"] ?? [],
                                                                try golden.tensor(p + "log_sigma.\(h.name)").values))
                r.logSigmaGroups += k == 0 ? 1 : 0
            }
        }
        let batch = pipeline.analyse(batch: [input, input])
        for b in batch { #expect(maxAbs(b.embedding, a.embedding) < 1e-5) }
        // Without precomputed beats the engine finds the same ones.
        let bare = PreparedECG(leads: input.leads, samplingRate: input.samplingRate, sampleCount: input.sampleCount, values: x)
        #expect(maxAbs(pipeline.analyse(bare).embedding, a.embedding) < 1e-6)
        for name in golden.names where name.hasPrefix(p + "gradcam.") {
            let parts = name.dropFirst((p + "gradcam.").count).split(separator: ".", maxSplits: 1).map(String.init)
            let map = try pipeline.gradCAM(input, target: HeadTarget(head: parts[0], output: parts[1]))
            let ref = try golden.tensor(name).values
            let range = (ref.max() ?? 0) - (ref.min() ?? 0)
            r.gradCAMMinCorrelation = min(r.gradCAMMinCorrelation, correlation(map.values, ref))
            r.gradCAMMaxRelError = max(r.gradCAMMaxRelError, maxAbs(map.values, ref) / max(range, 1e-12))
            let rhythmRef = try golden.tensor(p + "gradcam_rhythm.\(parts[0]).\(parts[1])").values
            r.rhythmCAMMaxAbs = max(r.rhythmCAMMaxAbs, abs((map.rhythmRelevance ?? -1) - rhythmRef[0]))
            r.maps += 1
        }
        if let seedText = golden.metadata[p + "gen.seed"], let seed = UInt64(seedText) {
            var rng = SeededGaussian(seed: seed)
            let noise = try golden.tensor(p + "gen.noise").values
            #expect(maxAbs(rng.draw(noise.count), noise) < 1e-6, "seeded noise differs from the reference")
            let residual = try pipeline.sampleLatent(embedding: a.embedding, noise: noise)
            let ref = try golden.tensor(p + "gen.residual").values
            r.residualMaxRel = max(r.residualMaxRel, maxAbs(residual, ref) / max(ref.map(abs).max() ?? 1, 1e-6))
            let refPose = try golden.tensor(p + "gen.pose").values
            let pose = pipeline.pose(seed: seed)
            for (v, q) in pose.enumerated() {
                #expect(abs(Float(q.angle) - refPose[v * 3]) < 1e-5 && abs(Float(q.dx) - refPose[v * 3 + 1]) < 1e-4)
            }
            let phases = try golden.tensor(p + "gen.phases").values.map(Double.init)
            let anatomy = try pipeline.anatomyInput(a)
            for (v, view) in CMRView.allCases.enumerated() {
                let canonical = try pipeline.renderFrames(view: view, latent: residual, anatomy: anatomy, phases: phases)
                let size = bundle.manifest.generator?.views[v].size ?? 0
                let posed = canonical.map { PoseWarp.apply($0, size: size, angle: pose[v].angle, dx: pose[v].dx, dy: pose[v].dy) }
                r.framesMinPSNR = min(r.framesMinPSNR, psnr(posed.flatMap { $0 }, try golden.tensor(p + "gen.\(view.rawValue)").values))
            }
        }
    }
    return r
}

@Test(.enabled(if: haveDemoV2, "assets/models/demo-v2 and its golden vectors are written by the training pipeline"))
func beatAwareDemoBundleMatchesPyTorchGoldenVectors() throws {
    let r = try beatParity(bundle: demoV2, golden: goldenV2)
    print("parity demo-v2: \(r)")
    #expect(r.cases >= 2 && r.maps >= 8)
    #expect(r.peaksEqual, "\(r)")
    #expect(r.beatMaxAbs <= 1e-6 && r.rhythmMaxAbs <= 1e-5, "\(r)")
    #expect(r.embeddingMaxAbs <= 1e-4 && r.headMaxAbs <= 1e-4, "\(r)")
    #expect(r.gradCAMMinCorrelation >= 0.99 && r.gradCAMMaxRelError <= 1e-3 && r.rhythmCAMMaxAbs <= 1e-3, "\(r)")
    #expect(r.residualMaxRel <= 1e-3, "\(r)")
    #expect(r.framesMinPSNR >= 40, "\(r)")
}

@Test(.enabled(if: haveDemoV2, "assets/models/demo-v2 is written by the training pipeline"))
func newSeedChangesPoseAndTextureNotTheAnatomy() throws {
    let demo = try DemoV2Golden()
    let pipeline = demo.pipeline
    let input = try demo.input(0)
    let a = pipeline.analyse(input)
    let one = try pipeline.generateCMR(for: a, seed: 1, frameCount: 8)
    let again = try pipeline.generateCMR(for: a, seed: 1, frameCount: 8)
    let other = try pipeline.generateCMR(for: a, seed: 2, frameCount: 8)
    // Same seed → the same frames, bit for bit, even while other suites run model calls in this
    // process (the engine owns its threading: EngineThreads).
    let same = maxAbs(one.sax.frames.flatMap { $0 }, again.sax.frames.flatMap { $0 })
    let changed = maxAbs(one.sax.frames.flatMap { $0 }, other.sax.frames.flatMap { $0 })
    #expect(one.sax.frames == again.sax.frames && one.lax.frames == again.lax.frames, "same seed, same frames (max |Δ| \(same))")
    #expect(changed > 0.05, "a new seed changes the picture (max |Δ| \(changed))")
    #expect(try pipeline.anatomyInput(a) == pipeline.anatomyInput(pipeline.analyse(input)), "the anatomy comes from the heads, not the seed")
    #expect(pipeline.pose(seed: 1).first?.angle != pipeline.pose(seed: 2).first?.angle)
}

@Test(.enabled(if: haveDemoV2, "assets/models/demo-v2 is written by the training pipeline"))
func outOfDistributionCheckRunsOnEveryAnalysis() throws {
    let demo = try DemoV2Golden()
    let pipeline = demo.pipeline
    let input = try demo.input(0)
    let x = input.values
    let verdict = try #require(pipeline.analyse(input).outOfDistribution)
    #expect(verdict.score.isFinite && verdict.embeddingDistance >= 0 && verdict.inputDistance >= 0)
    // A held-out synthetic ECG sits inside; the same ECG buried in noise does not.
    #expect(!verdict.isOutside, "\(verdict)")
    var g = SeededGaussian(seed: 9)
    let noisy = zip(x, g.draw(x.count)).map { $0 + 0.3 * $1 }
    let noisyVerdict = try #require(pipeline.analyse(PreparedECG(leads: input.leads, samplingRate: input.samplingRate,
                                                                 sampleCount: input.sampleCount, values: noisy)).outOfDistribution)
    #expect(noisyVerdict.isOutside, "\(noisyVerdict)")
}

// Fixtures/tiny-v2 + golden-tiny-v2.safetensors: every stage of the v2 pipeline for a few steps
// (training/configs/tiny.json on a 60-subject cohort, seed 5), so the beat-aware path is checked
// against PyTorch on every run, trained demo bundle or not. Regenerate with
//   cd training && python -m ecg2cmr_train.pipeline --config configs/tiny.json   (after building
//   the tiny cohort as training/tests/test_training.py does), then copy bundle/ and golden.safetensors.
// The tiny bundle has the v3 parts too: a wide branch beside the pooled vector and a
// heteroscedastic phenotype head with calibrated 80 % interval scales.
@Test func tinyBeatAwareBundleMatchesPyTorchGoldenVectors() throws {
    let r = try beatParity(bundle: fixtures.appendingPathComponent("tiny-v2"),
                           golden: fixtures.appendingPathComponent("golden-tiny-v2.safetensors"))
    print("parity tiny-v2: \(r)")
    #expect(r.cases == 2 && r.maps == 8)
    #expect(r.peaksEqual, "\(r)")
    #expect(r.beatMaxAbs <= 1e-6 && r.rhythmMaxAbs <= 1e-5, "\(r)")
    #expect(r.embeddingMaxAbs <= 1e-4 && r.headMaxAbs <= 1e-4, "\(r)")
    #expect(r.logSigmaGroups == 1 && r.logSigmaMaxAbs <= 1e-4, "\(r)")
    #expect(r.gradCAMMinCorrelation >= 0.99 && r.gradCAMMaxRelError <= 1e-3 && r.rhythmCAMMaxAbs <= 1e-3, "\(r)")
    #expect(r.residualMaxRel <= 1e-3, "\(r)")
    #expect(r.framesMinPSNR >= 40, "\(r)")
}

// interval80 = value ± interval80Scale·exp(log σ)·std around the printed value, and a draw
// `--anatomy range` stays inside every anatomy output's interval while the default draws the point
// estimate; the range draw keeps the seed's residual noise and pose.
@Test func phenotypeIntervalsAndTheRangeDrawStayInsideThem() throws {
    let bundle = try ModelBundle.load(from: fixtures.appendingPathComponent("tiny-v2"))
    let pipeline = try CardiacPipeline(bundle: bundle)
    let golden = try SafeTensorsFile(url: fixtures.appendingPathComponent("golden-tiny-v2.safetensors"))
    let spec = bundle.manifest.input
    let input = PreparedECG(leads: spec.leads.map { LeadID(parsing: $0) }, samplingRate: spec.samplingRate,
                            sampleCount: spec.sampleCount, values: try golden.tensor("case0.input").values)
    let a = pipeline.analyse(input)
    let head = try #require(bundle.manifest.heads.first { $0.name == "phenotype" })
    let logSigma = try golden.tensor("case0.log_sigma.phenotype").values
    for (i, p) in a.phenotypes.enumerated() {
        let iv = try #require(p.interval80, "\(p.target) has no interval")
        let o = head.outputs[i]
        let half = (o.interval80Scale ?? 0) * Foundation.exp(Double(logSigma[i])) * (o.std ?? 1)
        #expect(abs((iv.upperBound - iv.lowerBound) / 2 - half) <= 1e-3 * max(1, half), "\(p.target)")
        #expect(abs((iv.upperBound + iv.lowerBound) / 2 - p.value) <= 1e-6 * max(1, abs(p.value)), "\(p.target)")
    }
    #expect(pipeline.canDrawAnatomyRange)
    let point = try #require(try pipeline.anatomyInput(a))
    #expect(point == a.rawHeads["phenotype"])
    let gen = try #require(bundle.manifest.generator?.anatomy)
    var moved = false
    for seed: UInt64 in [1, 2, 3] {
        let drawn = try #require(try pipeline.anatomyInput(a, mode: .withinInterval80, seed: seed))
        for (k, i) in try #require(bundle.generator?.anatomy).indices.enumerated() {
            let o = head.outputs[i]
            let value = Double(drawn[k]) * (o.std ?? 1) + (o.mean ?? 0)
            let iv = try #require(a.phenotypes[i].interval80)
            #expect(value >= iv.lowerBound - 1e-3 * max(1, abs(value)) && value <= iv.upperBound + 1e-3 * max(1, abs(value)),
                    "\(gen.outputs[k]) drawn at \(value), interval \(iv)")
            moved = moved || drawn[k] != point[k]
        }
    }
    #expect(moved, "a range draw moves the anatomy off the point estimate")
    let cmr = try pipeline.generateCMR(for: a, seed: 4, frameCount: 4, anatomy: .withinInterval80)
    #expect(cmr.anatomy == .withinInterval80)
    #expect(try pipeline.generateCMR(for: a, seed: 4, frameCount: 4).anatomy == .pointEstimate)
}
