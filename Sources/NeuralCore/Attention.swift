import Foundation

/// Multi-head self-attention in the timm layout: `qkv` output split as `[3, heads, width/heads]`.
public struct MultiHeadAttention: Sendable {
    public let width: Int
    public let heads: Int
    public let qkv: Linear
    public let proj: Linear
    public var headDim: Int { width / heads }

    public init(_ source: WeightSource, _ prefix: String, width: Int, heads: Int) throws {
        self.width = width
        self.heads = heads
        qkv = try Linear(source, prefix + ".qkv", in: width, out: 3 * width)
        proj = try Linear(source, prefix + ".proj", in: width, out: width)
    }

    /// Scratch floats per sequence of `tokens`: qkv `[T, 3W]` + scores `[T, T]` + mixed `[T, W]`.
    public func scratchCount(tokens t: Int) -> Int { t * 3 * width + t * t + t * width }

    /// x `[T, W]` → y `[T, W]` for one sequence.
    public func forward(_ x: UnsafePointer<Float>, tokens t: Int, into y: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>) {
        let w = width, hd = headDim
        let qkvBuf = scratch, scores = scratch + t * 3 * w, mixed = scores + t * t
        qkv.forward(x, rows: t, into: qkvBuf)
        let scale = 1 / Float(hd).squareRoot()
        for h in 0..<heads {
            let q = qkvBuf + h * hd, k = qkvBuf + w + h * hd, v = qkvBuf + 2 * w + h * hd
            BLAS.gemm(transB: true, m: t, n: t, k: hd, alpha: scale, a: q, lda: 3 * w, b: k, ldb: 3 * w,
                      c: scores, ldc: t)
            Activation.softmaxRows(scores, rows: t, cols: t)
            BLAS.gemm(m: t, n: hd, k: t, a: scores, lda: t, b: v, ldb: 3 * w, c: mixed + h * hd, ldc: w)
        }
        proj.forward(mixed, rows: t, into: y)
    }
}

/// fc2(GELU(fc1(x))).
public struct MLP: Sendable {
    public let fc1: Linear
    public let fc2: Linear

    public init(_ source: WeightSource, _ prefix: String, width: Int, hidden: Int) throws {
        fc1 = try Linear(source, prefix + ".fc1", in: width, out: hidden)
        fc2 = try Linear(source, prefix + ".fc2", in: hidden, out: width)
    }

    public var hidden: Int { fc1.outFeatures }

    /// x `[rows, W]` → y `[rows, W]`; scratch holds `rows × hidden`.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>) {
        fc1.forward(x, rows: rows, into: scratch)
        Activation.gelu(scratch, count: rows * hidden)
        fc2.forward(scratch, rows: rows, into: y)
    }
}

/// Pre-norm transformer block: x += attn(norm1(x)); x += mlp(norm2(x)).
public struct TransformerBlock: Sendable {
    public let norm1: LayerNorm
    public let attn: MultiHeadAttention
    public let norm2: LayerNorm
    public let mlp: MLP
    public let width: Int

    public init(_ source: WeightSource, _ prefix: String, width: Int, heads: Int, hidden: Int, eps: Float) throws {
        self.width = width
        norm1 = try LayerNorm(source, prefix + ".norm1", width: width, eps: eps)
        attn = try MultiHeadAttention(source, prefix + ".attn", width: width, heads: heads)
        norm2 = try LayerNorm(source, prefix + ".norm2", width: width, eps: eps)
        mlp = try MLP(source, prefix + ".mlp", width: width, hidden: hidden)
    }

    /// Scratch floats for `sequences` sequences of `tokens` each.
    public func scratchCount(tokens t: Int, sequences b: Int) -> Int {
        2 * b * t * width + max(attn.scratchCount(tokens: t), b * t * mlp.hidden)
    }

    /// Updates x `[B·T, W]` in place (B sequences of T tokens).
    public func forward(_ x: UnsafeMutablePointer<Float>, tokens t: Int, sequences b: Int,
                        scratch: UnsafeMutablePointer<Float>) {
        let n = b * t * width
        let normed = scratch, delta = scratch + n, work = scratch + 2 * n
        norm1.forward(x, rows: b * t, into: normed)
        for s in 0..<b {
            attn.forward(normed + s * t * width, tokens: t, into: delta + s * t * width, scratch: work)
        }
        for i in 0..<n { x[i] += delta[i] }
        norm2.forward(x, rows: b * t, into: normed)
        mlp.forward(normed, rows: b * t, into: delta, scratch: work)
        for i in 0..<n { x[i] += delta[i] }
    }
}

/// Attention pooling (MMCL): a = softmax(h·q/√W) over tokens; pooled = Σ a_t h_t.
public struct AttentionPooling: Sendable {
    public let query: Tensor
    public var width: Int { query.count }

    public init(query: Tensor) { self.query = query }

    public init(_ source: WeightSource, _ name: String, width: Int) throws {
        query = try source.tensor(name, shape: [width])
    }

    /// h `[T, W]` → pooled `[W]`; the token weights `[T]` are written to `weights`.
    public func forward(_ h: UnsafePointer<Float>, tokens t: Int, weights a: UnsafeMutablePointer<Float>,
                        into pooled: UnsafeMutablePointer<Float>) {
        let w = width
        let scale = 1 / Float(w).squareRoot()
        query.values.withUnsafeBufferPointer { q in
            for i in 0..<t {
                var s: Float = 0
                let hr = h + i * w
                for j in 0..<w { s += hr[j] * q[j] }
                a[i] = s * scale
            }
        }
        Activation.softmaxRows(a, rows: 1, cols: t)
        pooled.initialize(repeating: 0, count: w)
        for i in 0..<t {
            let hr = h + i * w, ai = a[i]
            for j in 0..<w { pooled[j] += ai * hr[j] }
        }
    }

    /// dh `[T, W]` = ∂L/∂h given dpooled `[W]` and the forward's h and weights a.
    /// pooled = Σ a_t h_t, a = softmax(s), s_t = h_t·q/√W:
    /// dh_t = a_t·dp + a_t (h_t·dp − Σ_u a_u h_u·dp) q/√W.
    public func backward(_ dpooled: UnsafePointer<Float>, h: UnsafePointer<Float>, weights a: UnsafePointer<Float>,
                         tokens t: Int, into dh: UnsafeMutablePointer<Float>) {
        let w = width
        let scale = 1 / Float(w).squareRoot()
        var mean: Float = 0
        for i in 0..<t {
            var g: Float = 0
            let hr = h + i * w
            for j in 0..<w { g += hr[j] * dpooled[j] }
            dh[i * w] = g           // stash h_t·dp in the first slot until it is consumed below
            mean += a[i] * g
        }
        query.values.withUnsafeBufferPointer { q in
            for i in 0..<t {
                let g = dh[i * w]
                let ds = a[i] * (g - mean) * scale
                let ai = a[i]
                let row = dh + i * w
                for j in 0..<w { row[j] = ai * dpooled[j] + ds * q[j] }
            }
        }
    }
}
