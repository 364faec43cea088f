import ECGFormats
import Foundation

/// Why global measurements could not be made at all. (Single values that cannot be measured —
/// no P wave, no T end — are `nil` in `GlobalMeasurements` instead.)
public enum MeasurementError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The sampling rate is outside what the delineation supports.
    case unsupportedSamplingRate(Double)
    /// No lead is free of flat-line, lead-off or saturation flags.
    case noUsableLead
    /// Fewer complete beats than a representative beat needs.
    case tooFewBeats(found: Int, needed: Int)
    /// Fewer complete beats free of missing samples than a representative beat needs.
    case tooFewBeatsAroundGaps(found: Int, needed: Int, gaps: String)

    public var description: String {
        switch self {
        case .unsupportedSamplingRate(let fs):
            return "measurements: sampling rate \(fs) Hz is outside 100…10000 Hz"
        case .noUsableLead:
            return "measurements: no usable lead (every lead is flat, off or saturated)"
        case let .tooFewBeats(found, needed):
            return "measurements: \(found) complete beat(s) found, at least \(needed) needed"
        case let .tooFewBeatsAroundGaps(found, needed, gaps):
            return "measurements: \(found) complete beat(s) free of missing samples, at least \(needed) needed (\(gaps))"
        }
    }
}

/// Global fiducial points of the representative beat, in milliseconds relative to its R peak.
public struct BeatFiducials: Codable, Sendable, Equatable {
    public var pOnsetMs: Double?
    public var pOffsetMs: Double?
    public var qrsOnsetMs: Double
    public var qrsOffsetMs: Double
    public var tOffsetMs: Double?
}

/// The representative (median) beat of every measured lead, as the measurer conditioned it
/// (0.5–40 Hz): the waveform the fiducials were found on, for a reader to check them against.
public struct RepresentativeBeats: Sendable, Equatable {
    public var samplingRate: Double
    /// Sample index of the R peak in every beat; `BeatFiducials` are in ms relative to it.
    public var rIndex: Int
    public var leads: [String]
    /// One beat per lead, in mV, all of the same length.
    public var millivolts: [[Float]]

    /// The beat of `lead` (its name as the file gives it, e.g. "II" or "MLII"), nil when not measured.
    public func beat(_ lead: String) -> [Float]? { leads.firstIndex(of: lead).map { millivolts[$0] } }
    /// Milliseconds from the R peak of sample `i`.
    public func milliseconds(at i: Int) -> Double { Double(i - rIndex) * 1000 / samplingRate }
}

/// A stretch of missing samples (NaN: a gap in the file) in one stored lead, which the
/// measurements were made around. Seconds from the start of the measured record (for a window of
/// a long record: of the window).
public struct SampleGap: Codable, Sendable, Equatable {
    public var lead: String
    public var startSeconds: Double
    public var durationSeconds: Double

    public init(lead: String, startSeconds: Double, durationSeconds: Double) {
        self.lead = lead
        self.startSeconds = startSeconds
        self.durationSeconds = durationSeconds
    }

    /// The gaps of `leads` (nil: every stored lead) of `record`, lead by lead.
    public static func find(in record: ECGRecord, leads: Set<LeadID>? = nil) -> [SampleGap] {
        let fs = record.samplingRate
        return record.leads.filter { !$0.isDerived && (leads?.contains($0.id) ?? true) }.flatMap { lead in
            FiniteRuns.gaps(in: lead.millivolts).map {
                SampleGap(lead: lead.id.description, startSeconds: Double($0.lowerBound) / fs, durationSeconds: Double($0.count) / fs)
            }
        }
    }

    /// The gaps in words: "a 0.40 s gap in V2 at 4.00 s", "a 0.40 s gap in every lead at 4.00 s"
    /// (`leadCount`: how many leads were looked at), or "3 gaps (1.10 s) in I, V3". A gap at the
    /// same samples in several leads counts once. nil without gaps.
    public static func describe(_ gaps: [SampleGap], leadCount: Int) -> String? {
        guard !gaps.isEmpty else { return nil }
        func s(_ x: Double) -> String { String(format: "%.2f s", x) }
        var spans: [SampleGap] = [], leads: [String] = []
        for g in gaps {
            if !leads.contains(g.lead) { leads.append(g.lead) }
            if !spans.contains(where: { $0.startSeconds == g.startSeconds && $0.durationSeconds == g.durationSeconds }) { spans.append(g) }
        }
        let shown = leads.count == leadCount && leadCount > 1 ? "every lead"
            : leads.prefix(4).joined(separator: ", ") + (leads.count > 4 ? " +\(leads.count - 4) more" : "")
        if spans.count == 1 { return "a \(s(spans[0].durationSeconds)) gap in \(shown) at \(s(spans[0].startSeconds))" }
        return "\(spans.count) gaps (\(s(spans.reduce(0) { $0 + $1.durationSeconds }))) in \(shown)"
    }

    /// What every front end says about the gaps the measurements were made around (it is
    /// `summary.note`): "measured around " + `describe`.
    public static func statement(_ gaps: [SampleGap], leadCount: Int) -> String? {
        describe(gaps, leadCount: leadCount).map { "measured around " + $0 }
    }
}

/// ecg2cmr's global measurements of one record (see `GlobalMeasurer` for the algorithm): the
/// interval, axis and rate values in their contract form (`summary`, source "ecg2cmr"; read as
/// `m.qrsMs`, `m.pAxisDeg`, …) plus what only the measurer knows.
@dynamicMemberLookup
public struct GlobalMeasurements: Sendable, Equatable {
    /// The form used by `info --json`, screening results, the TUI header and the report.
    public var summary: IntervalMeasurements
    public var fiducials: BeatFiducials?
    public var leads: [LeadAmplitudes]
    /// Beats the representative beat is the median of.
    public var beatCount: Int
    /// Lead the R peaks were detected on.
    public var detectionLead: String
    /// The median beats the fiducials were placed on.
    public var beats: RepresentativeBeats?
    /// Missing samples in the measured leads: no beat that touches one is in the median, and no RR
    /// interval that spans one is in the rate. Stated in `summary.note`.
    public var gaps: [SampleGap] = []

    public subscript<T>(dynamicMember field: WritableKeyPath<IntervalMeasurements, T>) -> T {
        get { summary[keyPath: field] }
        set { summary[keyPath: field] = newValue }
    }
}

/// Global measurements from a representative (median) beat, after the global-measurement approach of
/// GE 12SL and the Glasgow program: one representative beat per lead, wave boundaries found on every
/// lead, and global boundaries taken across leads (earliest onset, latest offset) with a robust rule.
///
/// 1. **Conditioning** (copies, the record is not changed): every usable lead is band-limited with a
///    zero-phase Butterworth high-pass at 0.5 Hz and low-pass at 40 Hz (order 2 each, run forward and
///    backward), which removes baseline wander, mains hum and most muscle noise without shifting
///    any wave.
/// 2. **Beats**: R peaks by `MultiLeadQRSDetector` on all usable leads (placed on II, MLII, I, V5,
///    V2, … — the first usable), then the
///    element-wise median beat of every lead by `BeatExtractor` at the record's own rate, in a window
///    of min(0.5 s, 0.6·RR) before and min(0.8 s, 0.9·RR) after R (RR = median RR).
/// 3. **QRS**: on each lead's median beat (8 ms moving average) the absolute slope |dx/dt|; the
///    threshold is 5 % of the largest QRS slope over all leads. A lead's QRS onset is where, walking
///    back from its steepest QRS point, the slope stays below the threshold for 8 ms; its offset is
///    the same walking forward. Leads whose steepest QRS slope is under 4× the threshold take no
///    part. Global onset = the 2nd-earliest lead onset and global offset = the 2nd-latest lead offset
///    (the earliest/latest with fewer than 4 leads), so one noisy lead cannot lead the result.
/// 4. **T end**: the isoelectric level of each lead is the mean of the 10 ms before QRS onset. Per
///    lead (20 ms smoothed beat), the T peak is the largest deviation from it between J + 80 ms and
///    min(R + 0.75·RR, the window's end); walking forward from the steepest down-slope after it,
///    the T ends where the slope stays below 30 % of that steepest slope for 10 ms. Global T end =
///    2nd-latest over leads with a T of ≥ 30 % of the largest (and ≥ 50 µV).
/// 5. **P wave**: searched from 20 ms after the previous beat's T end (at most 0.45 s or 0.55·RR
///    before R) to 30 ms before QRS onset; the P peak of each lead is its largest deviation from
///    the isoelectric level, and must reach 30 µV in some lead. Lead P onset: walking back from the
///    steepest slope before the peak until the slope stays below 40 % of it for 10 ms (offset: 35 %,
///    forward); global P onset = 2nd-earliest over the leads with a P of ≥ 50 % of the largest.
///    The P wave counts only when reproducible beat to beat: in those leads, the median beat's
///    energy over the P wave is at least the beats' residual energy around it (atrial
///    fibrillation's f waves are not time-locked and fail this), else PR and P axis are null.
/// 6. **Intervals**: PR = QRS onset − P onset; QRS = offset − onset; QT = T end − QRS onset;
///    QTc Bazett = QT/√RR and Fridericia = QT/∛RR with RR the mean RR in seconds (60/HR).
/// 7. **Axes** (frontal plane): net area (baseline-corrected integral) of the wave in leads I and
///    aVF — P from P onset to offset, QRS from onset to offset, T from QRS offset to T end — with
///    Einthoven's equilateral triangle: I = E·cos θ, aVF = E·(√3/2)·sin θ, so
///    θ = atan2(2·aVF/√3, I), reported in −89…+270° (GE 12SL's range). aVF is derived from I and II when not stored.
/// 8. **Amplitudes** per lead relative to the isoelectric level: P (signed extreme in P), Q (most
///    negative before the R peak), R (most positive in QRS), S (most negative after the R peak),
///    T (signed extreme between J + 40 ms and T end), ST at J + 60 ms.
public enum GlobalMeasurer {
    public static let minimumBeats = 2

    /// `measure`, with the failure as a note (what the report and `info` say instead of values).
    public static func attempt(_ record: ECGRecord) -> (measurements: GlobalMeasurements?, note: String?) {
        do { return (try measure(record), nil) } catch { return (nil, "\(error)") }
    }

    public static func measure(_ record: ECGRecord) throws -> GlobalMeasurements {
        let fs = record.samplingRate
        guard fs.isFinite, fs >= 100, fs <= 10_000 else { throw MeasurementError.unsupportedSamplingRate(fs) }
        guard let detected = try RPeakDetector.detect(in: record) else { throw MeasurementError.noUsableLead }

        // Missing samples (NaN) are gaps, measured around: stated for the usable stored leads.
        let assessor = try LeadQualityAssessor(samplingRate: fs)
        let usable = record.leads.filter { lead in !assessor.assess(lead.millivolts).contains { $0.makesLeadUnusable } }
        guard !usable.isEmpty else { throw MeasurementError.noUsableLead }
        let n = record.sampleCount
        for lead in usable where lead.millivolts.count != n {
            throw SignalError.leadLengthMismatch(lead: lead.id.description, expected: n, got: lead.millivolts.count)
        }
        let stored = usable.filter { !$0.isDerived }
        let gaps = SampleGap.find(in: record, leads: Set(stored.map(\.id)))
        let gapStatement = SampleGap.statement(gaps, leadCount: stored.count)
        func tooFew(_ found: Int) -> MeasurementError {
            gapStatement.map { .tooFewBeatsAroundGaps(found: found, needed: minimumBeats, gaps: $0) }
                ?? .tooFewBeats(found: found, needed: minimumBeats)
        }
        /// Prefix counts of samples missing in any of `leads`: a window [a, b) is gap-free when
        /// `p[b] - p[a] == 0`.
        func missingPrefix(_ leads: [[Float]]) -> [Int] {
            var p = [Int](repeating: 0, count: n + 1)
            for t in 0..<n { p[t + 1] = p[t] + (leads.contains { !$0[t].isFinite } ? 1 : 0) }
            return p
        }

        // Rate from the RR intervals that span no gap (the detector leaves those out).
        let peaks = detected.beats.rPeakIndices
        let rr = detected.beats.rrIntervalsMilliseconds
        let heartRate = detected.beats.heartRateBpm
        guard rr.count + 1 >= minimumBeats, let heartRate else { throw tooFew(gaps.isEmpty ? peaks.count : min(peaks.count, rr.count + 1)) }
        let medianRRs = median(rr) / 1000
        let meanRRs = 60 / heartRate

        // 1. Conditioning of the usable leads (stored or derived, every name the file has); each
        //    finite run of a lead with gaps is filtered on its own, so a gap never spreads.
        let highpass = try ButterworthFilter(order: 2, band: .highpass(cutoffHz: 0.5), samplingRate: fs)
        let lowpass = try ButterworthFilter(order: 2, band: .lowpass(cutoffHz: min(40, 0.45 * fs)), samplingRate: fs)
        var conditioned: [[Float]] = []
        for lead in usable {
            conditioned.append(try FiniteRuns.map(lead.millivolts) { try lowpass.filtfilt(try highpass.filtfilt($0)) })
        }
        let names = usable.map(\.id.description)

        // 2. Median beats at the record's rate, of the beats whose window touches no gap.
        let pre = max(1, Int((min(0.5, 0.6 * medianRRs) * fs).rounded()))
        let post = max(1, Int((min(0.8, 0.9 * medianRRs) * fs).rounded()))
        var beatPeaks = peaks
        if !gaps.isEmpty {
            let missing = missingPrefix(conditioned)
            beatPeaks = peaks.filter { $0 - pre >= 0 && $0 + post <= n && missing[$0 + post] - missing[$0 - pre] == 0 }
            // What is left missing lies outside every beat taken: a value the median never sees.
            for k in conditioned.indices { for t in 0..<n where !conditioned[k][t].isFinite { conditioned[k][t] = 0 } }
        }
        let values = conditioned.flatMap { $0 }
        let spec = BeatFeatureSpec(detectionLeads: [detected.lead.description, "II", "MLII", "I", "V5", "V2"],
                                   preSamples: pre, postSamples: post)
        let features = try BeatExtractor.extract(values: values, leadNames: names, sampleCount: n, samplingRate: fs, spec: spec,
                                                 rPeaks: (beatPeaks, detected.lead.description))
        guard features.beatCount >= minimumBeats else { throw tooFew(features.beatCount) }
        let length = features.beatLength
        let beats: [[Double]] = (0..<names.count).map { k in
            features.medianBeat[(k * length)..<((k + 1) * length)].map(Double.init)
        }
        let starts = features.rPeakIndices.filter { $0 - pre >= 0 && $0 + post <= n }.map { $0 - pre }
        let d = Delineator(fs: fs, r: pre, length: length)

        // 3. QRS onset and offset.
        guard let qrs = d.qrs(beats) else {
            throw MeasurementError.tooFewBeats(found: features.beatCount, needed: minimumBeats)
        }
        let baselines = beats.map { d.level(of: $0, before: qrs.onset) }

        // 4. T end (before the P wave: the previous beat's T end bounds the P search).
        let tFrom = qrs.offset + Int(0.08 * fs)
        let tTo = min(length - 1, pre + Int(0.75 * meanRRs * fs))
        let tEnd = tTo - tFrom > Int(0.06 * fs) ? d.tEnd(beats, baselines: baselines, range: tFrom..<tTo) : nil

        // 5. P wave (only when reproducible beat to beat), after the previous beat's T.
        var pStart = max(0, pre - Int(min(0.45, 0.55 * medianRRs) * fs))
        if let tEnd { pStart = max(pStart, tEnd - Int(medianRRs * fs) + Int(0.02 * fs)) }
        let pEnd = qrs.onset - Int(0.03 * fs)
        var p: (onset: Int, offset: Int)? = nil
        if pEnd - pStart > Int(0.04 * fs), let found = d.pWave(beats, baselines: baselines, range: pStart..<pEnd),
           d.isReproducible(values: values, starts: starts, n: n, beats: beats, baselines: baselines,
                            leads: found.leads, range: found.onset..<(found.offset + 1)) {
            p = (found.onset, found.offset)
        }

        // 6. Intervals.
        func ms(_ samples: Int) -> Double { Double(samples) * 1000 / fs }
        var m = GlobalMeasurements(summary: IntervalMeasurements(heartRateBpm: heartRate, source: "ecg2cmr", note: gapStatement),
                                   leads: [], beatCount: features.beatCount, detectionLead: detected.lead.description)
        m.gaps = gaps
        m.qrsMs = ms(qrs.offset - qrs.onset)
        if let p { m.prMs = ms(qrs.onset - p.onset) }
        if let tEnd {
            let qt = ms(tEnd - qrs.onset)
            m.qtMs = qt
            m.qtcBazettMs = qt / meanRRs.squareRoot()
            m.qtcFridericiaMs = qt / cbrt(meanRRs)
        }
        m.beats = RepresentativeBeats(samplingRate: fs, rIndex: pre, leads: names, millivolts: beats.map { $0.map(Float.init) })
        m.fiducials = BeatFiducials(pOnsetMs: p.map { ms($0.onset - pre) }, pOffsetMs: p.map { ms($0.offset - pre) },
                                    qrsOnsetMs: ms(qrs.onset - pre), qrsOffsetMs: ms(qrs.offset - pre),
                                    tOffsetMs: tEnd.map { ms($0 - pre) })

        // 7. Axes from leads I and aVF (aVF derived from I and II when the record has no aVF).
        let leadI = names.firstIndex(of: "I").map { beats[$0] }
        var leadAVF = names.firstIndex(of: "aVF").map { beats[$0] }
        if leadAVF == nil, let i = leadI, let k = names.firstIndex(of: "II") { leadAVF = LimbLeads.derive(.aVF, i: i, ii: beats[k]) }
        if let i = leadI, let f = leadAVF {
            let bi = d.level(of: i, before: qrs.onset), bf = d.level(of: f, before: qrs.onset)
            func axis(_ range: Range<Int>) -> Double? {
                guard range.count > 1 else { return nil }
                let ai = range.reduce(0.0) { $0 + i[$1] - bi }, af = range.reduce(0.0) { $0 + f[$1] - bf }
                guard abs(ai) + abs(af) > 1e-9 else { return nil }
                var deg = atan2(2 * af / 3.0.squareRoot(), ai) * 180 / Double.pi
                if deg <= -90 { deg += 360 }
                return deg
            }
            m.qrsAxisDeg = axis(qrs.onset..<(qrs.offset + 1))
            if let p { m.pAxisDeg = axis(p.onset..<(p.offset + 1)) }
            if let tEnd { m.tAxisDeg = axis(qrs.offset..<(tEnd + 1)) }
        }

        // 8. Per-lead amplitudes.
        let j60 = qrs.offset + Int(0.06 * fs)
        let tLo = qrs.offset + Int(0.04 * fs)
        for (k, name) in names.enumerated() {
            let x = beats[k], b = baselines[k]
            let span = qrs.onset...qrs.offset
            var rIndex = qrs.onset, rValue = -Double.infinity
            for t in span where x[t] - b > rValue { rValue = x[t] - b; rIndex = t }
            let rAmp = max(0, rValue)
            let qAmp = min(0, (qrs.onset...rIndex).map { x[$0] - b }.min() ?? 0)
            let sAmp = min(0, (rIndex...qrs.offset).map { x[$0] - b }.min() ?? 0)
            func extreme(_ range: ClosedRange<Int>) -> Double? {
                guard range.lowerBound >= 0, range.upperBound < length else { return nil }
                return range.map { x[$0] - b }.max { abs($0) < abs($1) }
            }
            let pAmp = p.flatMap { extreme($0.onset...$0.offset) }
            let tAmp = tEnd.flatMap { $0 > tLo ? extreme(tLo...$0) : nil }
            let st = j60 < length ? x[j60] - b : nil
            m.leads.append(LeadAmplitudes(lead: name, pMv: pAmp, qMv: qAmp, rMv: rAmp, sMv: sAmp, tMv: tAmp, stMv: st))
        }
        return m
    }
}

/// Wave delineation on the median beats of one record (indices are samples of the beat window).
struct Delineator {
    let fs: Double
    /// R-peak index in the beat window.
    let r: Int
    let length: Int

    func samples(_ seconds: Double) -> Int { max(1, Int((seconds * fs).rounded())) }

    /// Centred moving average over `seconds`.
    func smooth(_ x: [Double], _ seconds: Double) -> [Double] {
        let half = max(0, samples(seconds) / 2)
        guard half > 0, x.count > 1 else { return x }
        var prefix = [Double](repeating: 0, count: x.count + 1)
        for (i, v) in x.enumerated() { prefix[i + 1] = prefix[i] + v }
        return (0..<x.count).map { i in
            let lo = max(0, i - half), hi = min(x.count - 1, i + half)
            return (prefix[hi + 1] - prefix[lo]) / Double(hi - lo + 1)
        }
    }

    /// |dx/dt| in mV/s (central difference).
    func slope(_ x: [Double]) -> [Double] {
        guard x.count > 2 else { return [Double](repeating: 0, count: x.count) }
        var s = [Double](repeating: 0, count: x.count)
        for i in 1..<(x.count - 1) { s[i] = abs(x[i + 1] - x[i - 1]) * fs / 2 }
        s[0] = s[1]
        s[x.count - 1] = s[x.count - 2]
        return s
    }

    /// Walks from `from` in `step` (−1 or +1) until `s` stays below `threshold` for `quiet` samples
    /// within `limit`; returns the first quiet sample (the wave boundary), or the limit.
    func walk(_ s: [Double], from: Int, step: Int, threshold: Double, quiet: Int, limit: Int) -> Int {
        var i = from, run = 0, boundary = from
        while step < 0 ? i > limit : i < limit {
            i += step
            if s[i] < threshold {
                if run == 0 { boundary = i }
                run += 1
                if run >= quiet { return boundary }
            } else {
                run = 0
            }
        }
        return run > 0 ? boundary : limit
    }

    /// The k-th smallest (k = 2 with ≥ 4 values, else 1): the robust earliest.
    func robustEarliest(_ v: [Int]) -> Int? {
        let s = v.sorted()
        guard !s.isEmpty else { return nil }
        return s.count >= 4 ? s[1] : s[0]
    }

    func robustLatest(_ v: [Int]) -> Int? {
        let s = v.sorted(by: >)
        guard !s.isEmpty else { return nil }
        return s.count >= 4 ? s[1] : s[0]
    }

    func qrs(_ beats: [[Double]]) -> (onset: Int, offset: Int)? {
        let lo = max(1, r - samples(0.15)), hi = min(length - 2, r + samples(0.2))
        let core = max(lo, r - samples(0.06))...min(hi, r + samples(0.1))
        guard lo < hi, core.lowerBound <= core.upperBound else { return nil }
        let slopes = beats.map { slope(smooth($0, 0.008)) }
        let peaks = slopes.map { s -> (Int, Double) in
            var best = core.lowerBound
            for t in core where s[t] > s[best] { best = t }
            return (best, s[best])
        }
        guard let top = peaks.map(\.1).max(), top > 0 else { return nil }
        let threshold = 0.05 * top
        let quiet = samples(0.008)
        var onsets: [Int] = [], offsets: [Int] = []
        for (k, s) in slopes.enumerated() where peaks[k].1 >= 4 * threshold {
            onsets.append(walk(s, from: peaks[k].0, step: -1, threshold: threshold, quiet: quiet, limit: lo))
            offsets.append(walk(s, from: peaks[k].0, step: 1, threshold: threshold, quiet: quiet, limit: hi))
        }
        guard let on = robustEarliest(onsets), let off = robustLatest(offsets), off > on else { return nil }
        return (on, off)
    }

    /// Mean of the 10 ms before `index`.
    func level(of x: [Double], before index: Int) -> Double {
        let hi = max(1, min(index, x.count)), lo = max(0, hi - samples(0.01))
        return x[lo..<hi].reduce(0, +) / Double(hi - lo)
    }

    /// True when the median beat's energy over the P wave (in the leads the P was delineated on) is
    /// at least the beats' residual energy around the median there: atrial activity locked to the
    /// QRS (P waves), not fibrillatory waves. With fewer than 3 beats, true.
    func isReproducible(values: [Float], starts: [Int], n: Int, beats: [[Double]], baselines: [Double],
                        leads: [Int], range: Range<Int>) -> Bool {
        guard starts.count >= 3, range.count > 1 else { return true }
        var signal = 0.0, residual = 0.0
        for k in leads {
            let beat = beats[k]
            for t in range {
                let m = beat[t] - baselines[k]
                signal += m * m
            }
            for s in starts {
                let base = k * n + s
                var mean = 0.0
                for t in range { mean += Double(values[base + t]) - beat[t] }
                mean /= Double(range.count)  // each beat's own offset is not atrial activity
                for t in range {
                    let e = Double(values[base + t]) - beat[t] - mean
                    residual += e * e
                }
            }
        }
        residual /= Double(starts.count)
        return signal >= residual
    }

    /// Each lead's median beat smoothed over 20 ms, and its largest deflection from baseline in
    /// `range` (where P and T waves are delineated from).
    func wavePeaks(_ beats: [[Double]], baselines: [Double], range: Range<Int>)
        -> (smoothed: [[Double]], peaks: [(k: Int, t: Int, amp: Double)]) {
        let smoothed = beats.map { smooth($0, 0.02) }
        var peaks: [(k: Int, t: Int, amp: Double)] = []
        for (k, x) in smoothed.enumerated() {
            var best = range.lowerBound
            for t in range where abs(x[t] - baselines[k]) > abs(x[best] - baselines[k]) { best = t }
            peaks.append((k, best, abs(x[best] - baselines[k])))
        }
        return (smoothed, peaks)
    }

    func pWave(_ beats: [[Double]], baselines: [Double], range: Range<Int>) -> (onset: Int, offset: Int, leads: [Int])? {
        let (smoothed, peaks) = wavePeaks(beats, baselines: baselines, range: range)
        guard let top = peaks.map(\.amp).max(), top >= 0.03 else { return nil }
        var onsets: [Int] = [], offsets: [Int] = [], leads: [Int] = []
        let quiet = samples(0.01)
        let lo = max(1, range.lowerBound - samples(0.04)), hi = min(length - 2, range.upperBound + samples(0.02))
        for peak in peaks where peak.amp >= 0.5 * top {
            let s = slope(smoothed[peak.k])
            var up = peak.t, down = peak.t
            for t in max(lo, peak.t - samples(0.06))...peak.t where s[t] > s[up] { up = t }
            for t in peak.t...min(hi, peak.t + samples(0.06)) where s[t] > s[down] { down = t }
            onsets.append(walk(s, from: up, step: -1, threshold: 0.4 * s[up], quiet: quiet, limit: lo))
            offsets.append(walk(s, from: down, step: 1, threshold: 0.35 * s[down], quiet: quiet, limit: hi))
            leads.append(peak.k)
        }
        guard let on = robustEarliest(onsets), let off = robustLatest(offsets), off > on else { return nil }
        return (on, off, leads)
    }

    func tEnd(_ beats: [[Double]], baselines: [Double], range: Range<Int>) -> Int? {
        let (smoothed, peaks) = wavePeaks(beats, baselines: baselines, range: range)
        guard let strongest = peaks.max(by: { $0.amp < $1.amp }), strongest.amp >= 0.05 else { return nil }
        let top = strongest.amp
        var ends: [Int] = []
        let quiet = samples(0.01)
        // T waves peak at nearly the same time in every lead: a lead whose largest deflection is
        // more than 80 ms from the strongest lead's is showing something else (a U wave, drift)
        // and would stretch the global T end (seen on MIT-BIH 100's flat MLII T: QT 519 ms).
        let together = samples(0.08)
        // The T wave ends inside the search window (0.75 RR after the R peak): a walk that finds no
        // quiet slope before then is baseline wander or the next P wave, not a T end.
        let hi = min(length - 2, range.upperBound)
        for peak in peaks where peak.amp >= max(0.05, 0.3 * top) && abs(peak.t - strongest.t) <= together {
            let s = slope(smoothed[peak.k])
            // A largest deflection at the window's edge is drift, not a T peak.
            guard peak.t > range.lowerBound, peak.t < range.upperBound - samples(0.04), peak.t < hi else { continue }
            var down = peak.t
            for t in peak.t...min(hi, peak.t + samples(0.15)) where s[t] > s[down] { down = t }
            guard s[down] > 0 else { continue }
            let end = walk(s, from: down, step: 1, threshold: 0.3 * s[down], quiet: quiet, limit: hi)
            if end < hi { ends.append(end) }   // reached the limit: no T end found in this lead
        }
        return robustLatest(ends)
    }
}
