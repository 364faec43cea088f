import ECGFormats
import Foundation
import NeuralCore
import SignalKit

/// Runs a bundle: preprocessing, encoder + heads, Grad-CAM, CMR generation.
///
/// Safe to call from several threads at once: each call borrows its own preallocated workspace
/// from a small pool (so steady-state calls do not allocate activation buffers). Inside one call
/// the matrix products use OpenBLAS's threads; batches are run as one stacked forward pass
/// (`batchChunk` ECGs per pass) so the GEMMs are large enough to use both cores.
public final class CardiacPipeline: @unchecked Sendable {
    public let bundle: ModelBundle
    /// ECGs stacked into one forward pass by `analyse(batch:)`.
    public let batchChunk: Int
    private let lock = NSLock()
    private var singles: [EncoderWorkspace] = []
    private var batches: [EncoderWorkspace] = []
    private var counts = ModelRunCounts()

    /// How often this pipeline has run the encoder, Grad-CAM and the generator so far.
    public var runCounts: ModelRunCounts { lock.lock(); defer { lock.unlock() }; return counts }
    private func count(_ update: (inout ModelRunCounts) -> Void) { lock.lock(); update(&counts); lock.unlock() }

    public init(bundle: ModelBundle, batchChunk: Int = 8) throws {
        self.bundle = bundle
        self.batchChunk = max(1, batchChunk)
    }

    private var encoder: ViTEncoder { bundle.encoder }

    private func withWorkspace<R>(batch: Bool, _ body: (EncoderWorkspace) -> R) -> R {
        lock.lock()
        let ws = (batch ? batches.popLast() : singles.popLast())
            ?? EncoderWorkspace(encoder: encoder, capacity: batch ? batchChunk : 1)
        lock.unlock()
        defer {
            lock.lock()
            if batch { batches.append(ws) } else { singles.append(ws) }
            lock.unlock()
        }
        return body(ws)
    }

    // MARK: preprocessing

    /// The manifest's leads, as `LeadID`s.
    public var inputLeads: [LeadID] { bundle.manifest.input.leads.map { LeadID(parsing: $0) } }

    /// Applies the manifest's preprocessing (SignalKit) to a record.
    public func prepare(_ record: ECGRecord) throws -> PreparedECG {
        let s: PreprocessedSignal
        do { s = try bundle.preprocessing.apply(to: record, leads: inputLeads) } catch {
            throw CardiacPipelineError.preprocessing("\(error)")
        }
        let spec = bundle.manifest.input
        guard s.sampleCount == spec.sampleCount, s.leads.count == spec.leads.count else {
            throw CardiacPipelineError.inputShape("preprocessing gave \(s.leads.count) leads × \(s.sampleCount) samples; the model needs \(spec.leads.count) × \(spec.sampleCount) (does the manifest end with cropOrPad?)")
        }
        guard abs(s.samplingRate - spec.samplingRate) < 1e-6 else {
            throw CardiacPipelineError.inputShape("preprocessing gave \(s.samplingRate) Hz; the model needs \(spec.samplingRate) Hz (does the manifest resample?)")
        }
        var prepared = PreparedECG(signal: s)
        if case let .beats(spec, _) = encoder.layout {
            do { prepared.beats = try beatFeatures(record: conformedRecord(prepared), spec: spec) } catch {
                throw CardiacPipelineError.preprocessing("beat features: \(error)")
            }
        }
        return prepared
    }

    func beatFeatures(record: [Float], spec: BeatFeatureSpec) throws -> BeatFeatures {
        try BeatExtractor.extract(values: record, leadNames: bundle.manifest.input.leads, sampleCount: encoder.sampleCount,
                                  samplingRate: bundle.manifest.input.samplingRate, spec: spec)
    }

    /// The encoder input of one ECG: the conformed record (`vit1d`), or its median beats followed by
    /// the rhythm features (`beatvit1d`; from `input.beats` when `prepare` made them).
    func conformed(_ input: PreparedECG) -> [Float] {
        guard case let .beats(spec, rhythm) = encoder.layout else { return conformedRecord(input) }
        let f = input.beats ?? (try? beatFeatures(record: conformedRecord(input), spec: spec))
        guard let f, f.medianBeat.count == encoder.leads * encoder.tokenSamples, f.rhythm.count == rhythm else {
            // Non-finite samples: no beats. The rhythm token says so (no-rhythm flag), and the
            // out-of-distribution check flags the input.
            var x = [Float](repeating: 0, count: encoder.inputSize)
            x[encoder.inputSize - 1] = 1
            return x
        }
        return f.medianBeat + f.rhythm
    }

    /// The prepared record as the model reads it: leads matched by name in manifest order (absent →
    /// zeros), samples cropped or zero-padded at the end. `prepare` output passes through unchanged.
    func conformedRecord(_ input: PreparedECG) -> [Float] {
        let enc = encoder
        let wanted = inputLeads
        if input.leads == wanted && input.sampleCount == enc.sampleCount && input.values.count == enc.leads * enc.sampleCount {
            return input.values
        }
        var out = [Float](repeating: 0, count: enc.leads * enc.sampleCount)
        let n = min(input.sampleCount, enc.sampleCount)
        guard n > 0 else { return out }
        for (l, id) in wanted.enumerated() {
            guard let src = input.leads.firstIndex(of: id), (src + 1) * input.sampleCount <= input.values.count else { continue }
            for i in 0..<n { out[l * enc.sampleCount + i] = input.values[src * input.sampleCount + i] }
        }
        return out
    }

    // MARK: encoder and heads

    public func analyse(_ input: PreparedECG) -> ECGAnalysis {
        count { $0.analyses += 1 }
        let x = conformed(input)
        let out = withWorkspace(batch: false) { ws in
            x.withUnsafeBufferPointer { encoder.forward($0.baseAddress!, count: 1, workspace: ws)[0] }
        }
        return interpret(out, input: x, evidence: signalEvidence(input))
    }

    public func analyse(batch: [PreparedECG]) -> [ECGAnalysis] {
        if batch.count == 1 { return [analyse(batch[0])] }
        count { $0.analyses += batch.count }
        var results: [ECGAnalysis] = []
        results.reserveCapacity(batch.count)
        let per = encoder.inputSize
        var stacked = [Float](repeating: 0, count: batchChunk * per)
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + batchChunk)
            var inputs: [[Float]] = []
            for k in start..<end {
                let x = conformed(batch[k])
                inputs.append(x)
                stacked.withUnsafeMutableBufferPointer { dst in
                    x.withUnsafeBufferPointer { (dst.baseAddress! + (k - start) * per).update(from: $0.baseAddress!, count: per) }
                }
            }
            let outs = withWorkspace(batch: true) { ws in
                stacked.withUnsafeBufferPointer { encoder.forward($0.baseAddress!, count: end - start, workspace: ws) }
            }
            for (k, (out, x)) in zip(outs, inputs).enumerated() {
                results.append(interpret(out, input: x, evidence: signalEvidence(batch[start + k])))
            }
            start = end
        }
        return results
    }

    /// The out-of-distribution check's signal-level distance and lead statistics of one prepared
    /// ECG (each nil without its block in the bundle, or when the record gives no beats).
    func signalEvidence(_ input: PreparedECG) -> (distance: Double?, lead: [Double]?) {
        guard let model = bundle.outOfDistribution, model.signal != nil || model.leadThresholds != nil,
              case let .beats(spec, _) = encoder.layout else { return (nil, nil) }
        let record = conformedRecord(input)
        let beats = input.beats ?? (try? beatFeatures(record: record, spec: spec))
        let rate = bundle.manifest.input.samplingRate
        return (model.signalDistance(record: record, leads: encoder.leads, sampleCount: encoder.sampleCount,
                                     samplingRate: rate, beats: beats),
                model.leadStatistics(record: record, leads: encoder.leads, sampleCount: encoder.sampleCount,
                                     samplingRate: rate, beats: beats, preSamples: spec.preSamples,
                                     beatLength: spec.preSamples + spec.postSamples))
    }

    /// The ECG's interval cell (ModelManifest.IntervalCellSpec): the first cell whose product of
    /// head probabilities — read from the analysis's own risks and subtypes, by "head.output" — is
    /// above its threshold, else "none"; nil when the bundle has no cells.
    func intervalCell(risks: [RiskScore], subtypes: [SubtypeScore]) -> String? {
        guard let cells = encoder.heads.lazy.compactMap({ $0.spec.uncertainty?.cells }).first else { return nil }
        var probability: [String: Double] = [:]
        for r in risks { probability[r.target.description] = r.probability }
        for s in subtypes { probability[s.target.description] = s.probability }
        for c in cells where c.product.reduce(1.0, { $0 * (probability[$1] ?? 0) }) > c.above { return c.name }
        return ModelManifest.IntervalCellSpec.noCell
    }

    func interpret(_ out: EncoderOutput, input: [Float], evidence: (distance: Double?, lead: [Double]?) = (nil, nil)) -> ECGAnalysis {
        var risks: [RiskScore] = [], subtypes: [SubtypeScore] = [], phenotypes: [PhenotypeValue] = []
        var raw: [String: [Float]] = [:]
        for (g, head) in encoder.heads.enumerated() {
            let v = out.heads[g]
            raw[head.spec.name] = v
            if g < out.logSigma.count, let ls = out.logSigma[g] { raw["\(head.spec.name).logSigma"] = ls }
            switch head.spec.kind {
            case .sigmoid:
                for (i, o) in head.spec.outputs.enumerated() {
                    let p = 1 / (1 + Foundation.exp(-Double(v[i])))
                    let bands = (o.bands?.count == 2 ? o.bands! : [0.2, 0.5])
                    let band: RiskBand = p < bands[0] ? .low : (p < bands[1] ? .intermediate : .high)
                    let weak = o.weak ?? (o.validationAUC.map { $0 < RiskScore.weakValidationAUC } ?? false)
                    risks.append(RiskScore(target: HeadTarget(head: head.spec.name, output: o.id), label: o.label,
                                           probability: p, validationAUC: o.validationAUC, isWeak: weak, bands: bands, band: band))
                }
            case .softmax:
                let m = v.max() ?? 0
                let e = v.map { Foundation.exp(Double($0 - m)) }
                let s = e.reduce(0, +)
                for (i, o) in head.spec.outputs.enumerated() {
                    subtypes.append(SubtypeScore(target: HeadTarget(head: head.spec.name, output: o.id), label: o.label,
                                                 probability: e[i] / s))
                }
            case .regression:
                continue
            }
        }
        // Regression heads after the others: their intervals use the cell the probabilities give.
        let cell = intervalCell(risks: risks, subtypes: subtypes)
        for (g, head) in encoder.heads.enumerated() where head.spec.kind == .regression {
            let v = out.heads[g]
            let logSigma = g < out.logSigma.count ? out.logSigma[g] : nil
            for (i, o) in head.spec.outputs.enumerated() {
                let value = Double(v[i]) * (o.std ?? 1) + (o.mean ?? 0)
                var range: ClosedRange<Double>?
                if let r = o.referenceRange, r.count == 2, r[0] <= r[1] { range = r[0]...r[1] }
                var interval: ClosedRange<Double>?
                if let ls = logSigma, let scale = o.interval80Scale(cell: cell), scale.isFinite, scale >= 0 {
                    // log σ clipped as in training (−7…4), so one wild input cannot give an infinite interval.
                    let half = scale * Foundation.exp(min(max(Double(ls[i]), -7), 4)) * (o.std ?? 1)
                    interval = (value - half)...(value + half)
                }
                phenotypes.append(PhenotypeValue(target: HeadTarget(head: head.spec.name, output: o.id), label: o.label,
                                                 value: value, unit: o.unit ?? "", referenceRange: range,
                                                 validationR: o.validationR, isOutOfRange: range.map { !$0.contains(value) } ?? false,
                                                 isWeak: o.weak ?? false, interval80: interval,
                                                 interval80Cell: interval == nil ? nil : cell))
            }
        }
        var ood: OutOfDistributionVerdict?
        if let model = bundle.outOfDistribution {
            ood = model.verdict(pooled: out.pooled, encoderInput: input, leads: encoder.leads, beatSamples: encoder.tokenSamples,
                                signalDistance: evidence.distance, leadStatistics: evidence.lead)
        }
        return ECGAnalysis(modelID: bundle.id, isSynthetic: bundle.isSynthetic, embedding: out.embedding,
                           risks: risks, subtypes: subtypes, phenotypes: phenotypes, rawHeads: raw, outOfDistribution: ood,
                           intervalCell: cell)
    }

    // MARK: Grad-CAM

    func locate(_ target: HeadTarget) throws -> (group: Int, index: Int) {
        guard let g = encoder.heads.firstIndex(where: { $0.spec.name == target.head }),
              let i = encoder.heads[g].spec.outputs.firstIndex(where: { $0.id == target.output }) else {
            throw CardiacPipelineError.unknownTarget(target, modelID: bundle.id)
        }
        return (g, i)
    }

    /// Grad-CAM for one head output (one forward pass plus a backward through head, pooling and
    /// final norm).
    public func gradCAM(_ input: PreparedECG, target: HeadTarget) throws -> GradCAMMap {
        try gradCAMs(input, targets: [target])[0]
    }

    /// Grad-CAM for several head outputs sharing one forward pass.
    public func gradCAMs(_ input: PreparedECG, targets: [HeadTarget]) throws -> [GradCAMMap] {
        let located = try targets.map(locate)
        count { $0.gradCAMPasses += 1 }
        var input = input
        if case let .beats(spec, _) = encoder.layout, input.beats == nil {
            input.beats = try? beatFeatures(record: conformedRecord(input), spec: spec)
        }
        let x = conformed(input)
        let enc = encoder
        let cams: [[Float]] = withWorkspace(batch: false) { ws in
            _ = x.withUnsafeBufferPointer { enc.forward($0.baseAddress!, count: 1, workspace: ws, recordForGradCAM: true) }
            return located.map { enc.gradCAM(group: $0.group, index: $0.index, workspace: ws) }
        }
        return zip(targets, cams).map { t, cam in
            var map: [Float]
            var rhythm: Float?
            switch enc.layout {
            case .record:
                map = enc.perLeadMap(cam)
                let m = map.max() ?? 0
                if m > 0 { let inv = 1 / m; for i in 0..<map.count { map[i] *= inv } }
            case let .beats(spec, _):
                // The beat tokens of a lead are drawn at every complete beat window of the record
                // (maximum where windows overlap); the rhythm token's value is kept beside the map.
                let perLead = enc.perLeadMap(cam)
                let r = cam[enc.camTokens - 1]
                let m = max(perLead.max() ?? 0, r)
                map = [Float](repeating: 0, count: enc.leads * enc.sampleCount)
                let beat = enc.tokenSamples, n = enc.sampleCount
                for p in input.beats?.rPeakIndices ?? [] {
                    let a0 = p - spec.preSamples
                    guard a0 >= 0, a0 + beat <= n else { continue }
                    for l in 0..<enc.leads {
                        for k in 0..<beat { map[l * n + a0 + k] = max(map[l * n + a0 + k], perLead[l * beat + k]) }
                    }
                }
                if m > 0 { let inv = 1 / m; for i in 0..<map.count { map[i] *= inv } }
                rhythm = m > 0 ? r / m : r
            }
            return GradCAMMap(target: t, leads: inputLeads, samplingRate: bundle.manifest.input.samplingRate,
                              sampleCount: enc.sampleCount, values: map, patchSamples: enc.patch, rhythmRelevance: rhythm,
                              recordOffsetSeconds: input.sourceOffsetSeconds)
        }
    }

    // MARK: CMR generation

    /// Generates SAX and LAX cines (`frameCount` frames, phase k/frameCount) for an analysed ECG:
    /// its embedding conditions the prior; with an anatomy generator the anatomy is the analysis's
    /// own phenotype head output and the seed also draws the pose. Same seed and analysis →
    /// identical frames; a new seed changes texture and pose, not the anatomy.
    ///
    /// `anatomy` `.pointEstimate` (default) draws the values printed beside the picture;
    /// `.withinInterval80` draws each anatomy value from the head's predicted distribution kept
    /// inside its 80 % interval (the seed decides where), so a reader sees how sure the model is.
    public func generateCMR(for analysis: ECGAnalysis, seed: UInt64, frameCount: Int = 50,
                            anatomy mode: AnatomyMode = .pointEstimate) throws -> GeneratedCMR {
        var cmr = try generateCMR(embedding: analysis.embedding, anatomy: try anatomyInput(analysis, mode: mode, seed: seed),
                                  seed: seed, frameCount: frameCount)
        cmr.anatomy = mode
        return cmr
    }

    /// Whether the generator can draw within the 80 % intervals (a heteroscedastic anatomy head
    /// with calibrated scales for every anatomy output).
    public var canDrawAnatomyRange: Bool {
        guard let a = bundle.generator?.anatomy,
              let head = encoder.heads.first(where: { $0.spec.name == a.head }), head.logSigma != nil else { return false }
        return a.indices.allSatisfy { $0 < head.spec.outputs.count && head.spec.outputs[$0].interval80Scale != nil }
    }

    /// The anatomy part of the decoder latent (nil for a v1 latent generator).
    func anatomyInput(_ analysis: ECGAnalysis, mode: AnatomyMode = .pointEstimate, seed: UInt64 = 0) throws -> [Float]? {
        // A picture labelled "within the intervals" must be one: refused unless the bundle can draw it.
        if mode == .withinInterval80 && !canDrawAnatomyRange { throw CardiacPipelineError.noAnatomyRange(modelID: bundle.id) }
        guard let gen = bundle.generator, let a = gen.anatomy else { return nil }
        guard let raw = analysis.rawHeads[a.head] else {
            throw CardiacPipelineError.inputShape("the analysis has no '\(a.head)' head output for the generator's anatomy")
        }
        let mu = try a.indices.map { i in
            guard i < raw.count else { throw CardiacPipelineError.inputShape("head '\(a.head)' has \(raw.count) outputs") }
            return raw[i]
        }
        guard mode == .withinInterval80 else { return mu }
        guard let logSigma = analysis.rawHeads["\(a.head).logSigma"],
              let head = encoder.heads.first(where: { $0.spec.name == a.head }) else {
            throw CardiacPipelineError.noAnatomyRange(modelID: bundle.id)
        }
        // A stream of its own (seed + "anat"), so the residual noise and the pose of a seed are the
        // same as in the point-estimate picture. Each value: μ + t·q·σ/z₀.₉ with t a standard normal
        // clamped to ±z₀.₉ = ±1.2816 — the predictive Gaussian kept inside the 80 % interval μ ± q·σ.
        var rng = SeededGaussian(seed: seed &+ AnatomyMode.streamOffset)
        let t = rng.draw(mu.count)
        let z90 = 1.2815515655446004
        return a.indices.enumerated().map { k, i in
            let q = head.spec.outputs[i].interval80Scale(cell: analysis.intervalCell) ?? 0
            let sigma = Foundation.exp(min(max(Double(logSigma[i]), -7), 4))
            let u = min(max(Double(t[k]), -z90), z90)
            return Float(Double(mu[k]) + u * q * sigma / z90)
        }
    }

    /// Generation from an embedding (and, for an anatomy generator, the anatomy head's raw outputs).
    public func generateCMR(embedding: [Float], anatomy: [Float]? = nil, seed: UInt64, frameCount: Int = 50) throws -> GeneratedCMR {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        guard embedding.count == encoder.embeddingSize else {
            throw CardiacPipelineError.inputShape("embedding has \(embedding.count) values; the generator needs \(encoder.embeddingSize)")
        }
        if let a = gen.anatomy, anatomy?.count != a.indices.count {
            throw CardiacPipelineError.inputShape("the anatomy generator needs \(a.indices.count) anatomy values (the '\(a.head)' head)")
        }
        count { $0.generations += 1 }
        var rng = SeededGaussian(seed: seed)
        let noise = rng.draw(gen.prior.state)
        let z = gen.sampleLatent(condition: embedding, noise: noise)
        let n = max(1, frameCount)
        let phases = (0..<n).map { Double($0) / Double(n) }
        let poses = gen.seededPose(seed: seed)
        let loops: [CineLoop] = gen.views.enumerated().map { v, dec in
            var frames = gen.render(view: v, latent: gen.viewLatent(v, sampled: z, anatomy: anatomy), phases: phases)
            if v < poses.count {
                let p = poses[v]
                frames = frames.map { PoseWarp.apply($0, size: dec.size, angle: p.angle, dx: p.dx, dy: p.dy) }
            }
            return CineLoop(view: dec.view, width: dec.size, height: dec.size, frames: frames, phases: phases)
        }
        return GeneratedCMR(modelID: bundle.id, seed: seed, sax: loops[0], lax: loops[1])
    }

    /// The de-standardised prior state DDIM draws for `noise` (v1: latent; v2: residuals).
    public func sampleLatent(embedding: [Float], noise: [Float]) throws -> [Float] {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        return gen.sampleLatent(condition: embedding, noise: noise)
    }

    /// Frames of one view (canonical pose) from a sampled prior state and, for an anatomy
    /// generator, the anatomy.
    public func renderFrames(view: CMRView, latent: [Float], anatomy: [Float]? = nil, phases: [Double]) throws -> [[Float]] {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        guard let v = gen.views.firstIndex(where: { $0.view == view }) else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        return gen.render(view: v, latent: gen.viewLatent(v, sampled: latent, anatomy: anatomy), phases: phases)
    }

    /// The generator's pose for a seed, per view (rotation radians, shift x / y pixels); empty for v1.
    public func pose(seed: UInt64) -> [(angle: Double, dx: Double, dy: Double)] {
        bundle.generator?.seededPose(seed: seed) ?? []
    }

    /// What the generated cines were measured to carry (manifest `generator.informativeness`).
    public var generatorInformativeness: ModelManifest.InformativenessSpec? { bundle.manifest.generator?.informativeness }
}
