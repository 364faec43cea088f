import Foundation

/// Band-limited rational resampling with `scipy.signal.resample_poly` semantics: up-sample by
/// `up`, low-pass with a Kaiser-windowed (β = 5) FIR of `2·10·max(up, down) + 1` taps cut at
/// `1/max(up, down)` of Nyquist, down-sample by `down`; zero padding outside the signal.
/// Output length is `ceil(n · up / down)`. Cost: O(n_out · 20 · max(up, down) / up).
public struct PolyphaseResampler: Sendable {
    public let up: Int
    public let down: Int
    /// Filter taps scaled by `up` and shifted by scipy's pre-padding, so output sample `i` is
    /// full-convolution sample `i + preRemove` taken every `down`.
    let taps: [Double]
    let preRemove: Int

    /// Rates are taken to the nearest milli-hertz so that non-integer rates still give an exact
    /// rational ratio (the Python reference `preprocess.resample_factors` does the same).
    public static func factors(fromRateHz: Double, toRateHz: Double) throws -> (up: Int, down: Int) {
        guard fromRateHz.isFinite, toRateHz.isFinite, fromRateHz > 0, toRateHz > 0,
              fromRateHz < 1e7, toRateHz < 1e7 else {
            throw SignalError.invalidParameter(step: "resample", parameter: "rate",
                                               reason: "must be positive and finite (from \(fromRateHz) Hz to \(toRateHz) Hz)")
        }
        let up = Int((toRateHz * 1000 + 0.5).rounded(.down))
        let down = Int((fromRateHz * 1000 + 0.5).rounded(.down))
        let g = gcd(up, down)
        guard max(up / g, down / g) <= 10_000 else {
            throw SignalError.invalidParameter(step: "resample", parameter: "rate",
                                               reason: "ratio \(up / g)/\(down / g) (\(fromRateHz) Hz → \(toRateHz) Hz) is too fine-grained")
        }
        return (up / g, down / g)
    }

    public init(fromRateHz: Double, toRateHz: Double) throws {
        let (u, d) = try Self.factors(fromRateHz: fromRateHz, toRateHz: toRateHz)
        try self.init(up: u, down: d)
    }

    public init(up: Int, down: Int) throws {
        guard up > 0, down > 0 else {
            throw SignalError.invalidParameter(step: "resample", parameter: "up/down", reason: "must be positive (\(up)/\(down))")
        }
        let g = gcd(up, down)
        self.up = up / g
        self.down = down / g
        // Beyond this the filter has > 200k taps: refuse rather than stall on a weird rate pair.
        guard max(self.up, self.down) <= 10_000 else {
            throw SignalError.invalidParameter(step: "resample", parameter: "rate",
                                               reason: "ratio \(self.up)/\(self.down) is too fine-grained")
        }
        if self.up == 1 && self.down == 1 {
            taps = [1]
            preRemove = 0
            return
        }
        let maxRate = max(self.up, self.down)
        let halfLength = 10 * maxRate
        var h = firwinKaiser(taps: 2 * halfLength + 1, cutoff: 1.0 / Double(maxRate), beta: 5.0)
        for i in h.indices { h[i] *= Double(self.up) }
        let prePad = self.down - halfLength % self.down
        taps = [Double](repeating: 0, count: prePad) + h
        preRemove = (halfLength + prePad) / self.down
    }

    public func outputCount(for inputCount: Int) -> Int {
        let n = inputCount * up
        return n / down + (n % down == 0 ? 0 : 1)
    }

    public func apply(_ x: [Double]) -> [Double] {
        if up == 1 && down == 1 { return x }
        let n = x.count
        let count = outputCount(for: n)
        var y = [Double](repeating: 0, count: count)
        let tapCount = taps.count
        taps.withUnsafeBufferPointer { h in
            x.withUnsafeBufferPointer { xs in
                for i in 0..<count {
                    // Full-convolution index m = (i + preRemove)·down over the zero-stuffed input:
                    // only taps j ≡ m (mod up) meet a real sample, at input index (m − j)/up.
                    let m = (i + preRemove) * down
                    var j = m % up
                    var k = (m - j) / up
                    if k >= n {  // skip taps that land past the end of the input
                        let skip = k - n + 1
                        j += skip * up
                        k -= skip
                    }
                    var acc = 0.0
                    while j < tapCount && k >= 0 {
                        acc += h[j] * xs[k]
                        j += up
                        k -= 1
                    }
                    y[i] = acc
                }
            }
        }
        return y
    }

    public func apply(_ x: [Float]) -> [Float] { toFloat(apply(toDouble(x))) }
}

func gcd(_ a: Int, _ b: Int) -> Int {
    var (a, b) = (abs(a), abs(b))
    while b != 0 { (a, b) = (b, a % b) }
    return max(a, 1)
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// small arguments window design uses).
func besselI0(_ x: Double) -> Double {
    var sum = 1.0, term = 1.0
    let q = x * x / 4
    var k = 1.0
    while true {
        term *= q / (k * k)
        sum += term
        if term < sum * 1e-17 { break }
        k += 1
    }
    return sum
}

/// Symmetric Kaiser window (`scipy.signal.get_window(("kaiser", β), n, fftbins=False)`).
func kaiserWindow(count: Int, beta: Double) -> [Double] {
    guard count > 1 else { return [1] }
    let alpha = Double(count - 1) / 2
    let denom = besselI0(beta)
    return (0..<count).map { n in
        let r = (Double(n) - alpha) / alpha
        return besselI0(beta * (max(0, 1 - r * r)).squareRoot()) / denom
    }
}

/// Low-pass FIR as `scipy.signal.firwin(taps, cutoff, window=("kaiser", β))` (cutoff relative to
/// Nyquist, unit DC gain).
func firwinKaiser(taps: Int, cutoff: Double, beta: Double) -> [Double] {
    let alpha = 0.5 * Double(taps - 1)
    let window = kaiserWindow(count: taps, beta: beta)
    var h = (0..<taps).map { n -> Double in
        let m = Double(n) - alpha
        return cutoff * sinc(cutoff * m) * window[n]
    }
    let s = h.reduce(0, +)
    for i in h.indices { h[i] /= s }
    return h
}

@inline(__always)
func sinc(_ x: Double) -> Double {
    if x == 0 { return 1 }
    let px = Double.pi * x
    return sin(px) / px
}
