import Foundation

/// MMCL's attention pooling: PyTorch `nn.MultiheadAttention` (packed `in_proj_weight` `[3W, W]`,
/// `in_proj_bias` `[3W]`, `out_proj`) with one query, the mean of the tokens, and keys = values =
/// the tokens: Q = q̄ Wqᵀ + bq, K = X Wkᵀ + bk, V = X Wvᵀ + bv; per head h, a = softmax(Q_h K_hᵀ/√d),
/// O_h = a V_h; y = out_proj(O).
public struct MultiheadAttentionPooling: Sendable {
    public let width: Int
    public let heads: Int
    public let q: Linear
    public let k: Linear
    public let v: Linear
    public let outProj: Linear
    public var headDim: Int { width / heads }

    public init(_ source: WeightSource, _ prefix: String, width w: Int, heads: Int) throws {
        let packed = try source.tensor(prefix + ".in_proj_weight", shape: [3 * w, w])
        let bias = try source.tensor(prefix + ".in_proj_bias", shape: [3 * w])
        func part(_ i: Int) -> Linear {
            Linear(weight: Tensor(shape: [w, w], values: Array(packed.values[(i * w * w)..<((i + 1) * w * w)])),
                   bias: Tensor(shape: [w], values: Array(bias.values[(i * w)..<((i + 1) * w)])))
        }
        width = w
        self.heads = heads
        q = part(0)
        k = part(1)
        v = part(2)
        outProj = try Linear(source, prefix + ".out_proj", in: w, out: w)
    }

    /// x `[N, W]` (the tokens) → y `[W]`. Keeps what `backward` needs in `tape` (sized for ≥ N tokens).
    public func forward(_ x: UnsafePointer<Float>, tokens n: Int, tape: MultiheadPoolingTape,
                        into y: UnsafeMutablePointer<Float>) {
        let w = width, hd = headDim
        precondition(n <= tape.capacity)
        tape.tokens = n
        let mean = tape.queryInput.pointer
        mean.initialize(repeating: 0, count: w)
        for i in 0..<n { VectorMath.add(x + i * w, into: mean, count: w) }
        let inv = 1 / Float(n)
        for j in 0..<w { mean[j] *= inv }
        q.forward(mean, rows: 1, into: tape.query.pointer)
        k.forward(x, rows: n, into: tape.keys.pointer)
        v.forward(x, rows: n, into: tape.values.pointer)
        let scale = 1 / Float(hd).squareRoot()
        let o = tape.mixed.pointer
        for h in 0..<heads {
            let a = tape.weights.pointer + h * n
            let qh = tape.query.pointer + h * hd
            for i in 0..<n { a[i] = VectorMath.dot(qh, tape.keys.pointer + i * w + h * hd, count: hd) * scale }
            Activation.softmaxRows(a, rows: 1, cols: n)
            let oh = o + h * hd
            oh.initialize(repeating: 0, count: hd)
            for i in 0..<n {
                let vi = tape.values.pointer + i * w + h * hd, ai = a[i]
                for j in 0..<hd { oh[j] += ai * vi[j] }
            }
        }
        outProj.forward(o, rows: 1, into: y)
    }

    /// dx `[N, W]` = ∂L/∂x given dy = ∂L/∂y `[W]` for the forward recorded in `tape`.
    /// dO = dy·Wo; per head dV_i = a_i dO_h, da_i = dO_h·V_i, ds = a ⊙ (da − Σ a da),
    /// dQ_h = scale Σ ds_i K_i, dK_i = scale ds_i Q_h; dx = dK Wk + dV Wv + (dQ Wq)/N on every row.
    public func backward(_ dy: UnsafePointer<Float>, tape: MultiheadPoolingTape, into dx: UnsafeMutablePointer<Float>) {
        let w = width, hd = headDim, n = tape.tokens
        let scale = 1 / Float(hd).squareRoot()
        let dO = tape.gradMixed.pointer, dQ = tape.gradQuery.pointer
        let dK = tape.gradKeys.pointer, dV = tape.gradValues.pointer
        outProj.backwardInput(dy, rows: 1, into: dO)
        var da = [Float](repeating: 0, count: n)
        for h in 0..<heads {
            let a = tape.weights.pointer + h * n
            let dOh = dO + h * hd, qh = tape.query.pointer + h * hd
            var sum: Float = 0
            for i in 0..<n {
                da[i] = VectorMath.dot(dOh, tape.values.pointer + i * w + h * hd, count: hd)
                sum += a[i] * da[i]
            }
            let dQh = dQ + h * hd
            dQh.initialize(repeating: 0, count: hd)
            for i in 0..<n {
                let ds = a[i] * (da[i] - sum) * scale
                let ki = tape.keys.pointer + i * w + h * hd
                let dKi = dK + i * w + h * hd, dVi = dV + i * w + h * hd
                for j in 0..<hd {
                    dQh[j] += ds * ki[j]
                    dKi[j] = ds * qh[j]
                    dVi[j] = a[i] * dOh[j]
                }
            }
        }
        k.backwardInput(dK, rows: n, into: dx)
        let tmp = tape.gradTokens.pointer
        v.backwardInput(dV, rows: n, into: tmp)
        VectorMath.add(tmp, into: dx, count: n * w)
        let dMean = tape.gradQueryInput.pointer
        q.backwardInput(dQ, rows: 1, into: dMean)
        let inv = 1 / Float(n)
        for j in 0..<w { dMean[j] *= inv }
        for i in 0..<n { VectorMath.add(dMean, into: dx + i * w, count: w) }
    }
}

/// Activations of one `MultiheadAttentionPooling` forward (the last sequence's), and the gradient
/// buffers its backward reuses. Never shared between threads.
public final class MultiheadPoolingTape {
    public let capacity: Int
    public internal(set) var tokens = 0
    let queryInput, query, keys, values, weights, mixed: FloatBuffer
    let gradMixed, gradQuery, gradKeys, gradValues, gradTokens, gradQueryInput: FloatBuffer

    public init(pooling p: MultiheadAttentionPooling, tokens n: Int) {
        let w = p.width
        capacity = n
        queryInput = FloatBuffer(capacity: w)
        query = FloatBuffer(capacity: w)
        keys = FloatBuffer(capacity: n * w)
        values = FloatBuffer(capacity: n * w)
        weights = FloatBuffer(capacity: p.heads * n)
        mixed = FloatBuffer(capacity: w)
        gradMixed = FloatBuffer(capacity: w)
        gradQuery = FloatBuffer(capacity: w)
        gradKeys = FloatBuffer(capacity: n * w)
        gradValues = FloatBuffer(capacity: n * w)
        gradTokens = FloatBuffer(capacity: n * w)
        gradQueryInput = FloatBuffer(capacity: w)
    }
}
