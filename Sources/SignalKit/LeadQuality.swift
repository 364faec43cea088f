import ECGFormats
import Foundation

/// A problem with one lead's signal, with the measured value that triggered it.
public enum LeadQualityFlag: Sendable, Equatable {
    /// The whole lead barely moves (peak-to-peak below 0.05 mV): no ECG on this lead.
    case flatLine(peakToPeakMillivolts: Double)
    /// A stretch of at least 1 s is dead flat: the electrode probably came off.
    case leadOff(seconds: Double)
    /// Samples pile up at the extreme value in plateaus: the amplifier or ADC clipped.
    case saturation(clippedFraction: Double)
    /// Broadband noise above 0.05 mV (EMG, mains, poor contact).
    case excessiveNoise(noiseMillivolts: Double)
    /// The baseline drifts by more than 2 mV (respiration, movement, sweating).
    case baselineWander(peakToPeakMillivolts: Double)

    public var title: String {
        switch self {
        case .flatLine: return "flat line"
        case .leadOff: return "lead off"
        case .saturation: return "saturation"
        case .excessiveNoise: return "excessive noise"
        case .baselineWander: return "baseline wander"
        }
    }

    public var explanation: String {
        switch self {
        case .flatLine(let ptp):
            return String(format: "peak-to-peak %.3f mV over the whole lead (< 0.05 mV): no cardiac signal", ptp)
        case .leadOff(let s):
            return String(format: "%.1f s without any signal (< 0.01 mV change): electrode disconnected?", s)
        case .saturation(let f):
            return String(format: "%.1f %% of samples sit on the extreme value in plateaus: amplifier clipping", f * 100)
        case .excessiveNoise(let mv):
            return String(format: "high-frequency noise %.3f mV RMS (> 0.05 mV): muscle tremor, mains or poor contact", mv)
        case .baselineWander(let ptp):
            return String(format: "baseline drifts %.2f mV peak-to-peak (> 2 mV): movement or respiration", ptp)
        }
    }

    /// Flags after which the lead should not be used for measurements.
    public var makesLeadUnusable: Bool {
        switch self {
        case .flatLine, .leadOff, .saturation: return true
        case .excessiveNoise, .baselineWander: return false
        }
    }
}

/// Quality of one lead of a record.
public struct LeadQuality: Sendable, Equatable {
    public var lead: LeadID
    public var flags: [LeadQualityFlag]
    public var isUsable: Bool { !flags.contains { $0.makesLeadUnusable } }
}

/// Per-lead signal-quality checks. Thresholds are in millivolts and seconds so they do not
/// depend on the sampling rate. O(n) apart from the baseline median filter (O(n log k)).
public struct LeadQualityAssessor: Sendable {
    public let samplingRate: Double
    public var flatLineMillivolts = 0.05
    public var leadOffMillivolts = 0.01
    public var leadOffSeconds = 1.0
    public var saturationFraction = 0.005
    public var noiseMillivolts = 0.05
    public var wanderMillivolts = 2.0

    public init(samplingRate: Double) throws {
        guard samplingRate.isFinite, ReaderLimits.samplingRateRange.contains(samplingRate) else {
            throw SignalError.invalidParameter(step: "quality", parameter: "samplingRate", reason: "must be 1…100000 Hz (got \(samplingRate))")
        }
        self.samplingRate = samplingRate
    }

    public func assess(_ signal: [Float]) -> [LeadQualityFlag] {
        let x = signal.map { Double($0) }.filter(\.isFinite)
        guard x.count >= 2, let lo = x.min(), let hi = x.max() else { return [.flatLine(peakToPeakMillivolts: 0)] }
        if hi - lo < flatLineMillivolts { return [.flatLine(peakToPeakMillivolts: hi - lo)] }
        var flags: [LeadQualityFlag] = []

        // Lead off: longest run of 0.25 s blocks whose peak-to-peak is below 0.01 mV.
        let block = max(2, checkedInt(0.25 * samplingRate))
        var run = 0, longest = 0
        var s = 0
        while s + block <= x.count {
            let seg = x[s..<(s + block)]
            if (seg.max() ?? 0) - (seg.min() ?? 0) < leadOffMillivolts { run += 1; longest = max(longest, run) } else { run = 0 }
            s += block
        }
        let deadSeconds = Double(longest * block) / samplingRate
        if deadSeconds >= leadOffSeconds { flags.append(.leadOff(seconds: deadSeconds)) }

        // Saturation: plateaus (≥ 3 equal samples) at the lead's own minimum or maximum, when that
        // extreme is a real excursion (≥ 0.3 mV from the median), not the quiet baseline.
        var clipped = 0
        let centre = median(x)
        for extreme in [lo, hi] where abs(extreme - centre) >= 0.3 {
            var k = 0
            while k < x.count {
                if x[k] == extreme {
                    var e = k
                    while e < x.count && x[e] == extreme { e += 1 }
                    if e - k >= 3 { clipped += e - k }
                    k = e
                } else { k += 1 }
            }
        }
        let fraction = Double(clipped) / Double(x.count)
        if fraction >= saturationFraction { flags.append(.saturation(clippedFraction: fraction)) }

        // Noise: robust SD of the first difference (Haar detail), which ignores the few QRS
        // samples; divided by √2 to express it as the noise on the samples themselves.
        var diffs = [Double](repeating: 0, count: x.count - 1)
        for k in 0..<(x.count - 1) { diffs[k] = abs(x[k + 1] - x[k]) }
        let noise = median(diffs) / 0.6745 / 2.0.squareRoot()
        if noise > noiseMillivolts { flags.append(.excessiveNoise(noiseMillivolts: noise)) }

        // Baseline wander: peak-to-peak of the cascaded-median baseline, computed on 20 ms block
        // means (50 Hz) — the baseline is slow, and this keeps the check cheap at any rate.
        let blockLength = max(1, checkedInt(samplingRate / 50))
        let blocks = stride(from: 0, to: x.count, by: blockLength).map { start -> Double in
            let seg = x[start..<min(start + blockLength, x.count)]
            return seg.reduce(0, +) / Double(seg.count)
        }
        if let baseline = try? MedianBaselineRemoval(windowsSeconds: [0.2, 0.6], samplingRate: samplingRate / Double(blockLength)) {
            let b = baseline.baseline(blocks)
            let ptp = (b.max() ?? 0) - (b.min() ?? 0)
            if ptp > wanderMillivolts { flags.append(.baselineWander(peakToPeakMillivolts: ptp)) }
        }
        return flags
    }

    public func assess(_ record: ECGRecord) -> [LeadQuality] {
        record.leads.map { LeadQuality(lead: $0.id, flags: assess($0.millivolts)) }
    }
}
