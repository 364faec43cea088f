import Foundation

/// An orthogonal wavelet's four filters (PyWavelets conventions).
public struct Wavelet: Sendable, Equatable {
    public let name: String
    public let decompositionLowPass: [Double]
    public let decompositionHighPass: [Double]
    public let reconstructionLowPass: [Double]
    public let reconstructionHighPass: [Double]

    /// Builds the quadrature-mirror set from the decomposition low-pass filter, as PyWavelets:
    /// rec_lo = reversed dec_lo, dec_hi[k] = (−1)^(k+1) rec_lo[k], rec_hi = reversed dec_hi.
    public init(name: String, decompositionLowPass: [Double]) {
        self.name = name
        self.decompositionLowPass = decompositionLowPass
        let recLo = Array(decompositionLowPass.reversed())
        let decHi = recLo.enumerated().map { $0.offset % 2 == 0 ? -$0.element : $0.element }
        reconstructionLowPass = recLo
        decompositionHighPass = decHi
        reconstructionHighPass = Array(decHi.reversed())
    }

    public var filterLength: Int { decompositionLowPass.count }

    /// Daubechies 6 (12 taps), the wavelet CardiacNets uses for ECG denoising.
    public static let db6 = Wavelet(name: "db6", decompositionLowPass: [
        -0.0010773010853084796, 0.004777257510945511, 0.0005538422011614961, -0.03158203931748603,
        0.027522865530305727, 0.09750160558732304, -0.12976686756726194, -0.22626469396543983,
        0.31525035170919763, 0.7511339080210954, 0.49462389039845306, 0.11154074335010947,
    ])
    /// Daubechies 4 (8 taps).
    public static let db4 = Wavelet(name: "db4", decompositionLowPass: [
        -0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309,
        -0.027983769416859854, 0.6308807679298589, 0.7148465705529157, 0.2303778133088965,
    ])

    public static func named(_ name: String) -> Wavelet? {
        switch name.lowercased() {
        case "db6": return .db6
        case "db4": return .db4
        default: return nil
        }
    }

    /// `pywt.dwt_max_level(n, filterLength)`: the deepest level whose input still spans the filter.
    public func maxLevel(signalLength n: Int) -> Int {
        let f = filterLength - 1
        guard f > 0, n >= f else { return 0 }
        var level = 0
        while f << (level + 1) <= n { level += 1 }
        return level
    }

    /// One analysis step with symmetric (half-sample) extension: `pywt.dwt(x, w, "symmetric")`.
    public func dwt(_ x: [Double]) -> (approximation: [Double], detail: [Double]) {
        let n = x.count, f = filterLength
        let count = (n + f - 1) / 2
        var ca = [Double](repeating: 0, count: count), cd = ca
        let period = 2 * n
        @inline(__always) func at(_ i: Int) -> Double {
            var k = i % period
            if k < 0 { k += period }
            return k < n ? x[k] : x[period - 1 - k]
        }
        for m in 0..<count {
            var a = 0.0, d = 0.0
            let base = 2 * m + 1
            for j in 0..<f {
                let v = at(base - j)
                a += decompositionLowPass[j] * v
                d += decompositionHighPass[j] * v
            }
            ca[m] = a
            cd[m] = d
        }
        return (ca, cd)
    }

    /// One synthesis step: `pywt.idwt(cA, cD, w, "symmetric")`, length 2·len − filterLength + 2.
    public func idwt(approximation ca: [Double], detail cd: [Double]) -> [Double] {
        let n = min(ca.count, cd.count), f = filterLength, h = f / 2
        guard n >= h else { return [] }
        var out = [Double](repeating: 0, count: 2 * n - f + 2)
        var o = 0
        for i in (h - 1)..<n {
            var even = 0.0, odd = 0.0
            for j in 0..<h {
                even += reconstructionLowPass[2 * j] * ca[i - j] + reconstructionHighPass[2 * j] * cd[i - j]
                odd += reconstructionLowPass[2 * j + 1] * ca[i - j] + reconstructionHighPass[2 * j + 1] * cd[i - j]
            }
            out[o] = even
            out[o + 1] = odd
            o += 2
        }
        return out
    }

    /// `pywt.wavedec(x, w, "symmetric", level)`: `[cA_level, cD_level, …, cD_1]`.
    public func wavedec(_ x: [Double], level: Int) -> [[Double]] {
        var a = x
        var details: [[Double]] = []
        for _ in 0..<level {
            let (ca, cd) = dwt(a)
            details.append(cd)
            a = ca
        }
        return [a] + details.reversed()
    }

    /// `pywt.waverec(coeffs, w, "symmetric")`.
    public func waverec(_ coeffs: [[Double]]) -> [Double] {
        guard var a = coeffs.first else { return [] }
        for d in coeffs.dropFirst() {
            if a.count == d.count + 1 { a.removeLast() }
            a = idwt(approximation: a, detail: d)
        }
        return a
    }
}

/// Wavelet soft-threshold denoising: decompose to `level`, shrink every detail band by the
/// universal threshold σ·√(2 ln n) with σ = median(|cD₁|)/0.6745 (the finest band estimates
/// the noise), reconstruct, keep the first n samples. Matches the Python reference
/// `preprocess.wavelet_denoise` (PyWavelets `wavedec`/`threshold(mode="soft")`/`waverec`).
public struct WaveletDenoiser: Sendable {
    public let wavelet: Wavelet
    /// nil = the deepest level the signal allows (`pywt.dwt_max_level`).
    public let level: Int?

    public init(wavelet: Wavelet = .db6, level: Int? = nil) throws {
        if let level, !(1...20).contains(level) {
            throw SignalError.invalidParameter(step: "waveletDenoise", parameter: "level", reason: "must be 1…20 (got \(level))")
        }
        self.wavelet = wavelet
        self.level = level
    }

    public func apply(_ x: [Double]) throws -> [Double] {
        let n = x.count
        let maxLevel = wavelet.maxLevel(signalLength: n)
        let lev = min(level ?? maxLevel, maxLevel)
        guard lev >= 1 else {
            throw SignalError.signalTooShort(step: "waveletDenoise", needed: wavelet.filterLength - 2, got: n)
        }
        var coeffs = wavelet.wavedec(x, level: lev)
        let sigma = median(coeffs[coeffs.count - 1].map(abs)) / 0.6745
        let threshold = sigma * (2 * log(Double(n))).squareRoot()
        for b in 1..<coeffs.count {
            coeffs[b] = coeffs[b].map { v in
                let m = abs(v) - threshold
                return m > 0 ? (v < 0 ? -m : m) : 0
            }
        }
        let y = wavelet.waverec(coeffs)
        return Array(y.prefix(n))
    }

    public func apply(_ x: [Float]) throws -> [Float] { toFloat(try apply(toDouble(x))) }
}

/// numpy's median: the middle value, or the mean of the two middle values for an even count.
/// Quickselect (Hoare partition, median-of-three pivot): O(n) on average, one copy of the input.
func median(_ values: [Double]) -> Double {
    let n = values.count
    guard n > 0 else { return 0 }
    var a = values
    let m = n / 2
    return a.withUnsafeMutableBufferPointer { buf -> Double in
        let upper = select(buf, m)
        guard n % 2 == 0 else { return upper }
        // After selection everything left of m is ≤ buf[m]: the lower middle is their maximum.
        var lower = buf[0]
        for k in 1..<m where buf[k] > lower { lower = buf[k] }
        return (lower + upper) / 2
    }
}

/// Rearranges `a` so that `a[k]` is the k-th smallest value, smaller-or-equal values before it.
private func select(_ a: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
    var lo = 0, hi = a.count - 1
    while hi > lo {
        let mid = lo + (hi - lo) / 2
        // Median of three as pivot guards against sorted input.
        if a[mid] < a[lo] { a.swapAt(mid, lo) }
        if a[hi] < a[lo] { a.swapAt(hi, lo) }
        if a[hi] < a[mid] { a.swapAt(hi, mid) }
        let pivot = a[mid]
        var i = lo, j = hi
        while i <= j {
            while a[i] < pivot { i += 1 }
            while a[j] > pivot { j -= 1 }
            if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
        }
        if k <= j { hi = j } else if k >= i { lo = i } else { break }
    }
    return a[k]
}
