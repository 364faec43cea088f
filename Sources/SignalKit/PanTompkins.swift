import Foundation

/// The parts of Pan & Tompkins (1985) that the single-lead `RPeakDetector` (the model's beat
/// features, mirrored in training/ecg2cmr_train/beats.py) and the `MultiLeadQRSDetector` (rate,
/// rhythm and measurements) share. Each detector builds its own energy signal and places its own
/// R peaks; the envelope, the candidates and the decision rules are these, once.
enum PanTompkins {
    /// The 5–15 Hz QRS band-pass both detectors start from.
    static func bandpass(samplingRate: Double) throws -> ButterworthFilter {
        guard samplingRate.isFinite, samplingRate >= 40, samplingRate <= 20_000 else {
            throw SignalError.invalidParameter(step: "rPeaks", parameter: "samplingRate", reason: "must be 40…20000 Hz (got \(samplingRate))")
        }
        return try ButterworthFilter(order: 2, band: .bandpass(lowHz: 5, highHz: 15), samplingRate: samplingRate)
    }

    /// The five-point derivative of a band-passed signal, squared.
    static func squaredSlope(_ bp: [Double]) -> [Double] {
        let n = bp.count
        var sq = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let d = (bp[min(i + 2, n - 1)] + 2 * bp[min(i + 1, n - 1)] - 2 * bp[max(i - 1, 0)] - bp[max(i - 2, 0)]) / 8
            sq[i] = d * d
        }
        return sq
    }

    /// The 150 ms moving-window integral, centred so that its peaks stay aligned with the QRS.
    static func integrate(_ x: [Double], samplingRate fs: Double) -> [Double] {
        let n = x.count
        let w = max(1, Int(0.15 * fs))
        var mwi = [Double](repeating: 0, count: n)
        var running = 0.0
        let halfW = w / 2
        for i in 0..<(n + halfW) {
            if i < n { running += x[i] }
            if i - w >= 0 && i - w < n { running -= x[i - w] }
            let centre = i - halfW
            if centre >= 0 && centre < n { mwi[centre] = max(running, 0) / Double(w) }
        }
        return mwi
    }

    /// The decision rules on the integral `mwi`, over its local maxima: signal and noise levels
    /// learnt on the first `learnSamples` (typical beat energy = median of the maxima of
    /// `blockSamples`-long blocks, background = median), a 200 ms refractory period, T-wave
    /// rejection (a candidate within `tWaveWindow(mean recent RR)` samples of the last beat whose
    /// `slope` is under half the last beat's), search-back at half the threshold after 1.66 mean
    /// RR, and levels learnt again from the last 2.5 s after 2.5 s without a beat (a pause,
    /// lead-off, or an artefact that inflated them). Returns the accepted integrator peaks.
    ///
    /// `levels`, when given, replaces the learnt start (signal, noise) — the multi-lead detector's
    /// second pass starts from the levels its first pass ended with — and `finalLevels` receives
    /// the levels at the end.
    static func decide(mwi: [Double], samplingRate fs: Double, learnSamples: Int, blockSamples: Int,
                       slope: (Int) -> Double, tWaveWindow: (_ meanRR: Double?) -> Int,
                       levels: (signal: Double, noise: Double)? = nil,
                       finalLevels: ((signal: Double, noise: Double)) -> Void = { _ in }) -> [Int] {
        let n = mwi.count
        guard n >= 3 else { return [] }
        var candidates: [Int] = []
        for i in 1..<(n - 1) where mwi[i] > mwi[i - 1] && mwi[i] >= mwi[i + 1] { candidates.append(i) }
        guard !candidates.isEmpty else { return [] }

        let learn = min(n, learnSamples)
        var blockMax: [Double] = []
        var s = 0
        while s < learn {
            let e = min(s + blockSamples, learn)
            blockMax.append(mwi[s..<e].max() ?? 0)
            s = e
        }
        var spki = levels?.signal ?? median(blockMax)
        var npki = levels?.noise ?? median(Array(mwi[0..<learn]))
        guard spki > 0 else { return [] }
        defer { finalLevels((spki, npki)) }
        var thr1 = npki + 0.25 * (spki - npki)

        let refractory = Int(0.2 * fs)
        var qrs: [Int] = []
        var lastSlope = 0.0
        var noiseSinceLast: [Int] = []
        var recentRR: [Int] = []
        func meanRR() -> Double? { recentRR.count >= 2 ? Double(recentRR.reduce(0, +)) / Double(recentRR.count) : nil }

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
            if let last = qrs.last, let rr = meanRR(), searchedBackAfter != last, Double(i - last) > 1.66 * rr {
                searchedBackAfter = last
                let pool = noiseSinceLast.filter { $0 - last >= refractory && i - $0 >= refractory && mwi[$0] > 0.5 * thr1 }
                if let best = pool.max(by: { mwi[$0] < mwi[$1] }) { accept(best, searchBack: true) }
            }
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
                if let last = qrs.last, i - last < tWaveWindow(meanRR()), slope(i) < 0.5 * lastSlope {
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
        return qrs
    }
}

extension BeatAnalysis {
    /// Rate, RR variability and the rhythm hint of R peaks found at `samplingRate`.
    init(rPeaks peaks: [Int], samplingRate: Double) {
        let rr = zip(peaks.dropFirst(), peaks).map { Double($0 - $1) * 1000 / samplingRate }
        var hr: Double? = nil, cv: Double? = nil
        var rhythm = RhythmHint.undetermined
        if !rr.isEmpty {
            let (mu, sd) = meanAndSD(rr)
            hr = 60_000 / mu
            if rr.count >= 2 { cv = sd / mu }
            if rr.count >= 4, let c = cv { rhythm = c < 0.1 ? .regular : .irregular }
        }
        self.init(rPeakIndices: peaks, samplingRate: samplingRate, rrIntervalsMilliseconds: rr,
                  heartRateBpm: hr, rrCoefficientOfVariation: cv, rhythm: rhythm)
    }
}
