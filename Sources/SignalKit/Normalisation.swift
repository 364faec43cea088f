import Foundation

/// Below this spread (mV) a lead is treated as flat: normalising it would only amplify rounding.
public let flatEpsilonMillivolts = 1e-6

/// How amplitudes are brought to the model's scale.
public enum NormalisationMode: Sendable, Equatable {
    /// `x / millivolts` (amplitudes stay comparable across leads and patients).
    case scale(millivolts: Double)
    /// Each lead to [−1, 1] by its own minimum and maximum (CardiacNets).
    case minMax
    /// Each lead to zero mean, unit standard deviation (population SD).
    case zScore
    /// One mean and SD over all leads together (keeps the leads' relative amplitudes).
    case zScoreGroup
}

/// Normalisation of lead-major signals, optionally clipped to ±`clip` afterwards. Flat leads
/// (spread ≤ 1 µV) become zeros instead of amplified noise.
public struct Normaliser: Sendable {
    public let mode: NormalisationMode
    public let clip: Double?

    public init(mode: NormalisationMode, clip: Double? = nil) throws {
        if case .scale(let mv) = mode, !(mv > 0 && mv.isFinite) {
            throw SignalError.invalidParameter(step: "normalise", parameter: "millivolts", reason: "must be positive (got \(mv))")
        }
        if let clip, !(clip > 0) {
            throw SignalError.invalidParameter(step: "normalise", parameter: "clip", reason: "must be positive (got \(clip))")
        }
        self.mode = mode
        self.clip = clip
    }

    public func apply(_ leads: [[Double]]) -> [[Double]] {
        var out: [[Double]]
        switch mode {
        case .scale(let mv):
            out = leads.map { $0.map { $0 / mv } }
        case .minMax:
            out = leads.map { x in
                guard let lo = x.min(), let hi = x.max(), hi - lo > flatEpsilonMillivolts else {
                    return [Double](repeating: 0, count: x.count)
                }
                let span = hi - lo
                return x.map { 2 * ($0 - lo) / span - 1 }
            }
        case .zScore:
            out = leads.map { x in
                let (mu, sd) = meanAndSD(x)
                guard sd > flatEpsilonMillivolts else { return [Double](repeating: 0, count: x.count) }
                return x.map { ($0 - mu) / sd }
            }
        case .zScoreGroup:
            let (mu, sd) = meanAndSD(leads.flatMap { $0 })
            guard sd > flatEpsilonMillivolts else { return leads.map { [Double](repeating: 0, count: $0.count) } }
            out = leads.map { $0.map { ($0 - mu) / sd } }
        }
        if let clip {
            out = out.map { $0.map { min(max($0, -clip), clip) } }
        }
        return out
    }

    public func apply(_ leads: [[Float]]) -> [[Float]] { apply(leads.map(toDouble)).map(toFloat) }
}

/// Mean and population standard deviation (two-pass, as numpy).
func meanAndSD(_ x: [Double]) -> (mean: Double, sd: Double) {
    guard !x.isEmpty else { return (0, 0) }
    let mu = x.reduce(0, +) / Double(x.count)
    let v = x.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(x.count)
    return (mu, v.squareRoot())
}

/// Where a fixed-length window is taken from a longer or shorter signal.
public enum CropAlignment: String, Sendable, Equatable {
    /// Keep the first samples; pad zeros at the end.
    case start
    /// Keep the middle; pad zeros equally on both sides (extra sample at the end).
    case center
}

/// Crop or zero-pad to exactly `sampleCount`. `offset(forInputCount:)` is the input index of
/// output sample 0 (negative when zeros were padded in front), so overlays (Grad-CAM, R-peaks)
/// can be mapped back to the original trace.
public struct CropOrPad: Sendable {
    public let sampleCount: Int
    public let alignment: CropAlignment

    public init(sampleCount: Int, alignment: CropAlignment = .start) throws {
        guard sampleCount > 0, sampleCount <= 10_000_000 else {
            throw SignalError.invalidParameter(step: "cropOrPad", parameter: "sampleCount", reason: "must be 1…10,000,000 (got \(sampleCount))")
        }
        self.sampleCount = sampleCount
        self.alignment = alignment
    }

    public func offset(forInputCount n: Int) -> Int {
        switch alignment {
        case .start: return 0
        case .center: return n >= sampleCount ? (n - sampleCount) / 2 : -((sampleCount - n) / 2)
        }
    }

    public func apply<T: BinaryFloatingPoint>(_ x: [T]) -> [T] {
        let n = x.count
        let off = offset(forInputCount: n)
        var out = [T](repeating: 0, count: sampleCount)
        let lo = max(off, 0), hi = min(off + sampleCount, n)
        if hi > lo {
            for i in lo..<hi { out[i - off] = x[i] }
        }
        return out
    }
}
