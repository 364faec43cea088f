import Foundation

/// How a generated frame (floats in 0…1, e.g. 80×80) becomes an output image (e.g. 256×256).
///
/// The scaling rule, reproduced exactly by `training/tests/test_export_png.py`:
/// 1. Work in Double. Resample separably — rows first (width), then columns (height).
/// 2. Output pixel `i` samples source coordinate `c = (i + 0.5)·(src/dst) − 0.5` (pixel centres aligned).
/// 3. `nearest`: source pixel `min(floor((i + 0.5)·src/dst), src − 1)`.
///    Other filters: taps `j = ceil(c − r·s) … floor(c + r·s)` with `s = max(1, src/dst)` (the kernel is
///    stretched when shrinking, to avoid aliasing) and `r` the kernel radius; weight `k((j − c)/s)`,
///    divided by the sum of the tap weights; taps outside the image reuse the edge pixel. Sums run
///    over taps in increasing `j`, starting from 0.
/// 4. Grey level `floor(clamp(v, 0, 1)·255 + 0.5)`.
public enum ResamplingFilter: String, Sendable, Codable, CaseIterable {
    /// Blocky, no new grey levels: every output pixel is one generator pixel.
    case nearest
    /// Triangle kernel, radius 1.
    case bilinear
    /// Keys cubic convolution with a = −0.5 (Catmull–Rom), radius 2: sharp, slight overshoot (clamped).
    case bicubic
    /// Lanczos windowed sinc, radius 3: sharpest, ringing near strong edges (clamped).
    case lanczos3

    var radius: Double {
        switch self {
        case .nearest: return 0.5
        case .bilinear: return 1
        case .bicubic: return 2
        case .lanczos3: return 3
        }
    }

    func weight(_ x: Double) -> Double {
        let ax = abs(x)
        switch self {
        case .nearest:
            return ax < 0.5 ? 1 : 0
        case .bilinear:
            return ax < 1 ? 1 - ax : 0
        case .bicubic:
            let a = -0.5
            if ax < 1 { return ((a + 2) * ax - (a + 3)) * ax * ax + 1 }
            if ax < 2 { return ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a }
            return 0
        case .lanczos3:
            if ax == 0 { return 1 }
            if ax >= 3 { return 0 }
            let px = Double.pi * ax
            return 3 * sin(px) * sin(px / 3) / (px * px)
        }
    }
}

/// Precomputed taps of a 1-D resampling from `source` to `destination` samples.
struct ResamplingTaps {
    var first: [Int]        // first tap index per output sample (before clamping)
    var weights: [[Double]] // normalised weights per output sample

    init(source: Int, destination: Int, filter: ResamplingFilter) {
        let ratio = Double(source) / Double(destination)
        first = []; weights = []
        first.reserveCapacity(destination); weights.reserveCapacity(destination)
        if filter == .nearest {
            for i in 0..<destination {
                first.append(min(Int(((Double(i) + 0.5) * ratio).rounded(.down)), source - 1))
                weights.append([1])
            }
            return
        }
        let stretch = max(1, ratio)
        let support = filter.radius * stretch
        for i in 0..<destination {
            let centre = (Double(i) + 0.5) * ratio - 0.5
            let lo = Int((centre - support).rounded(.up)), hi = Int((centre + support).rounded(.down))
            var w: [Double] = []
            var total = 0.0
            for j in lo...max(lo, hi) {
                let v = filter.weight((Double(j) - centre) / stretch)
                w.append(v); total += v
            }
            if total != 0 { for k in w.indices { w[k] = w[k] / total } }
            first.append(lo); weights.append(w)
        }
    }
}

public enum Resampler {
    /// Resamples a frame of floats (row-major, nominally 0…1) to `width`×`height` 8-bit grey
    /// with the scaling rule documented on `ResamplingFilter`.
    public static func resample(_ frame: [Float], width: Int, height: Int, toWidth outW: Int, height outH: Int,
                                filter: ResamplingFilter) throws -> GreyImage {
        guard width > 0, height > 0, frame.count == width * height else {
            throw CMRExportError.invalidImage("frame of \(frame.count) values is not \(width)×\(height)")
        }
        guard outW > 0, outH > 0, outW <= 16384, outH <= 16384 else {
            throw CMRExportError.invalidOption("output size \(outW)×\(outH) must be 1…16384 pixels")
        }
        let xt = ResamplingTaps(source: width, destination: outW, filter: filter)
        let yt = ResamplingTaps(source: height, destination: outH, filter: filter)
        // Rows first: tmp is height × outW.
        var tmp = [Double](repeating: 0, count: height * outW)
        frame.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let row = y * width
                for x in 0..<outW {
                    var acc = 0.0
                    let lo = xt.first[x]
                    for (k, w) in xt.weights[x].enumerated() {
                        let j = min(max(lo + k, 0), width - 1)
                        acc += w * Double(src[row + j])
                    }
                    tmp[y * outW + x] = acc
                }
            }
        }
        var out = GreyImage(width: outW, height: outH)
        for y in 0..<outH {
            let lo = yt.first[y]
            let ws = yt.weights[y]
            for x in 0..<outW {
                var acc = 0.0
                for (k, w) in ws.enumerated() {
                    let j = min(max(lo + k, 0), height - 1)
                    acc += w * tmp[j * outW + x]
                }
                out.pixels[y * outW + x] = quantise(acc)
            }
        }
        return out
    }

    /// Resamples an 8-bit grey image (values /255 in, same rule).
    public static func resample(_ image: GreyImage, toWidth outW: Int, height outH: Int, filter: ResamplingFilter) throws -> GreyImage {
        let floats = image.pixels.map { Float($0) / 255 }
        return try resample(floats, width: image.width, height: image.height, toWidth: outW, height: outH, filter: filter)
    }

    @inlinable public static func quantise(_ v: Double) -> UInt8 {
        let c = v.isNaN ? 0 : min(max(v, 0), 1)
        return UInt8((c * 255 + 0.5).rounded(.down))
    }
}
