import ECGFormats
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
    /// One mean and SD per group of leads, named (MMCL: I–III, aVR–aVF, V1–V6); a lead in no
    /// group is z-scored on its own.
    case zScoreLeadGroups([[String]])
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
            out = Self.zScore(leads, groups: [Array(leads.indices)])
        case .zScoreLeadGroups:
            // Without lead names every lead is its own group; `apply(_:leadNames:)` resolves the names.
            out = Self.zScore(leads, groups: leads.indices.map { [$0] })
        }
        if let clip {
            out = out.map { $0.map { min(max($0, -clip), clip) } }
        }
        return out
    }

    public func apply(_ leads: [[Float]]) -> [[Float]] { apply(leads.map(toDouble)).map(toFloat) }

    /// As `apply(_:)`, with lead names for `zScoreLeadGroups` (matched as `LeadID`s; a group
    /// naming a lead the input lacks is an error).
    public func apply(_ leads: [[Double]], leadNames: [String]) throws -> [[Double]] {
        guard case .zScoreLeadGroups(let named) = mode else { return apply(leads) }
        let ids = leadNames.map { LeadID(parsing: $0) }
        var seen = Set<Int>()
        var groups: [[Int]] = []
        for g in named {
            let members = try g.map { name -> Int in
                guard let i = ids.firstIndex(of: LeadID(parsing: name)) else {
                    throw SignalError.invalidParameter(step: "normalise", parameter: "groups",
                                                       reason: "lead '\(name)' is not in the input (\(leadNames.joined(separator: ", ")))")
                }
                guard seen.insert(i).inserted else {
                    throw SignalError.invalidParameter(step: "normalise", parameter: "groups", reason: "lead '\(name)' is in two groups")
                }
                return i
            }
            groups.append(members)
        }
        groups += leads.indices.filter { !seen.contains($0) }.map { [$0] }
        var out = Self.zScore(leads, groups: groups)
        if let clip { out = out.map { $0.map { min(max($0, -clip), clip) } } }
        return out
    }

    /// Each group of leads to zero mean and unit SD over all its samples (flat groups → zeros).
    static func zScore(_ leads: [[Double]], groups: [[Int]]) -> [[Double]] {
        var out = leads
        for g in groups where !g.isEmpty {
            let (mu, sd) = meanAndSD(g.flatMap { leads[$0] })
            for i in g {
                out[i] = sd > flatEpsilonMillivolts ? leads[i].map { ($0 - mu) / sd } : [Double](repeating: 0, count: leads[i].count)
            }
        }
        return out
    }
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
