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
