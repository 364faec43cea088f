import CVectorKernels
import Foundation

/// Vectorised elementwise kernels. libm's scalar `erff` / `expf` cost more than the GEMMs around
/// them in a transformer block (GELU over T × 4W values, softmax over heads × T² scores), so the
/// hot loops run eight lanes at a time with polynomial approximations whose error (≤ 2e-7
/// absolute for erf, ≤ 2 ulp relative for exp) is far below the 1e-4 parity budget with PyTorch.
public enum VectorMath {
    public typealias Lanes = SIMD8<Float>
    public static let laneCount = 8

    /// GELU, its backward and softmax run as AVX-512 C kernels (Sources/CVectorKernels, the same
    /// approximations) when the CPU has AVX-512F: Swift code here is compiled for baseline x86-64
    /// (SSE2), a quarter of the width. Checked once per process.
    public static let usesAVX512 = ecg_vk_avx512_available() != 0

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inline(__always) static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// eˣ (Cephes `expf`): x = n ln2 + r, |r| ≤ ln2/2, degree-6 polynomial in r, times 2ⁿ built
    /// in the exponent bits. Inputs are clamped to the finite range, so −∞ gives ≈ 0 (not NaN).
    @inline(__always) public static func exp(_ x: Lanes) -> Lanes {
        // Only + − × ÷, lane comparisons and bit casts: the stdlib's generic pointwiseMin/Max,
        // clamped and rounded(.down) were not inlined (and floor went through libm per lane).
        var v = x.replacing(with: -87.33654, where: x .< -87.33654)
        v = v.replacing(with: 88.72283, where: v .> 88.72283)
        // n = round(v/ln2): adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
        let shifted = v * 1.44269504088896341 + 12582912
        let n = shifted - 12582912
        let ni = unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000
        v = v - n * 0.693359375
        v = v - n * -2.12194440e-4
        var p = Lanes(repeating: 1.9875691500e-4)
        p = p * v + 1.3981999507e-3
        p = p * v + 8.3334519073e-3
        p = p * v + 4.1665795894e-2
        p = p * v + 1.6666665459e-1
        p = p * v + 5.0000001201e-1
        p = p * (v * v) + v + 1
        // 2ⁿ: n + 127 in the exponent field (the clamp keeps n in [−126, 128]).
        return p * unsafeBitCast((ni &+ 127) &<< 23, to: Lanes.self)
    }

    /// erf(x), Abramowitz & Stegun 7.1.26 (the formula PyTorch's vectorised CPU erf uses), absolute
    /// error ≤ 1.5e-7.
    @inline(__always) public static func erf(_ x: Lanes) -> Lanes {
        let a = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Lanes.self)
        let t = 1 / (a * 0.3275911 + 1)
        var p = Lanes(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        p = p * t
        let r = 1 - p * exp(-(a * a))
        return r.replacing(with: -r, where: x .< 0)
    }

    /// x ← 0.5 x (1 + erf(x/√2)), exact GELU.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if usesAVX512 { ecg_vk_gelu_avx512(x, count) } else { geluPortable(x, count: count) }
    }

    static func geluPortable(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let r: Float = 0.70710678118654752
        var i = 0
        while i + laneCount <= count {
            let v = load(x + i)
            store(0.5 * v * (1 + erf(v * r)), x + i)
            i += laneCount
        }
        for j in i..<count { let v = x[j]; x[j] = 0.5 * v * (1 + erff(v * r)) }
    }

    /// g ← g · GELU′(x), GELU′(x) = Φ(x) + x φ(x): the backward of `gelu` given its input x.
    public static func geluBackward(_ g: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count: Int) {
        if usesAVX512 { ecg_vk_gelu_backward_avx512(g, x, count) } else { geluBackwardPortable(g, input: x, count: count) }
    }

    static func geluBackwardPortable(_ g: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count: Int) {
        let r: Float = 0.70710678118654752, c: Float = 0.3989422804014327
        var i = 0
        while i + laneCount <= count {
            let v = load(x + i)
            let d = 0.5 * (1 + erf(v * r)) + v * c * exp(-0.5 * v * v)
            store(load(g + i) * d, g + i)
            i += laneCount
        }
        for j in i..<count {
            let v = x[j]
            g[j] *= 0.5 * (1 + erff(v * r)) + v * c * expf(-0.5 * v * v)
        }
    }

    /// x ← x · σ(x).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + laneCount <= count { let v = load(x + i); store(v / (1 + exp(-v)), x + i); i += laneCount }
        for j in i..<count { let v = x[j]; x[j] = v / (1 + expf(-v)) }
    }

    /// x ← σ(x) = 1 / (1 + e⁻ˣ).
    public static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + laneCount <= count { store(1 / (1 + exp(-load(x + i))), x + i); i += laneCount }
        for j in i..<count { x[j] = 1 / (1 + expf(-x[j])) }
    }

    /// Softmax of each row of `x` `[rows, cols]` (row stride `ld`), in place, max-subtracted.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int) {
        if usesAVX512 { ecg_vk_softmax_rows_avx512(x, rows, cols, ld) } else { softmaxRowsPortable(x, rows: rows, cols: cols, ld: ld) }
    }

    static func softmaxRowsPortable(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int) {
        for r in 0..<rows {
            let p = x + r * ld
            var i = 0
            var mv = Lanes(repeating: -.infinity)
            while i + laneCount <= cols { let v = load(p + i); mv = mv.replacing(with: v, where: v .> mv); i += laneCount }
            var m = mv[0]
            for l in 1..<laneCount where mv[l] > m { m = mv[l] }
            for j in i..<cols where p[j] > m { m = p[j] }
            let mm = Lanes(repeating: m)
            var sv = Lanes(repeating: 0)
            i = 0
            while i + laneCount <= cols {
                let e = exp(load(p + i) - mm)
                store(e, p + i)
                sv += e
                i += laneCount
            }
            var s = sv.sum()
            for j in i..<cols { let e = expf(p[j] - m); p[j] = e; s += e }
            scale(p, count: cols, by: 1 / s)
        }
    }

    /// x ← a · x.
    @inline(__always) public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by a: Float) {
        var i = 0
        while i + laneCount <= count { store(load(x + i) * a, x + i); i += laneCount }
        for j in i..<count { x[j] *= a }
    }

    /// y ← y + x.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + laneCount <= count { store(load(y + i) + load(x + i), y + i); i += laneCount }
        for j in i..<count { y[j] += x[j] }
    }

    /// Σ xᵢ.
    @inline(__always) public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Lanes(repeating: 0)
        var i = 0
        while i + laneCount <= count { acc += load(x + i); i += laneCount }
        var s = acc.sum()
        for j in i..<count { s += x[j] }
        return s
    }

    /// Σ xᵢ yᵢ.
    @inline(__always) public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Lanes(repeating: 0)
        var i = 0
        while i + laneCount <= count { acc += load(x + i) * load(y + i); i += laneCount }
        var s = acc.sum()
        for j in i..<count { s += x[j] * y[j] }
        return s
    }

    /// Σ (xᵢ − m)².
    @inline(__always) public static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, count: Int, mean m: Float) -> Float {
        let mm = Lanes(repeating: m)
        var acc = Lanes(repeating: 0)
        var i = 0
        while i + laneCount <= count { let d = load(x + i) - mm; acc += d * d; i += laneCount }
        var s = acc.sum()
        for j in i..<count { let d = x[j] - m; s += d * d }
        return s
    }

    /// yᵢ = (xᵢ − m) s gᵢ + bᵢ (layer-norm affine step; y may alias x).
    @inline(__always) public static func normalise(_ x: UnsafePointer<Float>, mean m: Float, rstd s: Float,
                                                   gain g: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                                                   into y: UnsafeMutablePointer<Float>, count: Int) {
        let mm = Lanes(repeating: m), ss = Lanes(repeating: s)
        var i = 0
        while i + laneCount <= count {
            store((load(x + i) - mm) * ss * load(g + i) + load(b + i), y + i)
            i += laneCount
        }
        for j in i..<count { y[j] = (x[j] - m) * s * g[j] + b[j] }
    }
}
