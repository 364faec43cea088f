import CommonKit
import Dispatch
import Foundation
import NeuralCore

/// Seeded standard-normal noise shared with the PyTorch reference (`model.seeded_gaussian`):
/// SplitMix64 → uniform doubles from the top 53 bits → Box–Muller pairs (cos, then sin).
public struct SeededGaussian: Sendable {
    private var bits: SplitMix64

    public init(seed: UInt64) { bits = SplitMix64(seed: seed) }

    public mutating func nextUInt64() -> UInt64 { bits.next() }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double { Double(nextUInt64() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    public mutating func draw(_ count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = 1.0 - nextUniform()
            let u2 = nextUniform()
            let r = (-2.0 * Foundation.log(u1)).squareRoot()
            out[i] = Float(r * Foundation.cos(2 * Double.pi * u2))
            if i + 1 < count { out[i + 1] = Float(r * Foundation.sin(2 * Double.pi * u2)) }
            i += 2
        }
        return out
    }
}

/// Renders one frame of a view from (latent, cardiac phase): fc → SiLU → [2× nearest, conv3×3,
/// SiLU]* → conv3×3 → sigmoid.
struct FrameDecoderModel: Sendable {
    let view: CMRView
    let latent: Int
    let size: Int
    let base: Int
    let channels: [Int]
    let fc: Linear
    let ups: [Conv2d3x3]
    let out: Conv2d3x3

    init(spec: ModelManifest.ViewSpec, view: CMRView, latent: Int, weights: WeightSource, manifestPath: String) throws {
        self.view = view
        self.latent = latent
        size = spec.size
        base = spec.baseSize
        channels = spec.channels
        guard !channels.isEmpty, base > 0, channels.allSatisfy({ $0 > 0 }),
              base << (channels.count - 1) == size else {
            throw ModelBundleError.invalidManifest(file: manifestPath,
                reason: "generator view '\(spec.name)': baseSize \(base) · 2^\(channels.count - 1) ≠ size \(size)")
        }
        let p = "generator.\(spec.name)"
        fc = try Linear(weights, p + ".fc", in: latent + 4, out: channels[0] * base * base)
        let ch = spec.channels
        ups = try (0..<(ch.count - 1)).map {
            try Conv2d3x3(weights, p + ".ups.\($0)", in: ch[$0], out: ch[$0 + 1])
        }
        out = try Conv2d3x3(weights, p + ".out", in: channels[channels.count - 1], out: 1)
    }

    /// Largest activation / column buffer sizes one frame needs.
    var activationCount: Int {
        var m = channels[0] * base * base, s = base
        for k in 0..<ups.count { s *= 2; m = max(m, channels[k] * s * s, channels[k + 1] * s * s) }
        return m
    }

    var columnCount: Int {
        var m = 0, s = base
        for k in 0..<ups.count { s *= 2; m = max(m, ups[k].columnCount(height: s, width: s)) }
        return max(m, out.columnCount(height: size, width: size))
    }

    /// z `[latent]`, phase φ ∈ [0, 1) → frame `[size·size]` written to `frame`.
    func render(z: UnsafePointer<Float>, phase: Double, frame: UnsafeMutablePointer<Float>,
                a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>) {
        // Input = concat(z, sin 2πφ, cos 2πφ, sin 4πφ, cos 4πφ), features in float64 as the reference.
        var input = [Float](repeating: 0, count: latent + 4)
        for i in 0..<latent { input[i] = z[i] }
        let p = Double(Float(phase)) * 2 * Double.pi
        input[latent] = Float(Foundation.sin(p)); input[latent + 1] = Float(Foundation.cos(p))
        input[latent + 2] = Float(Foundation.sin(2 * p)); input[latent + 3] = Float(Foundation.cos(2 * p))
        input.withUnsafeBufferPointer { fc.forward($0.baseAddress!, rows: 1, into: a) }
        var s = base
        Activation.silu(a, count: channels[0] * s * s)
        let cur = a, other = b
        for (k, conv) in ups.enumerated() {
            Upsample.nearest2x(cur, channels: channels[k], height: s, width: s, into: other)
            s *= 2
            conv.forward(other, height: s, width: s, into: cur, columns: columns)
            Activation.silu(cur, count: channels[k + 1] * s * s)
        }
        out.forward(cur, height: s, width: s, into: frame, columns: columns)
        Activation.sigmoid(frame, count: s * s)
    }
}

/// ε-predictor MLP of the latent diffusion prior.
struct LatentPriorModel: Sendable {
    let state: Int
    let condition: Int
    let timeEmbedding: Int
    let layers: [Linear]

    init(spec: ModelManifest.PriorSpec, state: Int, condition: Int, weights: WeightSource, manifestPath: String) throws {
        guard spec.layers >= 1, spec.hidden > 0, spec.timeEmbedding > 0, spec.timeEmbedding % 2 == 0 else {
            throw ModelBundleError.invalidManifest(file: manifestPath, reason: "generator.prior needs layers ≥ 1 and an even timeEmbedding")
        }
        self.state = state
        self.condition = condition
        timeEmbedding = spec.timeEmbedding
        let dims = [state + condition + spec.timeEmbedding] + Array(repeating: spec.hidden, count: spec.layers - 1) + [state]
        layers = try (0..<spec.layers).map { try Linear(weights, "generator.prior.fc\($0)", in: dims[$0], out: dims[$0 + 1]) }
    }

    /// ε̂ for state x at integer timestep t given the ECG embedding.
    func predict(x: [Float], condition e: [Float], timestep t: Int, a: UnsafeMutablePointer<Float>,
                 b: UnsafeMutablePointer<Float>) -> [Float] {
        let half = timeEmbedding / 2
        var i = 0
        for v in x { a[i] = v; i += 1 }
        for v in e { a[i] = v; i += 1 }
        for k in 0..<half {
            let f = Foundation.exp(-Foundation.log(10000.0) * Double(k) / Double(half))
            let arg = Double(t) * f
            a[i + k] = Float(Foundation.sin(arg))
            a[i + half + k] = Float(Foundation.cos(arg))
        }
        var cur = a, other = b
        for (j, layer) in layers.enumerated() {
            layer.forward(cur, rows: 1, into: other)
            if j < layers.count - 1 { Activation.silu(other, count: layer.outFeatures) }
            swap(&cur, &other)
        }
        return Array(UnsafeBufferPointer(start: cur, count: state))
    }
}

/// Rotates frames about their centre and shifts them (bilinear, edges clamped): the nuisance pose
/// a seed draws for the anatomy generator. Same arithmetic as `model.apply_pose` in training.
enum PoseWarp {
    static func apply(_ frame: [Float], size s: Int, angle: Double, dx: Double, dy: Double) -> [Float] {
        guard s >= 2 else { return frame }
        let c = Double(s - 1) / 2, ca = Foundation.cos(angle), sa = Foundation.sin(angle)
        var out = [Float](repeating: 0, count: s * s)
        for i in 0..<s {
            for j in 0..<s {
                let x = Double(j) - c - dx
                let y = c - (Double(i) - dy)
                let xs = ca * x + sa * y, ys = -sa * x + ca * y
                let sj = min(max(xs + c, 0), Double(s - 1)), si = min(max(c - ys, 0), Double(s - 1))
                let j0 = min(Int(sj.rounded(.down)), s - 2), i0 = min(Int(si.rounded(.down)), s - 2)
                let fj = Float(sj - Double(j0)), fi = Float(si - Double(i0))
                let top = frame[i0 * s + j0] * (1 - fj) + frame[i0 * s + j0 + 1] * fj
                let bot = frame[(i0 + 1) * s + j0] * (1 - fj) + frame[(i0 + 1) * s + j0 + 1] * fj
                out[i * s + j] = top * (1 - fi) + bot * fi
            }
        }
        return out
    }
}

/// The ECG-conditioned CMR generator: DDIM over the latent prior, then a decoder per view.
///
/// Type `latent` (v1): the prior draws the whole decoder latent of both views. Type `anatomy` (v2):
/// the decoder latent of view v is (anatomy, residual_v); the anatomy is the raw output of the
/// manifest's anatomy head (the phenotype numbers shown beside the cine), the prior draws only
/// the residuals (with classifier-free guidance), and the seed draws the pose.
struct CMRGeneratorModel: Sendable {
    let latent: Int
    let views: [FrameDecoderModel]
    let prior: LatentPriorModel
    let latentMean: Tensor
    let latentStd: Tensor
    /// Anatomy generator: (head group name, indices of its outputs in decoder-latent order).
    let anatomy: (head: String, indices: [Int])?
    let sizeCorrection: AnatomySizeCorrection?
    let residual: Int
    let guidance: Float
    let pose: ModelManifest.PoseSpec?
    let alphasCumprod: [Double]
    let timesteps: [Int]
    let defaultFrames: Int

    init(spec: ModelManifest.GeneratorSpec, conditionSize: Int, heads: [ModelManifest.HeadSpec] = [],
         weights: WeightSource, manifestPath: String) throws {
        func bad(_ r: String) -> ModelBundleError { .invalidManifest(file: manifestPath, reason: r) }
        guard spec.latentSize > 0 else { throw bad("generator.latentSize must be positive") }
        let names = spec.views.map(\.name)
        guard names == ["sax", "lax"] else { throw bad("generator.views must be [sax, lax] in that order, found \(names)") }
        let d = spec.diffusion
        guard d.steps >= 1, d.samplingSteps >= 1, d.samplingSteps <= d.steps, d.betaStart > 0, d.betaEnd < 1,
              d.betaStart <= d.betaEnd else {
            throw bad("generator.diffusion: need 1 ≤ samplingSteps ≤ steps and 0 < betaStart ≤ betaEnd < 1")
        }
        latent = spec.latentSize
        views = try spec.views.map {
            try FrameDecoderModel(spec: $0, view: CMRView(rawValue: $0.name)!, latent: spec.latentSize, weights: weights, manifestPath: manifestPath)
        }
        if spec.type == "anatomy", let a = spec.anatomy, let r = spec.residualSize {
            guard let head = heads.first(where: { $0.name == a.head }), head.kind == .regression else {
                throw bad("generator.anatomy.head '\(a.head)' is not a regression head of this bundle")
            }
            let indices = try a.outputs.map { id -> Int in
                guard let i = head.outputs.firstIndex(where: { $0.id == id }) else {
                    throw bad("generator.anatomy output '\(id)' is not an output of head '\(a.head)'")
                }
                return i
            }
            anatomy = (a.head, indices)
            sizeCorrection = try a.sizeCorrection.map {
                try AnatomySizeCorrection(spec: $0, anatomy: a.outputs, head: head, manifestPath: manifestPath)
            }
            residual = r
            pose = spec.pose
        } else {
            anatomy = nil
            sizeCorrection = nil
            residual = latent
            pose = nil
        }
        guidance = Float(spec.guidance ?? 1)
        let total = residual * views.count
        prior = try LatentPriorModel(spec: spec.prior, state: total, condition: conditionSize, weights: weights, manifestPath: manifestPath)
        let stats = anatomy == nil ? "latent" : "residual"
        latentMean = try weights.tensor("generator.\(stats)_mean", shape: [total])
        latentStd = try weights.tensor("generator.\(stats)_std", shape: [total])
        var ab: [Double] = []
        var acc = 1.0
        for i in 0..<d.steps {
            // np.linspace(betaStart, betaEnd, steps)
            let step = d.steps == 1 ? 0 : (d.betaEnd - d.betaStart) / Double(d.steps - 1)
            let beta = i == d.steps - 1 && d.steps > 1 ? d.betaEnd : Double(i) * step + d.betaStart
            acc *= 1 - beta
            ab.append(acc)
        }
        alphasCumprod = ab
        let s = d.samplingSteps
        var ts: [Int] = []
        for i in 0..<s {
            let frac: Double = s == 1 ? 0 : Double(i) / Double(s - 1)
            let v: Double = Double(d.steps - 1) * (1 - frac) + 0.5
            ts.append(Int(v.rounded(.down)))
        }
        timesteps = ts
        defaultFrames = max(1, spec.frames)
    }

    /// Deterministic DDIM (η = 0) from x_T = `noise`; returns the de-standardised prior state
    /// (v1: the latent of both views; v2: their residuals). With guidance w ≠ 1,
    /// ε = ε(∅) + w·(ε(c) − ε(∅)) where ∅ is the zero condition the prior was trained with.
    func sampleLatent(condition: [Float], noise: [Float]) -> [Float] {
        let n = max(prior.layers.map(\.outFeatures).max() ?? 0, prior.state + prior.condition + prior.timeEmbedding)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n), b = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate(); b.deallocate() }
        let zero = [Float](repeating: 0, count: condition.count)
        var x = noise
        for (i, t) in timesteps.enumerated() {
            var eps = prior.predict(x: x, condition: condition, timestep: t, a: a, b: b)
            if guidance != 1 {
                let eu = prior.predict(x: x, condition: zero, timestep: t, a: a, b: b)
                for k in 0..<eps.count { eps[k] = eu[k] + guidance * (eps[k] - eu[k]) }
            }
            let at = alphasCumprod[t]
            let aprev = i + 1 < timesteps.count ? alphasCumprod[timesteps[i + 1]] : 1.0
            // Same operation order and float32 rounding of the coefficients as the reference.
            let c1 = Float((1 - at).squareRoot()), c2 = Float(at.squareRoot())
            let c3 = Float(aprev.squareRoot()), c4 = Float((1 - aprev).squareRoot())
            for k in 0..<x.count {
                let x0 = (x[k] - c1 * eps[k]) / c2
                x[k] = c3 * x0 + c4 * eps[k]
            }
        }
        for k in 0..<x.count { x[k] = x[k] * latentStd.values[k] + latentMean.values[k] }
        return x
    }

    /// The decoder latent of view `v`: v1 the view's slice of the sampled latent; v2 the anatomy
    /// followed by the view's residual.
    func viewLatent(_ v: Int, sampled: [Float], anatomy a: [Float]?) -> [Float] {
        guard anatomy != nil, let a else { return Array(sampled[(v * latent)..<((v + 1) * latent)]) }
        return (sizeCorrection?.apply(a) ?? a) + Array(sampled[(v * residual)..<((v + 1) * residual)])
    }

    /// Per view (rotation radians, shift x, shift y) drawn from `seed + poseStream` (model.seeded_pose).
    static let poseStream: UInt64 = 0x706F_7365
    func seededPose(seed: UInt64) -> [(angle: Double, dx: Double, dy: Double)] {
        guard let pose else { return [] }
        var rng = SeededGaussian(seed: seed &+ Self.poseStream)
        return views.map { _ in
            let u0 = rng.nextUniform(), u1 = rng.nextUniform(), u2 = rng.nextUniform()
            return ((2 * u0 - 1) * pose.rotationDegrees * Double.pi / 180, (2 * u1 - 1) * pose.shiftPixels,
                    (2 * u2 - 1) * pose.shiftPixels)
        }
    }

    /// Frames of one view at the given phases, split over the thread budget (each thread renders
    /// a contiguous run of phases with its own buffers; each frame is computed alone, so the split
    /// never changes its bits — see EngineThreads).
    func render(view v: Int, latent z: [Float], phases: [Double]) -> [[Float]] {
        let dec = views[v]
        let act = dec.activationCount, cols = dec.columnCount, pixels = dec.size * dec.size
        var frames = [Float](repeating: 0, count: phases.count * pixels)
        z.withUnsafeBufferPointer { zp in
            let zv = zp.baseAddress!
            frames.withUnsafeMutableBufferPointer { fp in
                let out = fp.baseAddress!
                let parts = max(1, min(EngineThreads.threads(), phases.count))
                DispatchQueue.concurrentPerform(iterations: parts) { k in
                    let a = UnsafeMutablePointer<Float>.allocate(capacity: act)
                    let b = UnsafeMutablePointer<Float>.allocate(capacity: act)
                    let c = UnsafeMutablePointer<Float>.allocate(capacity: cols)
                    defer { a.deallocate(); b.deallocate(); c.deallocate() }
                    for f in (k * phases.count / parts)..<((k + 1) * phases.count / parts) {
                        dec.render(z: zv, phase: phases[f], frame: out + f * pixels, a: a, b: b, columns: c)
                    }
                }
            }
        }
        return (0..<phases.count).map { Array(frames[($0 * pixels)..<(($0 + 1) * pixels)]) }
    }
}

/// `generator.anatomy.sizeCorrection` resolved against the anatomy head: the decoder, trained on a
/// cohort with few large hearts, draws them smaller than asked, so it is asked for the `scale`
/// volumes × factor(the requested `by` volume). Same arithmetic as `model.SizeCorrection` in
/// training (float64, then rounded to float32), so the golden frames hold.
struct AnatomySizeCorrection: Sendable {
    let by: Int
    let scale: [Int]
    /// Per anatomy position: the head output's mean and std (standardised ↔ mL).
    let mean: [Double]
    let std: [Double]
    let knots: [Double]
    let factors: [Double]

    init(spec: ModelManifest.SizeCorrectionSpec, anatomy: [String], head: ModelManifest.HeadSpec, manifestPath: String) throws {
        func bad(_ r: String) -> ModelBundleError { .invalidManifest(file: manifestPath, reason: "generator.anatomy.sizeCorrection: " + r) }
        func position(_ id: String) throws -> Int {
            guard let k = anatomy.firstIndex(of: id) else { throw bad("'\(id)' is not one of the generator's anatomy outputs") }
            return k
        }
        by = try position(spec.by)
        scale = try spec.scale.map(position)
        guard spec.knotsMl.count >= 2, spec.knotsMl.count == spec.factors.count,
              spec.knotsMl.allSatisfy(\.isFinite), zip(spec.knotsMl, spec.knotsMl.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw bad("needs at least 2 finite, increasing knotsMl and as many factors")
        }
        guard spec.factors.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw bad("factors must be finite and positive") }
        knots = spec.knotsMl
        factors = spec.factors
        var m: [Double] = [], s: [Double] = []
        for id in anatomy {
            let o = head.outputs.first(where: { $0.id == id })
            m.append(o?.mean ?? 0)
            s.append(o?.std ?? 1)
        }
        for k in [by] + scale where !(s[k].isFinite && s[k] > 0 && m[k].isFinite) {
            throw bad("output '\(anatomy[k])' needs a finite mean and a positive std")
        }
        mean = m
        std = s
    }

    /// numpy.interp: linear between knots, the end factors beyond them.
    func factor(volumeMl x: Double) -> Double {
        guard x.isFinite else { return 1 }
        if x <= knots[0] { return factors[0] }
        if x >= knots[knots.count - 1] { return factors[factors.count - 1] }
        var j = 0
        while knots[j + 1] <= x { j += 1 }
        let slope = (factors[j + 1] - factors[j]) / (knots[j + 1] - knots[j])
        return slope * (x - knots[j]) + factors[j]
    }

    /// Standardised anatomy → what the decoder is asked for.
    func apply(_ a: [Float]) -> [Float] {
        var out = a
        let k = factor(volumeMl: Double(a[by]) * std[by] + mean[by])
        for j in scale {
            out[j] = Float(((Double(a[j]) * std[j] + mean[j]) * k - mean[j]) / std[j])
        }
        return out
    }
}
