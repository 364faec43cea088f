import Foundation

/// y = x Wᵀ + b, PyTorch `nn.Linear` layout (weight `[out, in]`).
public struct Linear: Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2)
        self.weight = weight
        self.bias = bias
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
    }

    public init(_ source: WeightSource, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) throws {
        let w = try source.tensor(prefix + ".weight", shape: [outFeatures, inFeatures])
        let b = bias ? try source.tensor(prefix + ".bias", shape: [outFeatures]) : nil
        self.init(weight: w, bias: b)
    }

    /// x `[rows, in]` (row stride `ldx`) → y `[rows, out]` (row stride `ldy`).
    public func forward(_ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil,
                        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        let ldy = ldy ?? outFeatures
        var beta: Float = 0
        if let bias {
            bias.values.withUnsafeBufferPointer { b in
                for r in 0..<rows { (y + r * ldy).update(from: b.baseAddress!, count: outFeatures) }
            }
            beta = 1
        }
        weight.values.withUnsafeBufferPointer { w in
            if rows == 1 {
                // One row: a matrix-vector product, which reads W once without sgemm's packing copy
                // (a wide layer's weights are megabytes; the copy cost more than the product).
                BLAS.gemv(m: outFeatures, n: inFeatures, a: w.baseAddress!, lda: inFeatures, x: x, beta: beta, y: y)
            } else {
                BLAS.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: ldx ?? inFeatures,
                          b: w.baseAddress!, ldb: inFeatures, beta: beta, c: y, ldc: ldy)
            }
        }
    }
}

extension Linear {
    /// dx `[rows, in]` = dy `[rows, out]` · W: the input gradient (weight gradients are never needed
    /// here: Grad-CAM differentiates activations, not parameters).
    public func backwardInput(_ dy: UnsafePointer<Float>, rows: Int, ldy: Int? = nil,
                              into dx: UnsafeMutablePointer<Float>, ldx: Int? = nil) {
        weight.values.withUnsafeBufferPointer { w in
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: ldy ?? outFeatures,
                      b: w.baseAddress!, ldb: inFeatures, c: dx, ldc: ldx ?? inFeatures)
        }
    }
}

/// Layer norm over the last dimension with affine weight and bias.
public struct LayerNorm: Sendable {
    public let width: Int
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(weight: Tensor, bias: Tensor, eps: Float) {
        self.width = weight.count
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public init(_ source: WeightSource, _ prefix: String, width: Int, eps: Float) throws {
        self.init(weight: try source.tensor(prefix + ".weight", shape: [width]),
                  bias: try source.tensor(prefix + ".bias", shape: [width]), eps: eps)
    }

    /// Normalises `rows` rows of x into y (may alias). Saves per-row mean and 1/σ when asked,
    /// for `backward`.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
        let w = width
        weight.values.withUnsafeBufferPointer { g in
            bias.values.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let xr = x + r * w, yr = y + r * w
                    let m = VectorMath.sum(xr, count: w) / Float(w)
                    let v = VectorMath.sumOfSquaredDeviations(xr, count: w, mean: m) / Float(w)
                    let s = 1 / (v + eps).squareRoot()
                    VectorMath.normalise(xr, mean: m, rstd: s, gain: g.baseAddress!, bias: b.baseAddress!, into: yr, count: w)
                    mean?[r] = m
                    rstd?[r] = s
                }
            }
        }
    }

    /// dx = ∂L/∂x for one forward (`x`, saved `mean`, `rstd`) given dy (weights' gradients not needed).
    public func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                         rstd: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>) {
        let w = width
        weight.values.withUnsafeBufferPointer { g in
            for r in 0..<rows {
                let dyr = dy + r * w, xr = x + r * w, dxr = dx + r * w
                let m = mean[r], s = rstd[r]
                var meanD: Float = 0, meanDX: Float = 0
                for i in 0..<w {
                    let d = dyr[i] * g[i]
                    meanD += d
                    meanDX += d * (xr[i] - m) * s
                }
                meanD /= Float(w)
                meanDX /= Float(w)
                for i in 0..<w {
                    let xhat = (xr[i] - m) * s
                    dxr[i] = s * (dyr[i] * g[i] - meanD - xhat * meanDX)
                }
            }
        }
    }
}

/// Elementwise activations, in place.
public enum Activation {
    /// Exact GELU: x · Φ(x) = 0.5 x (1 + erf(x/√2)).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.gelu(x, count: count)
    }

    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.silu(x, count: count)
    }

    public static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.sigmoid(x, count: count)
    }

    /// Numerically stable softmax of each row of `x` `[rows, cols]` (row stride `ld`), in place.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int? = nil) {
        VectorMath.softmaxRows(x, rows: rows, cols: cols, ld: ld ?? cols)
    }
}
