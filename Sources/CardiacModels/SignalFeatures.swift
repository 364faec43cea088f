import Foundation

/// Signal-level features of the prepared 10-s record for the out-of-distribution check (feature
/// set `beat-residual-v1`): what the median beats hide and a synthetic cohort does not reproduce —
/// the residual of every beat after the median beat is subtracted, its roughness, the spread of
/// beat gains, baseline drift the high-pass left, and the spectral slope of each lead.
///
/// Twin of `signal_features` in training/ecg2cmr_train/ood.py (same order, float64 arithmetic);
/// `Tests/CardiacModelsTests/Fixtures/ood-signal-features.json` pins the two together.
public enum OutOfDistributionSignalFeatures {
    public static let featureSet = "beat-residual-v1"
    /// Per lead, in this order (lead-major in the vector).
    public static let names = [
        "beat_residual_log_rms", "beat_residual_roughness", "beat_gain_log_sd", "median_beat_log_rms",
        "median_beat_roughness", "baseline_log_sd", "signal_roughness", "signal_curvature",
    ]
    /// mV: keeps logs finite on flat leads.
    static let epsilon = 1e-4
    /// Gain SD below this is indistinguishable; keeps its log bounded.
    static let gainFloor = 0.01

    /// `values` lead-major `[leads × sampleCount]` (the model's prepared input), `peaks` the R-peak
    /// indices, `medianBeat` lead-major `[leads × (pre + post)]`. nil on a shape mismatch.
    public static func compute(values: [Float], leads: Int, sampleCount: Int, peaks: [Int], medianBeat: [Float],
                               preSamples pre: Int, postSamples post: Int, samplingRate: Double) -> [Double]? {
        let length = pre + post
        guard leads > 0, sampleCount > 1, length > 1, values.count == leads * sampleCount,
              medianBeat.count == leads * length, samplingRate.isFinite, samplingRate > 0 else { return nil }
        let starts = peaks.compactMap { p -> Int? in p - pre >= 0 && p + post <= sampleCount ? p - pre : nil }
        let block = max(1, Int((samplingRate + 0.5).rounded(.down)))
        let blocks = sampleCount / block
        var out: [Double] = []
        out.reserveCapacity(leads * names.count)
        for l in 0..<leads {
            let x = values[(l * sampleCount)..<((l + 1) * sampleCount)].map(Double.init)
            let m = medianBeat[(l * length)..<((l + 1) * length)].map(Double.init)
            var r0 = log(epsilon), r1 = 0.0, g = log(gainFloor)
            if !starts.isEmpty {
                var e2 = 0.0, d2 = 0.0
                var gains: [Double] = []
                gains.reserveCapacity(starts.count)
                let mm = m.reduce(0) { $0 + $1 * $1 }
                for s in starts {
                    var dot = 0.0, prev = 0.0
                    for t in 0..<length {
                        let w = x[s + t]
                        let e = w - m[t]
                        e2 += e * e
                        if t > 0 { d2 += (e - prev) * (e - prev) }
                        prev = e
                        dot += w * m[t]
                    }
                    gains.append(mm > 1e-12 ? dot / mm : 0)
                }
                r0 = logRMS(sumOfSquares: e2, count: starts.count * length)
                r1 = logRMS(sumOfSquares: d2, count: starts.count * (length - 1)) - r0
                let gm = gains.reduce(0, +) / Double(gains.count)
                let gv = gains.reduce(0) { $0 + ($1 - gm) * ($1 - gm) } / Double(gains.count)
                g = log(gv.squareRoot() + gainFloor)
            }
            let b0 = logRMS(m)
            let b1 = logRMS(differences(m)) - b0
            var base = log(epsilon)
            if blocks > 0 {
                var means: [Double] = []
                for k in 0..<blocks { means.append(x[(k * block)..<((k + 1) * block)].reduce(0, +) / Double(block)) }
                let mu = means.reduce(0, +) / Double(blocks)
                base = log((means.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(blocks)).squareRoot() + epsilon)
            }
            let d1 = differences(x)
            let s0 = logRMS(x), s1 = logRMS(d1), s2 = logRMS(differences(d1))
            out.append(contentsOf: [r0, r1, g, b0, b1, base, s1 - s0, s2 - s1])
        }
        return out
    }

    static func differences(_ v: [Double]) -> [Double] {
        v.count < 2 ? [] : (1..<v.count).map { v[$0] - v[$0 - 1] }
    }

    static func logRMS(_ v: [Double]) -> Double {
        logRMS(sumOfSquares: v.reduce(0) { $0 + $1 * $1 }, count: v.count)
    }

    static func logRMS(sumOfSquares: Double, count: Int) -> Double {
        count > 0 ? log((sumOfSquares / Double(count)).squareRoot() + epsilon) : log(epsilon)
    }
}

/// Two one-sided record statistics for the out-of-distribution check (feature set `lead-gain-v1`),
/// each compared with its own limit; larger = less like the synthetic cohort.
///
/// - `qrs_lead_gain_f`: the cohort's simulator draws every beat from one heart vector scaled by
///   one factor per beat, so within the QRS each lead's beat is the median beat times the *same*
///   gain plus noise; in a body the electrical axis turns with breathing and ectopic or aberrant
///   beats change the QRS lead by lead. Per beat and independent lead (I, II, V1–V6) the QRS
///   window (R ± 48 ms) and the median beat's are detrended, then fitted with one gain per lead
///   (residual Rl) and with one gain shared by the leads (Rc), both with one shared time shift
///   (the median beat's derivative). F = [(Rc − Rl)/(B(L − 1))] / [Rl/(B(L(n − 3) − 1))] over the
///   beats, the beat with the largest Rc − Rl left out; ≈ 1 for noise of any level.
/// - `limb_identity_residual`: RMS (mV) of I + III − II and aVR + aVL + aVF — zero for the
///   simulator up to storage rounding.
///
/// Twin of `lead_features` in training/ecg2cmr_train/ood.py (same order, float64 arithmetic);
/// `Tests/CardiacModelsTests/Fixtures/ood-lead-features.json` pins the two together.
public enum OutOfDistributionLeadFeatures {
    /// The newest set; `compute` returns its statistics, a bundle of an older set reads a prefix.
    public static let featureSet = "lead-gain-v2"
    public static let names = ["qrs_lead_gain_f", "limb_identity_residual", "qrs_dower_misfit_snr", "qrs_dower_misfit_fraction"]
    /// Every set this engine computes → its statistics (each a prefix of `names`). v2 adds the
    /// heart-vector subspace statistics, which need the manifest's `heartVectorBasis`.
    public static let featureSets = ["lead-gain-v1": Array(names.prefix(2)), "lead-gain-v2": names]
    /// The statistics that need the manifest's `heartVectorBasis`.
    public static let subspaceStatistics: Set = ["qrs_dower_misfit_snr", "qrs_dower_misfit_fraction"]
    static let qrsHalfSeconds = 0.048
    static let dowerHalfSeconds = 0.060
    /// mV: leads whose detrended median QRS is smaller carry no gain.
    static let qrsMinRMS = 0.05
    /// I, II, V1–V6 of the standard 12 (the other four derive from I and II).
    static let independentLeads = [0, 1, 6, 7, 8, 9, 10, 11]
    /// mV² per degree of freedom: a noise-free record stays finite.
    static let noiseFloor = 1e-8

    /// `values` lead-major `[12 × sampleCount]` in the standard order (the prepared input),
    /// `peaks` the R-peak indices, `medianBeat` lead-major `[12 × beatLength]` with the R peak at
    /// `preSamples`. nil on a shape mismatch; zeros for a record that is not 12-lead.
    /// `heartVectorBasis` [8 × 3] (rows I, II, V1–V6): the subspace of the v2 statistics (0 without it).
    public static func compute(values: [Float], leads: Int, sampleCount: Int, peaks: [Int], medianBeat: [Float],
                               preSamples pre: Int, beatLength: Int, samplingRate: Double,
                               heartVectorBasis: [[Double]]? = nil) -> [Double]? {
        guard leads > 0, sampleCount > 1, beatLength > 1, values.count == leads * sampleCount,
              medianBeat.count == leads * beatLength, samplingRate.isFinite, samplingRate > 0 else { return nil }
        var out = [Double](repeating: 0, count: names.count)
        guard leads == 12 else { return out }
        func x(_ l: Int, _ i: Int) -> Double { Double(values[l * sampleCount + i]) }
        func m(_ l: Int, _ i: Int) -> Double { Double(medianBeat[l * beatLength + i]) }
        let half = Int((qrsHalfSeconds * samplingRate + 0.5).rounded(.down))
        let n = 2 * half + 1
        let detrend = detrender(half: half)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

        if pre - half - 1 >= 0, pre + half + 1 < beatLength {
            var tmpl: [[Double]] = [], deriv: [[Double]] = [], energy: [Double] = [], leadIndex: [Int] = []
            for l in independentLeads {
                let t = detrend((0..<n).map { m(l, pre - half + $0) })
                let e = dot(t, t)
                guard e / Double(n) >= qrsMinRMS * qrsMinRMS else { continue }
                tmpl.append(t)
                deriv.append(detrend((0..<n).map { 0.5 * (m(l, pre - half + 1 + $0) - m(l, pre - half - 1 + $0)) }))
                energy.append(e)
                leadIndex.append(l)
            }
            let centres = peaks.filter { $0 - half >= 0 && $0 + half < sampleCount }
            let lu = leadIndex.count
            if lu >= 2, centres.count >= 3 {
                // The shift regressor with each lead's template projected out (per-lead-gain model).
                let dp = (0..<lu).map { k -> [Double] in
                    let c = dot(deriv[k], tmpl[k]) / energy[k]
                    return (0..<n).map { deriv[k][$0] - c * tmpl[k][$0] }
                }
                let dpp = dp.reduce(0) { $0 + dot($1, $1) }
                let mm = energy.reduce(0, +)
                let md = (0..<lu).reduce(0) { $0 + dot(tmpl[$1], deriv[$1]) }
                let dd = deriv.reduce(0) { $0 + dot($1, $1) }
                let det = mm * dd - md * md
                var num: [Double] = [], res: [Double] = []
                for c in centres {
                    var ss = 0.0, rlw = 0.0, wpd = 0.0, wm = 0.0, wd = 0.0
                    for k in 0..<lu {
                        let w = detrend((0..<n).map { x(leadIndex[k], c - half + $0) })
                        ss += dot(w, w)
                        let a = dot(w, tmpl[k])
                        wm += a
                        wd += dot(w, deriv[k])
                        let wp = (0..<n).map { w[$0] - a / energy[k] * tmpl[k][$0] }
                        rlw += dot(wp, wp)
                        wpd += dot(wp, dp[k])
                    }
                    // per-lead gains + one shared shift (Frisch–Waugh: the shift on what the gains leave)
                    let rl = rlw - (dpp > 1e-12 ? wpd * wpd / dpp : 0)
                    // one shared gain + one shared shift (2 × 2 normal equations)
                    var rc: Double
                    if det > 1e-12 * mm * dd {
                        let g = (dd * wm - md * wd) / det, h = (mm * wd - md * wm) / det
                        rc = ss - g * wm - h * wd
                    } else {
                        rc = ss - wm * wm / mm
                    }
                    num.append(max(rc - rl, 0))
                    res.append(max(rl, 0))
                }
                if num.count >= 4, let worst = num.indices.max(by: { num[$0] < num[$1] }) {
                    num.remove(at: worst)
                    res.remove(at: worst)
                }
                let b = Double(num.count), dof = b * Double(lu * (n - 3) - 1)
                out[0] = (num.reduce(0, +) / (b * Double(lu - 1))) / ((res.reduce(0, +) + noiseFloor * dof) / dof)
            }
        }
        var r2 = 0.0
        for i in 0..<sampleCount {
            let a = x(0, i) + x(2, i) - x(1, i), g = x(3, i) + x(4, i) + x(5, i)
            r2 += a * a + g * g
        }
        out[1] = (r2 / Double(2 * sampleCount)).squareRoot()
        if let heartVectorBasis, let perp = subspaceComplement(heartVectorBasis) {
            let (snr, fraction) = dowerMisfit(x: x, m: m, sampleCount: sampleCount, peaks: peaks, pre: pre,
                                              beatLength: beatLength, samplingRate: samplingRate, perp: perp)
            out[2] = snr
            out[3] = fraction
        }
        return out
    }

    /// Removes intercept and slope from a window of 2·half + 1 samples (projection off the
    /// orthonormal [1, t]): drift and electrode-motion ramps leave both statistics' windows.
    static func detrender(half: Int) -> ([Double]) -> [Double] {
        let n = 2 * half + 1
        let b0 = 1 / Double(n).squareRoot()
        let tt = (0..<n).reduce(0.0) { $0 + Double($1 - half) * Double($1 - half) }
        let b1 = (0..<n).map { Double($0 - half) / tt.squareRoot() }
        return { v in
            var c0 = 0.0, c1 = 0.0
            for i in 0..<n { c0 += v[i] * b0; c1 += v[i] * b1[i] }
            return (0..<n).map { v[$0] - c0 * b0 - c1 * b1[$0] }
        }
    }

    /// Projector [8 × 8] onto what the columns of `basis` [8 × k] do not span (Gram–Schmidt, as
    /// ood.subspace_complement); nil when the basis is not 8 rows of k < 8 independent columns.
    static func subspaceComplement(_ basis: [[Double]]) -> [[Double]]? {
        let rows = independentLeads.count
        guard basis.count == rows, let k = basis.first?.count, k > 0, k < rows,
              basis.allSatisfy({ $0.count == k && $0.allSatisfy(\.isFinite) }) else { return nil }
        var q: [[Double]] = []
        for c in 0..<k {
            var v = basis.map { $0[c] }
            for u in q {
                let d = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
                v = zip(v, u).map { $0 - d * $1 }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 1e-9 else { return nil }
            q.append(v.map { $0 / norm })
        }
        return (0..<rows).map { i in (0..<rows).map { j in (i == j ? 1 : 0) - q.reduce(0) { $0 + $1[i] * $1[j] } } }
    }

    /// (snr, fraction) of the median-beat QRS outside the heart-vector subspace — why and how:
    /// training/ecg2cmr_train/ood.py `dower_misfit` (the simulator's beats lie in one fixed 3-D
    /// subspace of the 8 independent leads; a recorded QRS leaves a lasting part outside it).
    private static func dowerMisfit(x: (Int, Int) -> Double, m: (Int, Int) -> Double, sampleCount: Int, peaks: [Int],
                                    pre: Int, beatLength: Int, samplingRate: Double, perp: [[Double]]) -> (Double, Double) {
        let half = Int((dowerHalfSeconds * samplingRate + 0.5).rounded(.down))
        let n = 2 * half + 1
        guard pre - half >= 0, pre + half < beatLength else { return (0, 0) }
        let detrend = detrender(half: half)
        let rows = independentLeads.count
        // Detrended window [8][n] and its part outside the subspace.
        func outside(_ value: (Int, Int) -> Double, _ start: Int) -> (window: [[Double]], out: [[Double]]) {
            let w = independentLeads.map { l in detrend((0..<n).map { value(l, start + $0) }) }
            let o = (0..<rows).map { r in (0..<n).map { i in (0..<rows).reduce(0.0) { $0 + perp[r][$1] * w[$1][i] } } }
            return (w, o)
        }
        func energy(_ a: [[Double]]) -> Double { a.reduce(0) { $0 + $1.reduce(0) { $0 + $1 * $1 } } }
        let (med, medOut) = outside(m, pre - half)
        let qrsEnergy = energy(med), misfit = energy(medOut)
        var deviations: [Double] = []
        for c in peaks where c - half >= 0 && c + half < sampleCount {
            let o = outside(x, c - half).out
            deviations.append(zip(o, medOut).reduce(0) { acc, pair in
                acc + zip(pair.0, pair.1).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            })
        }
        guard deviations.count >= 3 else { return (0, 0) }
        deviations.sort()
        let k = deviations.count
        let median = k % 2 == 1 ? deviations[k / 2] : 0.5 * (deviations[k / 2 - 1] + deviations[k / 2])
        let noise = Double.pi / 2 * median / Double(k)
        let outsideDimensions = perp.indices.reduce(0.0) { $0 + perp[$1][$1] }.rounded()   // a projector's trace is its rank
        let floor = noiseFloor * Double(n) * outsideDimensions
        return (misfit / (noise + floor), misfit / (qrsEnergy + floor))
    }
}
