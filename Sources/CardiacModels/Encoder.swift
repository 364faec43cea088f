import Foundation
import NeuralCore
import SignalKit

/// One linear head group on the head features (the pooled vector, then the wide branch's).
struct HeadLayer: Sendable {
    let spec: ModelManifest.HeadSpec
    let linear: Linear
    /// Heteroscedastic regression: log σ per output (standardised units), same features.
    let logSigma: Linear?
}

/// The wide branch of a beat-aware encoder (manifest `encoder.wide`, PyTorch `WideBranch`): a
/// standardised vector of sub-sampled median beats, per-lead extremes and rhythm features through
/// two exact-GELU layers. Its features sit beside the pooled vector at the heads.
struct WideBranch: Sendable {
    let leads: Int
    let beatSamples: Int
    let stride: Int
    let rhythm: Int
    let inputs: Int
    let mean: Tensor
    let std: Tensor
    let fc1: Linear
    let fc2: Linear
    var hidden: Int { fc2.outFeatures }

    init(_ weights: WeightSource, spec: ModelManifest.WideSpec, leads: Int, beatSamples: Int, rhythm: Int,
         bad: (String) -> ModelBundleError) throws {
        guard spec.beatStride > 0, spec.hidden > 0 else { throw bad("encoder.wide: beatStride and hidden must be positive") }
        let expected = leads * ((beatSamples + spec.beatStride - 1) / spec.beatStride) + 2 * leads + rhythm
        guard spec.inputs == expected else {
            throw bad("encoder.wide.inputs is \(spec.inputs); \(leads) leads × a \(beatSamples)-sample beat every \(spec.beatStride), their extremes and \(rhythm) rhythm features make \(expected)")
        }
        self.leads = leads; self.beatSamples = beatSamples; self.stride = spec.beatStride; self.rhythm = rhythm
        inputs = expected
        mean = try weights.tensor("wide.mean", shape: [expected])
        std = try weights.tensor("wide.std", shape: [expected])
        fc1 = try Linear(weights, "wide.fc1", in: expected, out: spec.hidden)
        fc2 = try Linear(weights, "wide.fc2", in: spec.hidden, out: spec.hidden)
    }

    /// The raw input vector of one encoder input (median beats `[leads × beat]`, then rhythm).
    func inputVector(_ x: UnsafePointer<Float>) -> [Float] {
        var v = [Float]()
        v.reserveCapacity(inputs)
        for l in 0..<leads {
            for k in Swift.stride(from: 0, to: beatSamples, by: stride) { v.append(x[l * beatSamples + k]) }
        }
        for l in 0..<leads {
            var m = x[l * beatSamples]
            for k in 1..<beatSamples { m = max(m, x[l * beatSamples + k]) }
            v.append(m)
        }
        for l in 0..<leads {
            var m = x[l * beatSamples]
            for k in 1..<beatSamples { m = min(m, x[l * beatSamples + k]) }
            v.append(m)
        }
        for r in 0..<rhythm { v.append(x[leads * beatSamples + r]) }
        return v
    }

    /// Wide features `[hidden]` of one encoder input, written to `out`.
    func forward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        var v = inputVector(x)
        mean.values.withUnsafeBufferPointer { m in
            std.values.withUnsafeBufferPointer { sd in
                for i in 0..<inputs { v[i] = (v[i] - m[i]) / sd[i] }
            }
        }
        var h = [Float](repeating: 0, count: fc1.outFeatures)
        v.withUnsafeBufferPointer { vp in
            h.withUnsafeMutableBufferPointer { hp in
                fc1.forward(vp.baseAddress!, rows: 1, into: hp.baseAddress!)
                Activation.gelu(hp.baseAddress!, count: hp.count)
                fc2.forward(UnsafePointer(hp.baseAddress!), rows: 1, into: out)
            }
        }
        Activation.gelu(out, count: hidden)
    }
}

/// What the encoder's tokens cover.
enum TokenLayout: Sendable {
    /// `vit1d`: (lead, time-window) patches of the prepared record.
    case record
    /// `beatvit1d`: (lead, window) patches of each lead's median beat, then one rhythm token.
    case beats(BeatFeatureSpec, rhythmFeatures: Int)
}

/// How the tokens after the last block become the pooled vector (manifest `encoder.pooling`).
enum EncoderPooling: Sendable {
    /// `attention` (default): h = norm(x); softmax(h·query/√W)-weighted sum of h (`pool.query`).
    case attention(AttentionPooling)
    /// `cls`: norm(x) of the class token (MMCL `global_pool=False`).
    case classToken
    /// `mean`: fc_norm(mean of the patch tokens) (MMCL `global_pool=True`).
    case mean
    /// `mha`: fc_norm(MultiheadAttention(q = mean of the patch tokens, k = v = patch tokens))
    /// (MMCL `attention_pool`; tensors `pool.in_proj_weight`, `pool.in_proj_bias`, `pool.out_proj.*`).
    case multihead(MultiheadAttentionPooling)

    /// True when the layer norm (`encoder.norm`) runs over the tokens before pooling; otherwise it
    /// is `encoder.fc_norm` on the pooled vector.
    var normalisesTokens: Bool {
        switch self {
        case .attention, .classToken: return true
        case .mean, .multihead: return false
        }
    }
}

/// The manifest-driven ViT ECG encoder: patch embedding (+ class token) → blocks → norm and pooling
/// → projection and heads. Sizes come from the manifest; weights are checked at construction.
///
/// Per sequence the encoder input is `[leads × tokenSamples]` lead-major samples (the record, or
/// the median beats), followed for `beatvit1d` by the rhythm features.
struct ViTEncoder: Sendable {
    let layout: TokenLayout
    let leads: Int
    let sampleCount: Int
    /// Samples per lead the patches cover: the record length, or the median-beat length.
    let tokenSamples: Int
    let patch: Int
    let width: Int
    let patchesPerLead: Int
    let tokens: Int
    /// 1 when a class token is prepended (token 0 of every sequence; `encoder.cls_token`), else 0.
    let prefixTokens: Int
    /// Tokens Grad-CAM reports (all but the class token).
    var camTokens: Int { tokens - prefixTokens }
    /// Floats per sequence of the encoder input.
    let inputSize: Int
    let patchEmbed: Linear
    let rhythmEmbed: Linear?
    let classToken: Tensor?
    let posEmbed: Tensor
    let blocks: [TransformerBlock]
    /// `encoder.norm` over the tokens, or `encoder.fc_norm` on the pooled vector (`pooling.normalisesTokens`).
    let norm: LayerNorm
    let pooling: EncoderPooling
    let projection: Linear?
    /// Beat-aware encoders may add a wide branch; the heads then read concat(pooled, wide).
    let wide: WideBranch?
    let heads: [HeadLayer]
    /// Index of the block whose output Grad-CAM differentiates (the manifest's `gradcam.layer`,
    /// `encoder.blocks.<k>`; the last block unless it says otherwise).
    let gradCAMBlock: Int

    var embeddingSize: Int { projection?.outFeatures ?? width }
    /// What the heads read per ECG: the pooled vector, then the wide branch's features.
    var featureSize: Int { width + (wide?.hidden ?? 0) }

    init(manifest m: ModelManifest, weights: WeightSource, manifestPath: String) throws {
        func bad(_ reason: String) -> ModelBundleError { .invalidManifest(file: manifestPath, reason: reason) }
        let e = m.encoder
        switch e.type {
        case "vit1d": layout = .record
        case "beatvit1d":
            guard let b = e.beats, let names = e.rhythmFeatures else { throw bad("encoder type 'beatvit1d' needs beats and rhythmFeatures") }
            layout = .beats(b, rhythmFeatures: names.count)
        default: throw bad("encoder.type '\(e.type)' is not supported (vit1d, beatvit1d)")
        }
        let poolingName = e.pooling ?? "attention"
        guard ["attention", "cls", "mean", "mha"].contains(poolingName) else {
            throw bad("encoder.pooling '\(poolingName)' is not supported (attention, cls, mean, mha)")
        }
        let hasClassToken = e.classToken ?? false
        if poolingName == "cls" && !hasClassToken { throw bad("encoder.pooling 'cls' needs encoder.classToken true") }
        if case .beats = layout, hasClassToken || poolingName != "attention" {
            throw bad("encoder type 'beatvit1d' supports attention pooling without a class token only")
        }
        prefixTokens = hasClassToken ? 1 : 0
        leads = m.input.leads.count
        sampleCount = m.input.sampleCount
        patch = e.patchSize
        width = e.width
        var rhythmCount = 0
        switch layout {
        case .record: tokenSamples = sampleCount
        case let .beats(b, r): tokenSamples = b.preSamples + b.postSamples; rhythmCount = r
        }
        guard leads > 0, tokenSamples > 0, patch > 0, width > 0, e.depth > 0, e.heads > 0 else {
            throw bad("input leads, sampleCount and encoder sizes must be positive")
        }
        guard tokenSamples % patch == 0 else { throw bad("the \(tokenSamples) samples per lead the tokens cover are not a multiple of encoder.patchSize \(patch)") }
        guard width % e.heads == 0 else { throw bad("encoder.width \(width) is not divisible by encoder.heads \(e.heads)") }
        patchesPerLead = tokenSamples / patch
        tokens = prefixTokens + leads * patchesPerLead + (rhythmCount > 0 ? 1 : 0)
        inputSize = leads * tokenSamples + rhythmCount
        let eps = Float(e.layerNormEps ?? 1e-6)
        let hidden = Int((Double(width) * e.mlpRatio).rounded())
        patchEmbed = try Linear(weights, "encoder.patch_embed", in: patch, out: width)
        rhythmEmbed = rhythmCount > 0 ? try Linear(weights, "encoder.rhythm_embed", in: rhythmCount, out: width) : nil
        classToken = hasClassToken ? try weights.tensor("encoder.cls_token", shape: [width]) : nil
        posEmbed = try weights.tensor("encoder.pos_embed", shape: [tokens, width])
        let w = e.width
        blocks = try (0..<e.depth).map {
            try TransformerBlock(weights, "encoder.blocks.\($0)", width: w, heads: e.heads, hidden: hidden, eps: eps)
        }
        switch poolingName {
        case "cls": pooling = .classToken
        case "mean": pooling = .mean
        case "mha": pooling = .multihead(try MultiheadAttentionPooling(weights, "pool", width: w, heads: e.heads))
        default: pooling = .attention(try AttentionPooling(weights, "pool.query", width: width))
        }
        norm = try LayerNorm(weights, pooling.normalisesTokens ? "encoder.norm" : "encoder.fc_norm", width: width, eps: eps)
        let d = e.projectionDim ?? 0
        projection = d > 0 ? try Linear(weights, "projection", in: width, out: d) : nil
        if let ws = e.wide {
            guard case .beats = layout else { throw bad("encoder.wide needs encoder type 'beatvit1d'") }
            wide = try WideBranch(weights, spec: ws, leads: leads, beatSamples: tokenSamples, rhythm: rhythmCount, bad: bad)
        } else {
            wide = nil
        }
        let features = w + (wide?.hidden ?? 0)
        var seen = Set<String>()
        heads = try m.heads.map { h in
            guard seen.insert(h.name).inserted else { throw bad("head group '\(h.name)' appears twice") }
            guard !h.outputs.isEmpty else { throw bad("head group '\(h.name)' has no outputs") }
            if h.kind == .regression {
                for o in h.outputs where o.std == nil || o.mean == nil {
                    throw bad("regression output '\(h.name).\(o.id)' lacks mean/std for de-standardisation")
                }
            }
            var logSigma: Linear?
            if let u = h.uncertainty {
                guard h.kind == .regression, u.kind == "gaussian" else {
                    throw bad("head group '\(h.name)': uncertainty '\(u.kind)' is supported on regression heads as 'gaussian' only")
                }
                logSigma = try Linear(weights, u.logSigma, in: features, out: h.outputs.count)
            }
            return HeadLayer(spec: h, linear: try Linear(weights, "heads.\(h.name)", in: features, out: h.outputs.count),
                             logSigma: logSigma)
        }
        let layer = m.gradcam?.layer ?? "encoder.blocks.\(e.depth - 1)"
        let prefix = "encoder.blocks."
        guard layer.hasPrefix(prefix), let k = Int(layer.dropFirst(prefix.count)), (0..<e.depth).contains(k) else {
            throw bad("gradcam.layer '\(layer)' is not supported: it must name a block output, encoder.blocks.0 … encoder.blocks.\(e.depth - 1)")
        }
        gradCAMBlock = k
    }
}

/// Reusable activations for a forward pass over up to `capacity` ECGs; never shared between threads.
final class EncoderWorkspace {
    let capacity: Int
    let x: FloatBuffer          // [B·T, W] residual stream; after the blocks = Grad-CAM activations A
    let h: FloatBuffer          // [B·T, W] final-normed tokens
    let mean: FloatBuffer       // [B·T]
    let rstd: FloatBuffer       // [B·T]
    let poolWeights: FloatBuffer // [B·T]
    let pooled: FloatBuffer     // [B, W]
    let prePooled: FloatBuffer  // [B, W] before fc_norm (mean / mha pooling)
    let pooledMean: FloatBuffer // [B]   fc_norm statistics
    let pooledRstd: FloatBuffer // [B]
    /// MMCL attention pooling's activations (the last sequence's), for Grad-CAM.
    let poolTape: MultiheadPoolingTape?
    let scratch: FloatBuffer
    let grad: FloatBuffer       // [T, W] (Grad-CAM)
    let cam: FloatBuffer        // [T]
    /// Activations of the blocks after the Grad-CAM layer (empty when it is the last block).
    let tapes: [BlockTape]

    init(encoder: ViTEncoder, capacity: Int) {
        self.capacity = capacity
        let n = capacity * encoder.tokens * encoder.width
        x = FloatBuffer(capacity: n)
        h = FloatBuffer(capacity: n)
        mean = FloatBuffer(capacity: capacity * encoder.tokens)
        rstd = FloatBuffer(capacity: capacity * encoder.tokens)
        poolWeights = FloatBuffer(capacity: capacity * encoder.tokens)
        pooled = FloatBuffer(capacity: capacity * encoder.width)
        prePooled = FloatBuffer(capacity: capacity * encoder.width)
        pooledMean = FloatBuffer(capacity: capacity)
        pooledRstd = FloatBuffer(capacity: capacity)
        if case let .multihead(p) = encoder.pooling {
            poolTape = MultiheadPoolingTape(pooling: p, tokens: encoder.camTokens)
        } else {
            poolTape = nil
        }
        scratch = FloatBuffer(capacity: encoder.blocks.map {
            max($0.scratchCount(tokens: encoder.tokens, sequences: capacity),
                $0.parallelScratchCount(tokens: encoder.tokens, sequences: capacity, threads: EngineThreads.maxThreads))
        }.max() ?? 1)
        grad = FloatBuffer(capacity: encoder.tokens * encoder.width)
        cam = FloatBuffer(capacity: encoder.tokens)
        tapes = encoder.blocks.dropFirst(encoder.gradCAMBlock + 1).map { BlockTape(block: $0, tokens: encoder.tokens) }
    }
}

/// Raw outputs of one ECG: pooled vector, embedding, and per head group the raw outputs
/// (logits or standardised values).
struct EncoderOutput {
    var pooled: [Float]
    var embedding: [Float]
    var heads: [[Float]]
    /// Per head group: log σ of a heteroscedastic regression head, else nil.
    var logSigma: [[Float]?] = []
}

extension ViTEncoder {
    /// Runs `count` ECGs (`input` = `[count, leads, sampleCount]`) through the encoder; activations
    /// of the last ECG stay in the workspace for Grad-CAM (`recordForGradCAM` also keeps those of
    /// the blocks after the Grad-CAM layer).
    func forward(_ input: UnsafePointer<Float>, count b: Int, workspace ws: EncoderWorkspace,
                 recordForGradCAM: Bool = false) -> [EncoderOutput] {
        precondition(b <= ws.capacity)
        let t = tokens, w = width, rows = b * t
        let x = ws.x.pointer
        // The engine's thread budget goes to its own split of each block, whose work items do not
        // depend on the thread count (TransformerBlock.forwardParallel); only the blocks after the
        // Grad-CAM layer of a recording pass run serially, keeping their activations for backward.
        let threads = EngineThreads.threads()
        // Token t = lead·N + p is the contiguous slice [t·P, (t+1)·P) of the lead-major input;
        // the rhythm token (beatvit1d) embeds the features after the samples. One product per
        // sequence, so an ECG's tokens have the same bits alone or in a batch.
        if let rhythmEmbed {
            let patchRows = leads * patchesPerLead
            TransformerBlock.share(b, threads: threads) { s, _ in
                patchEmbed.forward(input + s * inputSize, rows: patchRows, into: x + s * t * w)
                rhythmEmbed.forward(input + s * inputSize + leads * tokenSamples, rows: 1, into: x + (s * t + patchRows) * w)
            }
        } else if let classToken {
            // Token 0 is the class token; the patches follow.
            let patchRows = leads * patchesPerLead
            classToken.values.withUnsafeBufferPointer { c in
                TransformerBlock.share(b, threads: threads) { s, _ in
                    (x + s * t * w).update(from: c.baseAddress!, count: w)
                    patchEmbed.forward(input + s * inputSize, rows: patchRows, into: x + (s * t + 1) * w)
                }
            }
        } else {
            TransformerBlock.share(b, threads: threads) { s, _ in
                patchEmbed.forward(input + s * inputSize, rows: t, into: x + s * t * w)
            }
        }
        posEmbed.values.withUnsafeBufferPointer { pe in
            TransformerBlock.share(b, threads: threads) { s, _ in VectorMath.add(pe.baseAddress!, into: x + s * t * w, count: t * w) }
        }
        for (k, block) in blocks.enumerated() {
            if recordForGradCAM && k > gradCAMBlock {
                block.forward(x, tokens: t, sequences: b, scratch: ws.scratch.pointer, tape: ws.tapes[k - gradCAMBlock - 1])
            } else {
                block.forwardParallel(x, tokens: t, sequences: b, scratch: ws.scratch.pointer, threads: threads)
            }
        }
        if pooling.normalisesTokens {
            norm.forward(x, rows: rows, into: ws.h.pointer, mean: ws.mean.pointer, rstd: ws.rstd.pointer)
        }
        var outputs: [EncoderOutput] = []
        outputs.reserveCapacity(b)
        for s in 0..<b {
            let pooledPtr = ws.pooled.pointer + s * w
            let pre = ws.prePooled.pointer + s * w
            let patches = UnsafePointer(x + (s * t + prefixTokens) * w)
            switch pooling {
            case .attention(let pool):
                pool.forward(ws.h.pointer + s * t * w, tokens: t, weights: ws.poolWeights.pointer + s * t, into: pooledPtr)
            case .classToken:
                pooledPtr.update(from: ws.h.pointer + s * t * w, count: w)
            case .mean:
                pre.initialize(repeating: 0, count: w)
                for i in 0..<camTokens { VectorMath.add(patches + i * w, into: pre, count: w) }
                let inv = 1 / Float(camTokens)
                for j in 0..<w { pre[j] *= inv }
            case .multihead(let pool):
                pool.forward(patches, tokens: camTokens, tape: ws.poolTape!, into: pre)
            }
            if !pooling.normalisesTokens {
                norm.forward(pre, rows: 1, into: pooledPtr, mean: ws.pooledMean.pointer + s, rstd: ws.pooledRstd.pointer + s)
            }
            let pooled = Array(UnsafeBufferPointer(start: pooledPtr, count: w))
            var embedding = pooled
            if let projection {
                embedding = [Float](repeating: 0, count: projection.outFeatures)
                embedding.withUnsafeMutableBufferPointer { projection.forward(pooledPtr, rows: 1, into: $0.baseAddress!) }
            }
            var features = pooled
            if let wide {
                features += [Float](repeating: 0, count: wide.hidden)
                features.withUnsafeMutableBufferPointer { wide.forward(input + s * inputSize, into: $0.baseAddress! + w) }
            }
            var headOut: [[Float]] = [], sigmaOut: [[Float]?] = []
            features.withUnsafeBufferPointer { f in
                for head in heads {
                    var v = [Float](repeating: 0, count: head.linear.outFeatures)
                    v.withUnsafeMutableBufferPointer { head.linear.forward(f.baseAddress!, rows: 1, into: $0.baseAddress!) }
                    headOut.append(v)
                    if let ls = head.logSigma {
                        var u = [Float](repeating: 0, count: ls.outFeatures)
                        u.withUnsafeMutableBufferPointer { ls.forward(f.baseAddress!, rows: 1, into: $0.baseAddress!) }
                        sigmaOut.append(u)
                    } else {
                        sigmaOut.append(nil)
                    }
                }
            }
            outputs.append(EncoderOutput(pooled: pooled, embedding: embedding, heads: headOut, logSigma: sigmaOut))
        }
        return outputs
    }

    /// Grad-CAM for head group `group`, output `index`, of the last sequence of the workspace's
    /// last forward (run with `recordForGradCAM` when the layer is not the last block): backward
    /// from the raw head output through the head, the pooling, the final layer norm and the blocks
    /// after the chosen layer to its output A; returns cam = ReLU(A·mean_t(∂y/∂A)) per token, the
    /// class token's row dropped (from A, from the mean and from the result). `mha` pooling keeps
    /// its activations for the last sequence only: call it for `s = count − 1`.
    func gradCAM(group: Int, index: Int, sequence s: Int = 0, workspace ws: EncoderWorkspace) -> [Float] {
        let t = tokens, w = width
        let last = UnsafePointer(ws.x.pointer + s * t * w)
        let h = UnsafePointer(ws.h.pointer + s * t * w)
        let g = ws.grad.pointer
        // ∂y/∂pooled = the pooled part (the first W columns) of row `index` of the head weight;
        // the wide branch does not depend on the tokens.
        let rowStride = heads[group].linear.inFeatures
        heads[group].linear.weight.values.withUnsafeBufferPointer { hw in
            let dpooled = hw.baseAddress! + index * rowStride
            switch pooling {
            case .attention(let pool):
                pool.backward(dpooled, h: h, weights: ws.poolWeights.pointer + s * t, tokens: t, into: g)
            case .classToken:
                g.initialize(repeating: 0, count: t * w)
                g.update(from: dpooled, count: w)
            case .mean, .multihead:
                // ∂y/∂(pre-norm pooled vector), through fc_norm; the class token's row gets nothing.
                let dpre = ws.grad.pointer + (t - 1) * w    // the last row is free until the spread below
                norm.backward(dpooled, x: ws.prePooled.pointer + s * w, mean: ws.pooledMean.pointer + s,
                              rstd: ws.pooledRstd.pointer + s, rows: 1, into: dpre)
                var dp = Array(UnsafeBufferPointer(start: dpre, count: w))
                g.initialize(repeating: 0, count: prefixTokens * w)
                if case let .multihead(pool) = pooling {
                    dp.withUnsafeBufferPointer { pool.backward($0.baseAddress!, tape: ws.poolTape!, into: g + prefixTokens * w) }
                } else {
                    let inv = 1 / Float(camTokens)
                    for j in 0..<w { dp[j] *= inv }
                    dp.withUnsafeBufferPointer { d in
                        for i in prefixTokens..<t { (g + i * w).update(from: d.baseAddress!, count: w) }
                    }
                }
            }
        }
        // g now holds ∂y/∂h; through the final layer norm (in place is safe: row-wise reads first).
        if pooling.normalisesTokens {
            norm.backward(g, x: last, mean: ws.mean.pointer + s * t, rstd: ws.rstd.pointer + s * t, rows: t, into: g)
        }
        // Back through the blocks after the Grad-CAM layer; A is then the first of them's input.
        var a = last
        for k in stride(from: blocks.count - 1, to: gradCAMBlock, by: -1) {
            let tape = ws.tapes[k - gradCAMBlock - 1]
            blocks[k].backward(g, tape: tape, into: g)
            a = tape.blockInput
        }
        let p0 = prefixTokens, n = t - p0
        var alpha = [Float](repeating: 0, count: w)
        for i in p0..<t { let row = g + i * w; for j in 0..<w { alpha[j] += row[j] } }
        for j in 0..<w { alpha[j] /= Float(n) }
        let cam = ws.cam.pointer
        alpha.withUnsafeBufferPointer { al in
            for i in 0..<n { cam[i] = max(VectorMath.dot(a + (p0 + i) * w, al.baseAddress!, count: w), 0) }
        }
        return Array(UnsafeBufferPointer(start: cam, count: n))
    }

    /// Per-lead token relevance upsampled linearly (PyTorch `interpolate`, align_corners=False) to
    /// the samples the tokens cover: `[leads × tokenSamples]`.
    func perLeadMap(_ cam: [Float]) -> [Float] {
        var map = [Float](repeating: 0, count: leads * tokenSamples)
        cam.withUnsafeBufferPointer { c in
            map.withUnsafeMutableBufferPointer { out in
                for l in 0..<leads {
                    Upsample.linear(c.baseAddress! + l * patchesPerLead, count: patchesPerLead,
                                    into: out.baseAddress! + l * tokenSamples, count: tokenSamples)
                }
            }
        }
        return map
    }
}
