import Foundation

/// What the beat-aligned inputs of the ECG encoder are taken from: which leads to detect beats
/// on (first usable one wins) and how many samples each beat window spans around its R peak.
public struct BeatFeatureSpec: Codable, Sendable, Equatable {
    /// Preferred detection leads, in order (lead names as in the prepared input, e.g. "II").
    public var detectionLeads: [String]
    /// Samples before the R peak in a beat window.
    public var preSamples: Int
    /// Samples from the R peak (inclusive) to the end of the window.
    public var postSamples: Int

    public init(detectionLeads: [String] = ["II", "I", "V5", "V2"], preSamples: Int = 64, postSamples: Int = 136) {
        self.detectionLeads = detectionLeads
        self.preSamples = preSamples
        self.postSamples = postSamples
    }

    public static let standard = BeatFeatureSpec()

    /// Window sizes 1…10 000 samples, at least one detection lead.
    public func validate() throws {
        let step = "beatFeatures"
        guard !detectionLeads.isEmpty else {
            throw SignalError.invalidParameter(step: step, parameter: "detectionLeads", reason: "must name at least one lead")
        }
        for (name, value) in [("preSamples", preSamples), ("postSamples", postSamples)] where !(1...10_000).contains(value) {
            throw SignalError.invalidParameter(step: step, parameter: name, reason: "must be 1…10000 (got \(value))")
        }
    }

    public var beatLength: Int { preSamples + postSamples }
}

/// Beat-aligned view of one prepared record: the R peaks, the element-wise median beat of every
/// lead and ten rhythm (RR) features.
public struct BeatFeatures: Sendable, Equatable {
    /// R-peak sample indices on the detection lead, ascending.
    public var rPeakIndices: [Int]
    /// The lead the peaks were detected on; nil when every lead is flat.
    public var detectionLead: String?
    /// Lead-major `[leads × beatLength]` median beats; all zeros when no complete window exists.
    public var medianBeat: [Float]
    public var beatLength: Int
    /// Number of complete beat windows the median was taken over.
    public var beatCount: Int
    /// Rhythm features, named by `rhythmFeatureNames`.
    public var rhythm: [Float]

    /// Order of `rhythm` (RR in seconds). Same names as `RHYTHM_FEATURES` in
    /// training/ecg2cmr_train/beats.py.
    public static let rhythmFeatureNames: [String] = [
        "hr_per_100bpm", "mean_rr_s", "sd_rr_s", "rmssd_s", "cv_rr",
        "min_rr_s", "max_rr_s", "pnn50", "peak_count_per_10", "no_rhythm_flag",
    ]

    public init(rPeakIndices: [Int], detectionLead: String?, medianBeat: [Float], beatLength: Int, beatCount: Int, rhythm: [Float]) {
        self.rPeakIndices = rPeakIndices
        self.detectionLead = detectionLead
        self.medianBeat = medianBeat
        self.beatLength = beatLength
        self.beatCount = beatCount
        self.rhythm = rhythm
    }
}

/// Computes `BeatFeatures` from the prepared model input (e.g. 12 × 2500 at 250 Hz).
///
/// The encoder was trained on features computed by `training/ecg2cmr_train/beats.py`; this is the
/// same algorithm step by step (detector, lead choice, median definition, float64 rhythm maths
/// with sequential sums), and both are pinned to `Tests/SignalKitTests/Fixtures/beat-features.json`.
/// Input comes from files the user opened, so shape and values are checked and reported as
/// `SignalError` rather than trapped on: no force unwraps or unchecked indexing on the input path.
public enum BeatExtractor {
    /// A lead whose largest |sample| is not above this is flat (absent, lead-off).
    static let flatLevel: Float = 1e-6

    /// `rPeaks`: beats already found (e.g. by `MultiLeadQRSDetector` on the whole record) and the
    /// lead they are placed on; nil detects them here on the first usable `spec.detectionLeads`
    /// lead, as the model's training features were computed.
    public static func extract(values: [Float], leadNames: [String], sampleCount: Int, samplingRate: Double,
                               spec: BeatFeatureSpec, rPeaks: (indices: [Int], lead: String)? = nil) throws -> BeatFeatures {
        let step = "beatFeatures"
        try spec.validate()
        let leadCount = leadNames.count
        guard leadCount > 0 else {
            throw SignalError.invalidParameter(step: step, parameter: "leadNames", reason: "must name at least one lead")
        }
        guard sampleCount > 0 else {
            throw SignalError.invalidParameter(step: step, parameter: "sampleCount", reason: "must be positive (got \(sampleCount))")
        }
        let (expected, overflow) = leadCount.multipliedReportingOverflow(by: sampleCount)
        guard !overflow, values.count == expected else {
            throw SignalError.invalidParameter(step: step, parameter: "values",
                                               reason: "has \(values.count) samples, expected \(leadCount) leads × \(sampleCount)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw SignalError.nonFiniteSample(step: step, lead: leadNames[bad / sampleCount], index: bad % sampleCount)
        }
        let detector = try RPeakDetector(samplingRate: samplingRate)
        let n = sampleCount
        func lead(_ k: Int) -> ArraySlice<Float> { values[(k * n)..<((k + 1) * n)] }
        let level = (0..<leadCount).map { k in lead(k).reduce(Float(0)) { max($0, abs($1)) } }

        var chosen: Int? = nil
        var peaks: [Int] = []
        var detectionLead: String? = nil
        if let given = rPeaks {
            peaks = given.indices.filter { $0 >= 0 && $0 < n }
            detectionLead = given.lead
        } else {
            for want in spec.detectionLeads {
                if let k = leadNames.firstIndex(of: want), level[k] > flatLevel { chosen = k; break }
            }
            if chosen == nil { chosen = level.firstIndex { $0 > flatLevel } }
            if let k = chosen {
                peaks = try detector.detect(Array(lead(k))).rPeakIndices
                detectionLead = leadNames[k]
            }
        }

        let pre = spec.preSamples, post = spec.postSamples, length = spec.beatLength
        let starts = peaks.filter { $0 - pre >= 0 && $0 + post <= n }.map { $0 - pre }
        var medianBeat = [Float](repeating: 0, count: leadCount * length)
        if !starts.isEmpty {
            let count = starts.count, m = count / 2
            var column = [Float](repeating: 0, count: count)
            for k in 0..<leadCount {
                for t in 0..<length {
                    for (b, s) in starts.enumerated() { column[b] = values[k * n + s + t] }
                    column.sort()
                    medianBeat[k * length + t] = count % 2 == 1 ? column[m] : (column[m - 1] + column[m]) * 0.5
                }
            }
        }
        return BeatFeatures(rPeakIndices: peaks, detectionLead: detectionLead, medianBeat: medianBeat,
                            beatLength: length, beatCount: starts.count, rhythm: rhythmFeatures(peaks, samplingRate: samplingRate))
    }

    /// The ten rhythm features, computed in Double with sequential sums and stored as Float.
    static func rhythmFeatures(_ peaks: [Int], samplingRate fs: Double) -> [Float] {
        var out = [Double](repeating: 0, count: BeatFeatures.rhythmFeatureNames.count)
        out[8] = Double(peaks.count) / 10
        guard peaks.count >= 2 else {
            out[9] = 1
            return out.map { Float($0) }
        }
        let rr = zip(peaks.dropFirst(), peaks).map { Double($0 - $1) / fs }
        var total = 0.0
        for v in rr { total += v }
        let mean = total / Double(rr.count)
        var acc = 0.0
        for v in rr { acc += (v - mean) * (v - mean) }
        let sd = (acc / Double(rr.count)).squareRoot()
        var rmssd = 0.0, pnn50 = 0.0
        if rr.count >= 2 {
            let dd = zip(rr.dropFirst(), rr).map { $0 - $1 }
            var sq = 0.0, big = 0
            for v in dd {
                sq += v * v
                if abs(v) > 0.05 { big += 1 }
            }
            rmssd = (sq / Double(dd.count)).squareRoot()
            pnn50 = Double(big) / Double(dd.count)
        }
        out[0] = 60 / mean / 100
        out[1] = mean
        out[2] = sd
        out[3] = rmssd
        out[4] = sd / mean
        out[5] = rr.min() ?? 0
        out[6] = rr.max() ?? 0
        out[7] = pnn50
        out[9] = 0
        return out.map { Float($0) }
    }
}
