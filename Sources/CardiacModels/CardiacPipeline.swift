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
        return PreparedECG(leads: s.leads, samplingRate: s.samplingRate, sampleCount: s.sampleCount, values: s.values,
                           sourceOffsetSeconds: Double(s.offsetSamples) / s.samplingRate)
    }

    /// The input as the encoder needs it: leads matched by name in manifest order (absent → zeros),
    /// samples cropped or zero-padded at the end. `prepare` output passes through unchanged.
    func conformed(_ input: PreparedECG) -> [Float] {
        let enc = encoder
        let wanted = inputLeads
        if input.leads == wanted && input.sampleCount == enc.sampleCount && input.values.count == enc.leads * enc.sampleCount {
            return input.values
        }
        var out = [Float](repeating: 0, count: enc.leads * enc.sampleCount)
        let n = min(input.sampleCount, enc.sampleCount)
        for (l, id) in wanted.enumerated() {
            guard let src = input.leads.firstIndex(of: id), (src + 1) * input.sampleCount <= input.values.count else { continue }
            for i in 0..<n { out[l * enc.sampleCount + i] = input.values[src * input.sampleCount + i] }
        }
        return out
    }

    // MARK: encoder and heads

    public func analyse(_ input: PreparedECG) -> ECGAnalysis {
        let x = conformed(input)
        let out = withWorkspace(batch: false) { ws in
            x.withUnsafeBufferPointer { encoder.forward($0.baseAddress!, count: 1, workspace: ws)[0] }
        }
        return interpret(out)
    }

    public func analyse(batch: [PreparedECG]) -> [ECGAnalysis] {
        if batch.count == 1 { return [analyse(batch[0])] }
        var results: [ECGAnalysis] = []
        results.reserveCapacity(batch.count)
        let per = encoder.leads * encoder.sampleCount
        var stacked = [Float](repeating: 0, count: batchChunk * per)
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + batchChunk)
            for k in start..<end {
                let x = conformed(batch[k])
                stacked.withUnsafeMutableBufferPointer { dst in
                    x.withUnsafeBufferPointer { (dst.baseAddress! + (k - start) * per).update(from: $0.baseAddress!, count: per) }
                }
            }
            let outs = withWorkspace(batch: true) { ws in
                stacked.withUnsafeBufferPointer { encoder.forward($0.baseAddress!, count: end - start, workspace: ws) }
            }
            results.append(contentsOf: outs.map(interpret))
            start = end
        }
        return results
    }

    func interpret(_ out: EncoderOutput) -> ECGAnalysis {
        var risks: [RiskScore] = [], subtypes: [SubtypeScore] = [], phenotypes: [PhenotypeValue] = []
        var raw: [String: [Float]] = [:]
        for (g, head) in encoder.heads.enumerated() {
            let v = out.heads[g]
            raw[head.spec.name] = v
            switch head.spec.kind {
            case .sigmoid:
                for (i, o) in head.spec.outputs.enumerated() {
                    let p = 1 / (1 + Foundation.exp(-Double(v[i])))
                    let bands = (o.bands?.count == 2 ? o.bands! : [0.2, 0.5])
                    let band: RiskBand = p < bands[0] ? .low : (p < bands[1] ? .intermediate : .high)
                    let weak = o.weak ?? (o.validationAUC.map { $0 < 0.65 } ?? false)
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
                for (i, o) in head.spec.outputs.enumerated() {
                    let value = Double(v[i]) * (o.std ?? 1) + (o.mean ?? 0)
                    var range: ClosedRange<Double>?
                    if let r = o.referenceRange, r.count == 2, r[0] <= r[1] { range = r[0]...r[1] }
                    phenotypes.append(PhenotypeValue(target: HeadTarget(head: head.spec.name, output: o.id), label: o.label,
                                                     value: value, unit: o.unit ?? "", referenceRange: range,
                                                     validationR: o.validationR, isOutOfRange: range.map { !$0.contains(value) } ?? false))
                }
            }
        }
        return ECGAnalysis(modelID: bundle.id, isSynthetic: bundle.isSynthetic, embedding: out.embedding,
                           risks: risks, subtypes: subtypes, phenotypes: phenotypes, rawHeads: raw)
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
        let x = conformed(input)
        let enc = encoder
        let maps: [[Float]] = withWorkspace(batch: false) { ws in
            _ = x.withUnsafeBufferPointer { enc.forward($0.baseAddress!, count: 1, workspace: ws, recordForGradCAM: true) }
            return located.map { enc.gradCAM(group: $0.group, index: $0.index, workspace: ws) }
        }
        return zip(targets, maps).map { t, m in
            GradCAMMap(target: t, leads: inputLeads, samplingRate: bundle.manifest.input.samplingRate,
                       sampleCount: enc.sampleCount, values: m, patchSamples: enc.patch)
        }
    }

    // MARK: CMR generation

    /// Generates SAX and LAX cines (`frameCount` frames, phase k/frameCount) from an ECG embedding.
    /// Same seed and embedding → identical frames.
    public func generateCMR(embedding: [Float], seed: UInt64, frameCount: Int = 50) throws -> GeneratedCMR {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        guard embedding.count == encoder.embeddingSize else {
            throw CardiacPipelineError.inputShape("embedding has \(embedding.count) values; the generator needs \(encoder.embeddingSize)")
        }
        var rng = SeededGaussian(seed: seed)
        let noise = rng.draw(gen.latent * gen.views.count)
        let z = gen.sampleLatent(condition: embedding, noise: noise)
        let n = max(1, frameCount)
        let phases = (0..<n).map { Double($0) / Double(n) }
        let loops: [CineLoop] = gen.views.enumerated().map { v, dec in
            CineLoop(view: dec.view, width: dec.size, height: dec.size,
                     frames: gen.render(view: v, latent: z, phases: phases), phases: phases)
        }
        return GeneratedCMR(modelID: bundle.id, seed: seed, sax: loops[0], lax: loops[1])
    }

    /// The de-standardised latent DDIM draws for `noise` (for parity tests and audits).
    public func sampleLatent(embedding: [Float], noise: [Float]) throws -> [Float] {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        return gen.sampleLatent(condition: embedding, noise: noise)
    }

    /// Frames of one view from a given latent at given phases.
    public func renderFrames(view: CMRView, latent: [Float], phases: [Double]) throws -> [[Float]] {
        guard let gen = bundle.generator else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        guard let v = gen.views.firstIndex(where: { $0.view == view }) else { throw CardiacPipelineError.noGenerator(modelID: bundle.id) }
        return gen.render(view: v, latent: latent, phases: phases)
    }
}
