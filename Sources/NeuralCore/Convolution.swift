import Foundation

/// 3×3 convolution, stride 1, padding 1 (PyTorch `Conv2d(k=3, padding=1)`), via im2col + GEMM.
public struct Conv2d3x3: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let weight: Tensor     // [out, in, 3, 3] = GEMM matrix [out, in·9]
    public let bias: Tensor

    public init(_ source: WeightSource, _ prefix: String, in inChannels: Int, out outChannels: Int) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        weight = try source.tensor(prefix + ".weight", shape: [outChannels, inChannels, 3, 3])
        bias = try source.tensor(prefix + ".bias", shape: [outChannels])
    }

    public func columnCount(height: Int, width: Int) -> Int { inChannels * 9 * height * width }

    /// x `[Cin, H, W]` → y `[Cout, H, W]`; `columns` holds `columnCount` floats.
    public func forward(_ x: UnsafePointer<Float>, height: Int, width: Int, into y: UnsafeMutablePointer<Float>,
                        columns: UnsafeMutablePointer<Float>) {
        let hw = height * width
        // im2col: row (c, ky, kx) holds x[c, i+ky−1, j+kx−1] (zero outside) for every output pixel.
        for c in 0..<inChannels {
            let xc = x + c * hw
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let row = columns + ((c * 3 + ky) * 3 + kx) * hw
                    let dy = ky - 1, dx = kx - 1
                    let j0 = max(0, -dx), j1 = min(width, width - dx)
                    for i in 0..<height {
                        let si = i + dy
                        let out = row + i * width
                        if si < 0 || si >= height {
                            out.update(repeating: 0, count: width)
                            continue
                        }
                        if j0 > 0 { out[0] = 0 }
                        if j1 < width { out[width - 1] = 0 }
                        (out + j0).update(from: xc + si * width + j0 + dx, count: j1 - j0)
                    }
                }
            }
        }
        bias.values.withUnsafeBufferPointer { b in
            for o in 0..<outChannels { (y + o * hw).update(repeating: b[o], count: hw) }
        }
        weight.values.withUnsafeBufferPointer { w in
            BLAS.gemm(m: outChannels, n: hw, k: inChannels * 9, a: w.baseAddress!, lda: inChannels * 9,
                      b: columns, ldb: hw, beta: 1, c: y, ldc: hw)
        }
    }
}

public enum Upsample {
    /// Nearest-neighbour 2× upsampling: x `[C, H, W]` → y `[C, 2H, 2W]`.
    public static func nearest2x(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                 into y: UnsafeMutablePointer<Float>) {
        let w2 = 2 * width
        for c in 0..<channels {
            let xc = x + c * height * width, yc = y + c * 4 * height * width
            for i in 0..<height {
                let row = yc + 2 * i * w2
                let src = xc + i * width
                for j in 0..<width { let v = src[j]; row[2 * j] = v; row[2 * j + 1] = v }
                (row + w2).update(from: row, count: w2)
            }
        }
    }

    /// Linear interpolation of `n` values to `m` (PyTorch `interpolate(mode="linear",
    /// align_corners=False)`).
    public static func linear(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, count m: Int) {
        let scale = Float(n) / Float(m)
        for i in 0..<m {
            var src = scale * (Float(i) + 0.5) - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(src), n - 1)
            let i1 = i0 < n - 1 ? i0 + 1 : i0
            let l1 = src - Float(i0)
            y[i] = (1 - l1) * x[i0] + l1 * x[i1]
        }
    }
}
