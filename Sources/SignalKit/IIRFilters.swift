import Foundation

/// Minimal complex arithmetic for filter design (poles and zeros).
struct Complex: Sendable, Equatable {
    var re: Double
    var im: Double
    init(_ re: Double, _ im: Double = 0) { self.re = re; self.im = im }
    static func + (a: Complex, b: Complex) -> Complex { Complex(a.re + b.re, a.im + b.im) }
    static func - (a: Complex, b: Complex) -> Complex { Complex(a.re - b.re, a.im - b.im) }
    static func * (a: Complex, b: Complex) -> Complex {
        Complex(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)
    }
    static func * (a: Complex, s: Double) -> Complex { Complex(a.re * s, a.im * s) }
    static func / (a: Complex, b: Complex) -> Complex {
        let d = b.re * b.re + b.im * b.im
        return Complex((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d)
    }
    var magnitudeSquared: Double { re * re + im * im }
    /// Principal square root (as numpy's).
    var squareRoot: Complex {
        let r = (magnitudeSquared).squareRoot()
        let a = ((r + re) / 2).squareRoot()
        let b = ((r - re) / 2).squareRoot()
        return Complex(a, im < 0 ? -b : b)
    }
}

/// One biquad `H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`; a first-order section
/// has `b2 = a2 = 0`.
public struct Biquad: Sendable, Equatable {
    public var b0, b1, b2, a1, a2: Double
    public init(b0: Double, b1: Double, b2: Double, a1: Double, a2: Double) {
        (self.b0, self.b1, self.b2, self.a1, self.a2) = (b0, b1, b2, a1, a2)
    }
    /// Gain at DC.
    var dcGain: Double { (b0 + b1 + b2) / (1 + a1 + a2) }
    /// Transposed direct-form-II state for a constant input of 1 (`scipy.signal.lfilter_zi`).
    var steadyState: (Double, Double) {
        let y = dcGain
        let z1 = b2 - a2 * y
        return (b1 - a1 * y + z1, z1)
    }
}

/// A cascade of second-order sections, applied causally or zero-phase (forward–backward with
/// odd extension of the ends and steady-state initial conditions, as `scipy.signal.sosfiltfilt`
/// and `filtfilt` with their default padding).
public struct SecondOrderSections: Sendable, Equatable {
    public var sections: [Biquad]

    public init(sections: [Biquad]) { self.sections = sections }

    /// Transfer-function coefficients `(b, a)` of the whole cascade (for comparing with `butter`).
    public var transferFunction: (b: [Double], a: [Double]) {
        var b: [Double] = [1], a: [Double] = [1]
        for s in sections {
            let first = s.b2 == 0 && s.a2 == 0
            b = polyMultiply(b, first ? [s.b0, s.b1] : [s.b0, s.b1, s.b2])
            a = polyMultiply(a, first ? [1, s.a1] : [1, s.a1, s.a2])
        }
        return (b, a)
    }

    /// scipy's default pad length for `sosfiltfilt`: 3·(2·sections + 1 − sections with a zero at
    /// the origin in both numerator and denominator).
    public var defaultPadLength: Int {
        let zb = sections.filter { $0.b2 == 0 }.count
        let za = sections.filter { $0.a2 == 0 }.count
        return 3 * (2 * sections.count + 1 - min(zb, za))
    }

    /// Causal filtering with initial state `state` (one pair per section).
    func filter(_ x: inout [Double], state: [(Double, Double)]) {
        x.withUnsafeMutableBufferPointer { buf in
            for (s, sec) in sections.enumerated() {
                var (z0, z1) = state[s]
                let (b0, b1, b2, a1, a2) = (sec.b0, sec.b1, sec.b2, sec.a1, sec.a2)
                for i in 0..<buf.count {
                    let xi = buf[i]
                    let y = b0 * xi + z0
                    z0 = b1 * xi - a1 * y + z1
                    z1 = b2 * xi - a2 * y
                    buf[i] = y
                }
            }
        }
    }

    /// Causal filtering from rest (`sosfilt`).
    public func filter(_ x: [Double]) -> [Double] {
        var y = x
        filter(&y, state: Array(repeating: (0, 0), count: sections.count))
        return y
    }

    /// Steady-state initial conditions per section for a unit step (`sosfilt_zi`).
    var steadyStates: [(Double, Double)] {
        var scale = 1.0
        return sections.map { s in
            let (z0, z1) = s.steadyState
            defer { scale *= s.dcGain }
            return (z0 * scale, z1 * scale)
        }
    }

    /// The forward pass then the backward pass over an extended signal, each from steady state at
    /// its first sample (`sosfiltfilt`'s initial conditions); returns the `keeping` part.
    private func forwardBackward(_ ext: inout [Double], keeping range: Range<Int>) -> [Double] {
        let zi = steadyStates
        let x0 = ext[0]
        filter(&ext, state: zi.map { ($0.0 * x0, $0.1 * x0) })
        ext.reverse()
        let y0 = ext[0]
        filter(&ext, state: zi.map { ($0.0 * y0, $0.1 * y0) })
        ext.reverse()
        return Array(ext[range])
    }

    /// Zero-phase filtering. Throws when the signal is not longer than the pad length.
    public func filtfilt(_ x: [Double], padLength: Int? = nil, step: String = "filtfilt") throws -> [Double] {
        let pad = padLength ?? defaultPadLength
        let n = x.count
        guard n > pad else { throw SignalError.signalTooShort(step: step, needed: pad, got: n) }
        var ext = [Double]()
        ext.reserveCapacity(n + 2 * pad)
        if pad > 0 {
            for k in stride(from: pad, through: 1, by: -1) { ext.append(2 * x[0] - x[k]) }
        }
        ext.append(contentsOf: x)
        if pad > 0 {
            for k in 1...pad { ext.append(2 * x[n - 1] - x[n - 1 - k]) }
        }
        return forwardBackward(&ext, keeping: pad..<(pad + n))
    }

    public func filtfilt(_ x: [Float]) throws -> [Float] { toFloat(try filtfilt(toDouble(x))) }

    /// Samples until the slowest section's impulse response has decayed below `tolerance` of its
    /// start (from the largest pole radius r: ln(tolerance) / ln r). An unstable or marginal
    /// cascade (r ≥ 1) gets `defaultPadLength`.
    public func settlingSamples(tolerance: Double = 1e-4) -> Int {
        var radius = 0.0
        for s in sections {
            let disc = s.a1 * s.a1 - 4 * s.a2
            if disc < 0 {
                radius = max(radius, s.a2.squareRoot())
            } else {
                let root = disc.squareRoot()
                radius = max(radius, abs((-s.a1 + root) / 2), abs((-s.a1 - root) / 2))
            }
        }
        guard radius > 0 else { return defaultPadLength }
        guard radius < 1 else { return defaultPadLength }
        return max(defaultPadLength, Int((log(tolerance) / log(radius)).rounded(.up)))
    }

    /// Zero-phase filtering for display: both ends are extended by mirror reflection (even
    /// extension, the edge sample not repeated; reflected again when the pad is longer than the
    /// signal) over `padLength` samples — by default the cascade's settling time — so the
    /// transients of the forward and the backward pass die out before the signal starts. A 10 s
    /// excerpt filtered alone then matches the same 10 s filtered inside the whole record to what
    /// the reflection guesses about the signal beyond the edge; the short odd extension of
    /// `filtfilt` (scipy's default) leaves transients of several mV after a 0.67 Hz high-pass.
    /// Never throws: any length ≥ 1 works (one sample is returned scaled by the DC gain).
    public func filtfiltMirrored(_ x: [Double], padLength: Int? = nil) -> [Double] {
        let n = x.count
        guard n > 1 else { return x.map { $0 * sections.reduce(1) { $0 * $1.dcGain } } }
        let pad = max(0, padLength ?? settlingSamples())
        let period = 2 * (n - 1)
        func mirrored(_ j: Int) -> Double {
            var m = j % period
            if m < 0 { m += period }
            return x[m < n ? m : period - m]
        }
        var ext = [Double]()
        ext.reserveCapacity(n + 2 * pad)
        for j in stride(from: -pad, to: 0, by: 1) { ext.append(mirrored(j)) }
        ext.append(contentsOf: x)
        for j in n..<(n + pad) { ext.append(mirrored(j)) }
        return forwardBackward(&ext, keeping: pad..<(pad + n))
    }
}

func polyMultiply(_ p: [Double], _ q: [Double]) -> [Double] {
    var r = [Double](repeating: 0, count: p.count + q.count - 1)
    for i in p.indices { for j in q.indices { r[i + j] += p[i] * q[j] } }
    return r
}

/// Which frequencies a Butterworth filter passes.
public enum FilterBand: Sendable, Equatable {
    case lowpass(cutoffHz: Double)
    case highpass(cutoffHz: Double)
    case bandpass(lowHz: Double, highHz: Double)
}

/// Digital Butterworth filter designed as `scipy.signal.butter`: analogue prototype poles,
/// pre-warped band edges, low-pass → low/high/band-pass transformation, bilinear transform.
/// Realised as second-order sections (conjugate pole pairs), applied zero-phase by `filtfilt`.
public struct ButterworthFilter: Sendable {
    public let order: Int
    public let band: FilterBand
    public let samplingRate: Double
    /// Digital poles and the overall gain, for inspection and tests.
    let poles: [Complex]
    let zeros: [Double]
    public let gain: Double
    public let sos: SecondOrderSections

    public init(order: Int, band: FilterBand, samplingRate fs: Double) throws {
        let step = "butterworth"
        guard (1...12).contains(order) else {
            throw SignalError.invalidParameter(step: step, parameter: "order", reason: "must be 1…12 (got \(order))")
        }
        guard fs > 0, fs.isFinite else {
            throw SignalError.invalidParameter(step: step, parameter: "samplingRate", reason: "must be positive (got \(fs))")
        }
        let nyquist = fs / 2
        func check(_ f: Double, _ name: String) throws -> Double {
            guard f > 0, f < nyquist else {
                throw SignalError.invalidParameter(step: step, parameter: name,
                                                   reason: "must lie strictly between 0 and the Nyquist frequency \(nyquist) Hz (got \(f) Hz)")
            }
            return f / nyquist
        }
        self.order = order
        self.band = band
        self.samplingRate = fs
        // Analogue prototype (scipy.signal.buttap): unit cut-off, poles on the left half circle.
        let n = order
        let proto: [Complex] = stride(from: -n + 1, through: n - 1, by: 2).map { m in
            let theta = Double.pi * Double(m) / Double(2 * n)
            return Complex(-cos(theta), -sin(theta))
        }
        let fs2 = 4.0  // bilinear transform with scipy's normalised fs = 2
        func warp(_ wn: Double) -> Double { 4 * tan(Double.pi * wn / 2) }
        var analogPoles: [Complex]
        var analogZeroCount: Int  // analogue zeros, all at s = 0 here
        var k: Double
        switch band {
        case .lowpass(let f):
            let wo = warp(try check(f, "cutoffHz"))
            analogPoles = proto.map { $0 * wo }
            analogZeroCount = 0
            k = pow(wo, Double(n))
        case .highpass(let f):
            let wo = warp(try check(f, "cutoffHz"))
            analogPoles = proto.map { Complex(wo) / $0 }
            analogZeroCount = n
            var prodNegP = Complex(1)
            for p in proto { prodNegP = prodNegP * Complex(-p.re, -p.im) }
            k = (Complex(1) / prodNegP).re
        case .bandpass(let lo, let hi):
            let w1 = try check(lo, "lowHz"), w2 = try check(hi, "highHz")
            guard w1 < w2 else {
                throw SignalError.invalidParameter(step: step, parameter: "lowHz", reason: "must be below highHz (\(lo) ≥ \(hi))")
            }
            let (wl, wh) = (warp(w1), warp(w2))
            let wo = (wl * wh).squareRoot(), bw = wh - wl
            let lp = proto.map { $0 * (bw / 2) }
            let disc = lp.map { ($0 * $0 - Complex(wo * wo)).squareRoot }
            analogPoles = zip(lp, disc).map { $0 + $1 } + zip(lp, disc).map { $0 - $1 }
            analogZeroCount = n
            k = pow(bw, Double(n))
        }
        // Bilinear transform (scipy.signal.bilinear_zpk).
        var digitalPoles = analogPoles.map { (Complex(fs2) + $0) / (Complex(fs2) - $0) }
        var prod = Complex(1)
        for p in analogPoles { prod = prod * (Complex(fs2) - p) }
        k *= (Complex(pow(fs2, Double(analogZeroCount))) / prod).re
        // Zeros: analogue zeros at 0 map to +1, the degree difference goes to −1.
        let plus = analogZeroCount, minus = analogPoles.count - analogZeroCount
        var zeros: [Double] = []
        // Interleave so a band-pass section gets one zero at +1 and one at −1.
        var (p1, m1) = (plus, minus)
        while p1 > 0 || m1 > 0 {
            if p1 > 0 { zeros.append(1); p1 -= 1 }
            if m1 > 0 { zeros.append(-1); m1 -= 1 }
        }
        if case .lowpass = band { zeros = Array(repeating: -1, count: minus) }
        if case .highpass = band { zeros = Array(repeating: 1, count: plus) }
        digitalPoles.sort { ($0.im, $0.re) < ($1.im, $1.re) }
        self.poles = digitalPoles
        self.zeros = zeros
        self.gain = k
        self.sos = SecondOrderSections(sections: Self.pairSections(poles: digitalPoles, zeros: zeros, gain: k))
    }

    /// Conjugate pole pairs become biquads; leftover real poles are paired, a last lone real pole
    /// becomes a first-order section. Zeros are handed out two per section in order.
    static func pairSections(poles: [Complex], zeros: [Double], gain: Double) -> [Biquad] {
        let scale = poles.map { max(1, ($0.magnitudeSquared).squareRoot()) }.max() ?? 1
        let tol = 1e-12 * scale
        let upper = poles.filter { $0.im > tol }
        var reals = poles.filter { abs($0.im) <= tol }.map(\.re).sorted()
        var aList: [[Double]] = upper.map { [1, -2 * $0.re, $0.magnitudeSquared] }
        while reals.count >= 2 {
            let p = reals.removeFirst(), q = reals.removeFirst()
            aList.append([1, -(p + q), p * q])
        }
        if let p = reals.first { aList.append([1, -p, 0]) }
        var zi = 0
        var out: [Biquad] = []
        for (idx, a) in aList.enumerated() {
            let firstOrder = a[2] == 0 && idx == aList.count - 1 && reals.count == 1
            var b: [Double] = [1]
            for _ in 0..<(firstOrder ? 1 : 2) where zi < zeros.count {
                b = polyMultiply(b, [1, -zeros[zi]])
                zi += 1
            }
            while b.count < 3 { b.append(0) }
            let g = idx == 0 ? gain : 1
            out.append(Biquad(b0: b[0] * g, b1: b[1] * g, b2: b[2] * g, a1: a[1], a2: a[2]))
        }
        return out
    }

    /// Zero-phase filtering (scipy `sosfiltfilt` with default padding).
    public func filtfilt(_ x: [Double]) throws -> [Double] { try sos.filtfilt(x, step: "butterworth") }
    public func filtfilt(_ x: [Float]) throws -> [Float] { toFloat(try filtfilt(toDouble(x))) }
}

/// Second-order IIR notch (`scipy.signal.iirnotch`): removes mains interference at
/// `frequencyHz` (50 or 60 Hz) with −3 dB bandwidth `frequencyHz / quality`; applied zero-phase
/// (`filtfilt`, pad length 9).
public struct NotchFilter: Sendable {
    public let frequencyHz: Double
    public let quality: Double
    public let samplingRate: Double
    public let b: [Double]
    public let a: [Double]

    public init(frequencyHz: Double = 50, quality: Double = 30, samplingRate: Double) throws {
        guard samplingRate > 0, samplingRate.isFinite else {
            throw SignalError.invalidParameter(step: "notch", parameter: "samplingRate", reason: "must be positive (got \(samplingRate))")
        }
        guard frequencyHz > 0, frequencyHz < samplingRate / 2 else {
            throw SignalError.invalidParameter(step: "notch", parameter: "frequencyHz",
                                               reason: "must lie between 0 and the Nyquist frequency \(samplingRate / 2) Hz (got \(frequencyHz) Hz)")
        }
        guard quality > 0, quality.isFinite else {
            throw SignalError.invalidParameter(step: "notch", parameter: "quality", reason: "must be positive (got \(quality))")
        }
        self.frequencyHz = frequencyHz
        self.quality = quality
        self.samplingRate = samplingRate
        let w0 = 2 * frequencyHz / samplingRate
        let bw = w0 / quality * Double.pi
        let w0r = w0 * Double.pi
        let gb = 1 / 2.0.squareRoot()
        let beta = ((1 - gb * gb).squareRoot() / gb) * tan(bw / 2)
        let gain = 1 / (1 + beta)
        b = [gain, -2 * gain * cos(w0r), gain]
        a = [1, -2 * gain * cos(w0r), 2 * gain - 1]
    }

    var section: SecondOrderSections {
        SecondOrderSections(sections: [Biquad(b0: b[0], b1: b[1], b2: b[2], a1: a[1], a2: a[2])])
    }

    /// Zero-phase notch (scipy `filtfilt(b, a, x)`: odd padding of 3·max(len(a), len(b)) = 9).
    public func filtfilt(_ x: [Double]) throws -> [Double] { try section.filtfilt(x, padLength: 9, step: "notch") }
    public func filtfilt(_ x: [Float]) throws -> [Float] { toFloat(try filtfilt(toDouble(x))) }
}
