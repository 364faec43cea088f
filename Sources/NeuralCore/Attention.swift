import Dispatch
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

    /// x `[T, W]` → y `[T, W]` for one sequence. With a tape, keeps q, k, v, the attention
    /// probabilities and the mixed values for `backward`.
    public func forward(_ x: UnsafePointer<Float>, tokens t: Int, into y: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>, tape: BlockTape? = nil) {
        let w = width
        let qkvBuf = tape?.qkv.pointer ?? scratch
        let scores = scratch + t * 3 * w
        let mixed = tape?.mixed.pointer ?? scores + t * t
        qkv.forward(x, rows: t, into: qkvBuf)
        for h in 0..<heads {
            attendHead(h, qkv: qkvBuf, tokens: t, probabilities: tape.map { $0.probabilities.pointer + h * t * t } ?? scores,
                       into: mixed)
        }
        proj.forward(mixed, rows: t, into: y)
    }

    /// The attention core of head `h` for one sequence: P = softmax(Q Kᵀ/√d) into `probabilities`
    /// `[T, T]`, then P V into the head's columns of `mixed` `[T, W]`; `qkv` is `[T, 3W]`.
    func attendHead(_ h: Int, qkv qkvBuf: UnsafePointer<Float>, tokens t: Int,
                    probabilities p: UnsafeMutablePointer<Float>, into mixed: UnsafeMutablePointer<Float>) {
        let w = width, hd = headDim
        let q = qkvBuf + h * hd, k = qkvBuf + w + h * hd, v = qkvBuf + 2 * w + h * hd
        BLAS.gemm(transB: true, m: t, n: t, k: hd, alpha: 1 / Float(hd).squareRoot(), a: q, lda: 3 * w,
                  b: k, ldb: 3 * w, c: p, ldc: t)
        Activation.softmaxRows(p, rows: t, cols: t)
        BLAS.gemm(m: t, n: hd, k: t, a: p, lda: t, b: v, ldb: 3 * w, c: mixed + h * hd, ldc: w)
    }

    /// dx `[T, W]` = ∂L/∂x given dy = ∂L/∂y for the forward recorded in `tape`.
    /// S = scale·Q Kᵀ, P = softmax(S), O = P V: dP = dO Vᵀ, dV = Pᵀ dO,
    /// dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale·dS K, dK = scale·dSᵀ Q.
    public func backward(_ dy: UnsafePointer<Float>, tape: BlockTape, into dx: UnsafeMutablePointer<Float>) {
        let t = tape.tokens, w = width, hd = headDim
        let dMixed = tape.gradMixed.pointer, dQKV = tape.gradQKV.pointer, dP = tape.gradScores.pointer
        let qkvBuf = tape.qkv.pointer
        proj.backwardInput(dy, rows: t, into: dMixed)
        let scale = 1 / Float(hd).squareRoot()
        for h in 0..<heads {
            let p = tape.probabilities.pointer + h * t * t
            let q = qkvBuf + h * hd, k = qkvBuf + w + h * hd, v = qkvBuf + 2 * w + h * hd
            let dO = dMixed + h * hd
            BLAS.gemm(transB: true, m: t, n: t, k: hd, a: dO, lda: w, b: v, ldb: 3 * w, c: dP, ldc: t)
            BLAS.gemm(transA: true, m: t, n: hd, k: t, a: p, lda: t, b: dO, ldb: w, c: dQKV + 2 * w + h * hd, ldc: 3 * w)
            for r in 0..<t {
                let pr = p + r * t, dr = dP + r * t
                let c = VectorMath.dot(pr, dr, count: t)
                for j in 0..<t { dr[j] = pr[j] * (dr[j] - c) }
            }
            BLAS.gemm(m: t, n: hd, k: t, alpha: scale, a: dP, lda: t, b: k, ldb: 3 * w, c: dQKV + h * hd, ldc: 3 * w)
            BLAS.gemm(transA: true, m: t, n: hd, k: t, alpha: scale, a: dP, lda: t, b: q, ldb: 3 * w,
                      c: dQKV + w + h * hd, ldc: 3 * w)
        }
        qkv.backwardInput(dQKV, rows: t, into: dx)
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
    /// With `preActivation`, the fc1 outputs of rows `recordFrom..<rows` are copied there first.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>,
                        preActivation: UnsafeMutablePointer<Float>? = nil, recordFrom: Int = 0) {
        fc1.forward(x, rows: rows, into: scratch)
        preActivation?.update(from: scratch + recordFrom * hidden, count: (rows - recordFrom) * hidden)
        Activation.gelu(scratch, count: rows * hidden)
        fc2.forward(scratch, rows: rows, into: y)
    }

    /// dx `[T, W]` given dy for the forward recorded in `tape`.
    public func backward(_ dy: UnsafePointer<Float>, tape: BlockTape, into dx: UnsafeMutablePointer<Float>) {
        let t = tape.tokens, dHidden = tape.gradHidden.pointer
        fc2.backwardInput(dy, rows: t, into: dHidden)
        VectorMath.geluBackward(dHidden, input: tape.preActivation.pointer, count: t * hidden)
        fc1.backwardInput(dHidden, rows: t, into: dx)
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

    /// Updates x `[B·T, W]` in place (B sequences of T tokens). With a tape, the last sequence's
    /// activations are kept for `backward` (Grad-CAM on an earlier layer).
    public func forward(_ x: UnsafeMutablePointer<Float>, tokens t: Int, sequences b: Int,
                        scratch: UnsafeMutablePointer<Float>, tape: BlockTape? = nil) {
        let n = b * t * width
        let normed = scratch, delta = scratch + n, work = scratch + 2 * n
        let last = (b - 1) * t * width
        if let tape { tape.input.pointer.update(from: x + last, count: t * width) }
        norm1.forward(x, rows: b * t, into: normed)
        if let tape { norm1.forward(x + last, rows: t, into: work, mean: tape.mean1.pointer, rstd: tape.rstd1.pointer) }
        for s in 0..<b {
            attn.forward(normed + s * t * width, tokens: t, into: delta + s * t * width, scratch: work,
                         tape: s == b - 1 ? tape : nil)
        }
        VectorMath.add(delta, into: x, count: n)
        if let tape { tape.middle.pointer.update(from: x + last, count: t * width) }
        norm2.forward(x, rows: b * t, into: normed)
        if let tape { norm2.forward(x + last, rows: t, into: work, mean: tape.mean2.pointer, rstd: tape.rstd2.pointer) }
        mlp.forward(normed, rows: b * t, into: delta, scratch: work,
                    preActivation: tape?.preActivation.pointer, recordFrom: (b - 1) * t)
        VectorMath.add(delta, into: x, count: n)
    }

    /// Scratch floats for `forwardParallel` over `sequences` × `tokens` rows on `threads` threads.
    public func parallelScratchCount(tokens t: Int, sequences b: Int, threads: Int) -> Int {
        b * t * (6 * width + mlp.hidden) + threads * t * t
    }

    /// Most rows of one sequence in one work item of `forwardParallel`. Large enough that a
    /// published-size sequence (600 tokens) is two pieces: each GEMM packs its weight matrix once
    /// per piece, which cost ~7 % of the encoder at 64-row pieces.
    public static let rowsPerPart = 320

    /// The forward pass split over `threads` threads of the caller's. The work items are fixed by
    /// the sequence length alone — each sequence's rows cut into the same pieces for the layer
    /// norms, linear layers, GELU and residual adds, (sequence, head) pairs for the attention core —
    /// and threads only take turns at them: every product has the same shape whatever the thread
    /// count, the batch or the other sequences, so a sequence's result has the same bits in every
    /// case (OpenBLAS single-threaded; see `BLAS`).
    public func forwardParallel(_ x: UnsafeMutablePointer<Float>, tokens t: Int, sequences b: Int,
                                scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let w = width, hid = mlp.hidden, rows = b * t, heads = attn.heads
        let normed = scratch, delta = normed + rows * w, qkvAll = delta + rows * w
        let mixed = qkvAll + rows * 3 * w, hidden = mixed + rows * w, scores = hidden + rows * hid
        let pieces = max(1, (t + Self.rowsPerPart - 1) / Self.rowsPerPart)
        func rowRange(_ item: Int) -> Range<Int> {
            let s = item / pieces, p = item % pieces
            return (s * t + p * t / pieces)..<(s * t + (p + 1) * t / pieces)
        }
        Self.share(b * pieces, threads: threads) { item, _ in
            let r = rowRange(item), n = r.count
            norm1.forward(x + r.lowerBound * w, rows: n, into: normed + r.lowerBound * w)
            attn.qkv.forward(normed + r.lowerBound * w, rows: n, into: qkvAll + r.lowerBound * 3 * w)
        }
        Self.share(b * heads, threads: threads) { task, worker in
            let s = task / heads
            attn.attendHead(task % heads, qkv: qkvAll + s * t * 3 * w, tokens: t, probabilities: scores + worker * t * t,
                            into: mixed + s * t * w)
        }
        Self.share(b * pieces, threads: threads) { item, _ in
            let r = rowRange(item), n = r.count, o = r.lowerBound
            attn.proj.forward(mixed + o * w, rows: n, into: delta + o * w)
            VectorMath.add(delta + o * w, into: x + o * w, count: n * w)
            norm2.forward(x + o * w, rows: n, into: normed + o * w)
            mlp.forward(normed + o * w, rows: n, into: delta + o * w, scratch: hidden + o * hid)
            VectorMath.add(delta + o * w, into: x + o * w, count: n * w)
        }
    }

    /// Runs `body(item, worker)` for every item in `0..<items` on at most `threads` workers (worker
    /// k takes items k, k + workers, …); which worker runs an item never changes what it computes.
    public static func share(_ items: Int, threads: Int, _ body: (Int, Int) -> Void) {
        let workers = max(1, min(threads, items))
        if workers == 1 {
            for i in 0..<items { body(i, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { k in
            for i in stride(from: k, to: items, by: workers) { body(i, k) }
        }
    }

    /// dx `[T, W]` = ∂L/∂(block input) given dy = ∂L/∂(block output) for the recorded sequence
    /// (dx may alias dy). y = m + mlp(norm2(m)), m = x + attn(norm1(x)).
    public func backward(_ dy: UnsafePointer<Float>, tape: BlockTape, into dx: UnsafeMutablePointer<Float>) {
        let t = tape.tokens, count = t * width
        let dMiddle = tape.gradMiddle.pointer, tmp = tape.gradNormed.pointer
        mlp.backward(dy, tape: tape, into: tmp)
        norm2.backward(tmp, x: tape.middle.pointer, mean: tape.mean2.pointer, rstd: tape.rstd2.pointer, rows: t, into: tmp)
        dMiddle.update(from: dy, count: count)
        VectorMath.add(tmp, into: dMiddle, count: count)
        attn.backward(dMiddle, tape: tape, into: tmp)
        norm1.backward(tmp, x: tape.input.pointer, mean: tape.mean1.pointer, rstd: tape.rstd1.pointer, rows: t, into: tmp)
        dx.update(from: dMiddle, count: count)
        VectorMath.add(tmp, into: dx, count: count)
    }
}

/// One transformer block's activations for one sequence, kept by the forward pass for a backward
/// pass, plus the gradient buffers that backward reuses. Never shared between threads.
public final class BlockTape {
    public let tokens: Int
    let input, mean1, rstd1, qkv, probabilities, mixed, middle, mean2, rstd2, preActivation: FloatBuffer
    let gradMixed, gradQKV, gradScores, gradHidden, gradMiddle, gradNormed: FloatBuffer

    public init(block: TransformerBlock, tokens t: Int) {
        let w = block.width, h = block.mlp.hidden
        tokens = t
        input = FloatBuffer(capacity: t * w)
        mean1 = FloatBuffer(capacity: t)
        rstd1 = FloatBuffer(capacity: t)
        qkv = FloatBuffer(capacity: t * 3 * w)
        probabilities = FloatBuffer(capacity: block.attn.heads * t * t)
        mixed = FloatBuffer(capacity: t * w)
        middle = FloatBuffer(capacity: t * w)
        mean2 = FloatBuffer(capacity: t)
        rstd2 = FloatBuffer(capacity: t)
        preActivation = FloatBuffer(capacity: t * h)
        gradMixed = FloatBuffer(capacity: t * w)
        gradQKV = FloatBuffer(capacity: t * 3 * w)
        gradScores = FloatBuffer(capacity: t * t)
        gradHidden = FloatBuffer(capacity: t * h)
        gradMiddle = FloatBuffer(capacity: t * w)
        gradNormed = FloatBuffer(capacity: t * w)
    }

    /// The recorded block input (= the previous block's output): Grad-CAM's activations A.
    public var blockInput: UnsafePointer<Float> { UnsafePointer(input.pointer) }
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
            for i in 0..<t { a[i] = VectorMath.dot(h + i * w, q.baseAddress!, count: w) * scale }
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
            let g = VectorMath.dot(h + i * w, dpooled, count: w)
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
