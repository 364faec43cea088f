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
    /// Consecutive R–R intervals in milliseconds.
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
        guard samplingRate.isFinite, samplingRate >= 40, samplingRate <= 20_000 else {
            throw SignalError.invalidParameter(step: "rPeaks", parameter: "samplingRate", reason: "must be 40…20000 Hz (got \(samplingRate))")
        }
        self.samplingRate = samplingRate
        bandpass = try ButterworthFilter(order: 2, band: .bandpass(lowHz: 5, highHz: 15), samplingRate: samplingRate)
    }

    public func detect(_ signal: [Float]) throws -> BeatAnalysis {
        if let bad = signal.firstIndex(where: { !$0.isFinite }) {
            throw SignalError.nonFiniteSample(step: "rPeaks", lead: "?", index: bad)
        }
        let fs = samplingRate
        let n = signal.count
        guard n > Int(fs) else { return analysis([]) }  // under a second: nothing to say
        let bp = try bandpass.filtfilt(toDouble(signal))

        // Derivative, squaring, moving-window integration (centred, so peaks stay aligned).
        var sq = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let d = (bp[min(i + 2, n - 1)] + 2 * bp[min(i + 1, n - 1)] - 2 * bp[max(i - 1, 0)] - bp[max(i - 2, 0)]) / 8
            sq[i] = d * d
        }
        let w = max(1, Int(0.15 * fs))
        var mwi = [Double](repeating: 0, count: n)
        var running = 0.0
        let halfW = w / 2
        for i in 0..<(n + halfW) {
            if i < n { running += sq[i] }
            if i - w >= 0 && i - w < n { running -= sq[i - w] }
            let centre = i - halfW
            if centre >= 0 && centre < n { mwi[centre] = max(running, 0) / Double(w) }
        }

        // Candidate peaks: local maxima of the integrated signal.
        var candidates: [Int] = []
        for i in 1..<(n - 1) where mwi[i] > mwi[i - 1] && mwi[i] >= mwi[i + 1] { candidates.append(i) }
        guard !candidates.isEmpty else { return analysis([]) }

        // Thresholds learnt on the first seconds: typical beat energy vs background.
        let learn = min(n, Int(8 * fs))
        var blockMax: [Double] = []
        var s = 0
        while s < learn {
            let e = min(s + Int(fs), learn)
            blockMax.append(mwi[s..<e].max() ?? 0)
            s = e
        }
        var spki = median(blockMax)
        var npki = median(Array(mwi[0..<learn])) 
        guard spki > 0 else { return analysis([]) }
        var thr1 = npki + 0.25 * (spki - npki)

        let refractory = Int(0.2 * fs), tWindow = Int(0.36 * fs)
        let slopeHalf = max(1, Int(0.075 * fs))
        func slope(_ i: Int) -> Double {
            let lo = max(0, i - slopeHalf), hi = min(n - 1, i + slopeHalf)
            var m = 0.0
            for k in lo..<hi { m = max(m, abs(bp[k + 1] - bp[k])) }
            return m
        }
        var qrs: [Int] = []
        var lastSlope = 0.0
        var noiseSinceLast: [Int] = []
        var recentRR: [Int] = []

        func accept(_ i: Int, searchBack: Bool) {
            let v = mwi[i]
            if let last = qrs.last {
                recentRR.append(i - last)
                if recentRR.count > 8 { recentRR.removeFirst() }
            }
            qrs.append(i)
            lastSlope = slope(i)
            spki = searchBack ? 0.25 * v + 0.75 * spki : 0.125 * v + 0.875 * spki
            thr1 = npki + 0.25 * (spki - npki)
            noiseSinceLast.removeAll()
        }

        var searchedBackAfter = -1  // search back at most once per gap
        var lastRecovery = 0
        let recoveryGap = Int(2.5 * fs)
        for i in candidates {
            // Search-back: a beat is overdue, take the largest earlier candidate above thr1 / 2.
            if let last = qrs.last, recentRR.count >= 2, searchedBackAfter != last {
                let meanRR = Double(recentRR.reduce(0, +)) / Double(recentRR.count)
                if Double(i - last) > 1.66 * meanRR {
                    searchedBackAfter = last
                    let pool = noiseSinceLast.filter { $0 - last >= refractory && i - $0 >= refractory && mwi[$0] > 0.5 * thr1 }
                    if let best = pool.max(by: { mwi[$0] < mwi[$1] }) { accept(best, searchBack: true) }
                }
            }
            // After 2.5 s without a beat (pause, lead-off, or a large artefact that inflated the
            // signal level) the thresholds are learnt again from the last 2.5 s, so beats are
            // found again once the signal returns.
            if i - max(qrs.last ?? 0, lastRecovery) > recoveryGap {
                let recent = Array(mwi[(i - recoveryGap)..<i])
                spki = recent.max() ?? spki
                npki = median(recent)
                thr1 = npki + 0.25 * (spki - npki)
                lastRecovery = i
                noiseSinceLast.removeAll()
            }
            let v = mwi[i]
            if let last = qrs.last, i - last < refractory { continue }
            if v > thr1 {
                if let last = qrs.last, i - last < tWindow, slope(i) < 0.5 * lastSlope {
                    npki = 0.125 * v + 0.875 * npki  // T wave
                    noiseSinceLast.append(i)
                } else {
                    accept(i, searchBack: false)
                    continue
                }
            } else {
                npki = 0.125 * v + 0.875 * npki
                noiseSinceLast.append(i)
            }
            thr1 = npki + 0.25 * (spki - npki)
        }

        // R peak = largest band-passed deflection near each integrator peak.
        let reach = Int(0.1 * fs)
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

    func analysis(_ peaks: [Int]) -> BeatAnalysis {
        let rr = zip(peaks.dropFirst(), peaks).map { Double($0 - $1) * 1000 / samplingRate }
        var hr: Double? = nil, cv: Double? = nil
        var rhythm = RhythmHint.undetermined
        if !rr.isEmpty {
            let (mu, sd) = meanAndSD(rr)
            hr = 60_000 / mu
            if rr.count >= 2 { cv = sd / mu }
            if rr.count >= 4, let c = cv { rhythm = c < 0.1 ? .regular : .irregular }
        }
        return BeatAnalysis(rPeakIndices: peaks, samplingRate: samplingRate, rrIntervalsMilliseconds: rr,
                            heartRateBpm: hr, rrCoefficientOfVariation: cv, rhythm: rhythm)
    }

    /// Beats of a whole record, found on all its usable leads at once (`MultiLeadQRSDetector`):
    /// the R peaks are placed on the reference lead — II (or Holter "MLII"), then I, V5, V2, then
    /// any usable lead — which is returned with them. Leads flagged flat, lead-off or saturated
    /// take no part. nil when no lead is usable.
    public static func detect(in record: ECGRecord) throws -> (lead: LeadID, beats: BeatAnalysis)? {
        try MultiLeadQRSDetector.detect(in: record).map { ($0.referenceLead, $0.analysis) }
    }
}

