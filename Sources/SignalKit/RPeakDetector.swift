import ECGFormats
import Foundation

/// What the RR intervals say about the rhythm. A hint for the reader, not a diagnosis.
public enum RhythmHint: String, Sendable, Equatable {
    case regular, irregular, undetermined

    public var explanation: String {
        switch self {
        case .regular: return "RR intervals vary by less than 10 % (coefficient of variation)"
        case .irregular: return "RR intervals vary by 10 % or more (coefficient of variation): consider atrial fibrillation, ectopy or sinus arrhythmia"
        case .undetermined: return "fewer than 4 RR intervals: too few beats to judge the rhythm"
        }
    }
}

/// Beats found in one lead.
public struct BeatAnalysis: Sendable, Equatable {
    /// Sample indices of the R peaks (largest QRS deflection), ascending.
    public var rPeakIndices: [Int]
    public var samplingRate: Double
    /// R–R intervals of consecutive beats in milliseconds, except those spanning a missing sample.
    public var rrIntervalsMilliseconds: [Double]
    /// 60 000 / mean RR; nil with fewer than two beats.
    public var heartRateBpm: Double?
    /// SD / mean of the RR intervals; nil with fewer than two intervals.
    public var rrCoefficientOfVariation: Double?
    public var rhythm: RhythmHint
}

/// QRS detector after Pan & Tompkins (1985): 5–15 Hz zero-phase band-pass, five-point
/// derivative, squaring, 150 ms moving-window integration, adaptive signal/noise thresholds with
/// a 200 ms refractory period, T-wave discrimination by slope within 360 ms, and search-back
/// at half the threshold when no beat came within 1.66 mean RR. The R peak is then placed at the
/// largest band-passed deflection within ±100 ms of the integrator peak. O(n).
public struct RPeakDetector: Sendable {
    public let samplingRate: Double
    let bandpass: ButterworthFilter

    public init(samplingRate: Double) throws {
        self.samplingRate = samplingRate
        bandpass = try PanTompkins.bandpass(samplingRate: samplingRate)
    }

    public func detect(_ signal: [Float]) throws -> BeatAnalysis {
        if let bad = signal.firstIndex(where: { !$0.isFinite }) {
            throw SignalError.nonFiniteSample(step: "rPeaks", lead: "?", index: bad)
        }
        let fs = samplingRate
        let n = signal.count
        guard n > Int(fs) else { return analysis([]) }  // under a second: nothing to say
        let bp = try bandpass.filtfilt(toDouble(signal))
        let mwi = PanTompkins.integrate(PanTompkins.squaredSlope(bp), samplingRate: fs)
        let slopeHalf = max(1, Int(0.075 * fs))
        func slope(_ i: Int) -> Double {
            let lo = max(0, i - slopeHalf), hi = min(n - 1, i + slopeHalf)
            var m = 0.0
            for k in lo..<hi { m = max(m, abs(bp[k + 1] - bp[k])) }
            return m
        }
        let tWindow = Int(0.36 * fs)
        let qrs = PanTompkins.decide(mwi: mwi, samplingRate: fs, learnSamples: Int(8 * fs), blockSamples: Int(fs),
                                     slope: slope, tWaveWindow: { _ in tWindow })

        // R peak = largest band-passed deflection near each integrator peak.
        let reach = Int(0.1 * fs), refractory = Int(0.2 * fs)
        var peaks: [Int] = []
        for i in qrs {
            let lo = max(0, i - reach), hi = min(n - 1, i + reach)
            var best = lo
            for k in lo...hi where abs(bp[k]) > abs(bp[best]) { best = k }
            if let last = peaks.last, best - last < refractory {
                if abs(bp[best]) > abs(bp[last]) { peaks[peaks.count - 1] = best }
                continue
            }
            peaks.append(best)
        }
        return analysis(peaks)
    }

    func analysis(_ peaks: [Int]) -> BeatAnalysis { BeatAnalysis(rPeaks: peaks, samplingRate: samplingRate) }

    /// Beats of a whole record, found on all its usable leads at once (`MultiLeadQRSDetector`):
    /// the R peaks are placed on the reference lead — II (or Holter "MLII"), then I, V5, V2, then
    /// any usable lead — which is returned with them. Leads flagged flat, lead-off or saturated
    /// take no part. nil when no lead is usable.
    public static func detect(in record: ECGRecord) throws -> (lead: LeadID, beats: BeatAnalysis)? {
        try MultiLeadQRSDetector.detect(in: record).map { ($0.referenceLead, $0.analysis) }
    }
}

