import ECGFormats
import Foundation

/// Beats of a record found on all its usable leads together.
public struct MultiLeadBeats: Sendable, Equatable {
    /// The leads whose energy was combined (stored leads; derived limb leads only add I and II again).
    public var leadsUsed: [LeadID]
    /// The lead the R peaks are placed on.
    public var referenceLead: LeadID
    public var analysis: BeatAnalysis
}

/// QRS detection on all leads at once, after the Pan & Tompkins decision rules but on one energy
/// envelope summed over the leads (the multi-lead form used by 12-lead interpretation programs).
///
/// A single lead can mislead: an inferior infarct leaves lead II a small QS complex next to a deep
/// T wave, and its T then carries as much 5–15 Hz energy as its QRS, so a single-lead detector
/// counts every T as a beat (sample patient P03 read 106 bpm instead of 59). Across twelve leads
/// the QRS is the one event steep in most of them at the same instant.
///
/// 1. Each usable lead: 5–15 Hz zero-phase band-pass (mirrored ends, so no edge transient looks
///    like a beat), five-point derivative, squared.
/// 2. Each lead's squared slope is divided by its typical beat energy (median over 2 s blocks of
///    the block maximum: every block holds a beat at rates ≥ 30 bpm) and clipped at 4, so every
///    lead has the same say and one artefact-ridden lead cannot dominate. With three leads or more
///    the envelope is their median at each instant (two leads: the mean): a QRS is steep in most
///    leads at once, while fibrillation waves, a discordant T wave or muscle noise are steep in a
///    few — averaged, such leads (normalised by their own small QRS) lifted the background of an
///    AF + LBBB record to the level of its beats, and it read 110 bpm instead of 60.
/// 3. A 150 ms moving-window integral of that, and Pan & Tompkins' adaptive signal/noise
///    thresholds (learnt on the first 10 s), 200 ms refractory period, search-back at half the
///    threshold after 1.66 mean RR, re-learning after 2.5 s without a beat; run twice, the second
///    pass starting from the levels the first ended with.
/// 4. T-wave discrimination: a candidate within max(360 ms, 0.5 × the recent mean RR, at most
///    500 ms) of the last beat is a T wave when its steepest combined slope is under half the last
///    beat's — the window grows with RR because at slow rates the T wave peaks later than 360 ms.
/// 5. The R peak: the instant of steepest combined slope within ±100 ms of the integrator peak,
///    then the reference lead's largest band-passed deflection within ±50 ms of it.
/// 6. Electrode-motion steps are dropped (`withoutElectrodeSteps`).
public struct MultiLeadQRSDetector: Sendable {
    public let samplingRate: Double
    let bandpass: ButterworthFilter

    public init(samplingRate: Double) throws {
        self.samplingRate = samplingRate
        bandpass = try PanTompkins.bandpass(samplingRate: samplingRate)
    }

    /// Detects on the record's usable stored leads (derived leads when nothing else is usable).
    /// nil when no lead is usable.
    public static func detect(in record: ECGRecord) throws -> MultiLeadBeats? {
        let detector = try MultiLeadQRSDetector(samplingRate: record.samplingRate)
        let assessor = try LeadQualityAssessor(samplingRate: record.samplingRate)
        let usable = record.leads.filter { lead in
            lead.millivolts.count == record.sampleCount && !assessor.assess(lead.millivolts).contains { $0.makesLeadUnusable }
        }
        let stored = usable.filter { !$0.isDerived }
        let leads = stored.isEmpty ? usable : stored
        guard !leads.isEmpty else { return nil }
        let preferred: [LeadID] = [.ii, .i, .v5, .v2]  // Holter "MLII" parses as .ii
        let reference = preferred.lazy.compactMap { id in leads.firstIndex { $0.id == id } }.first ?? 0
        let analysis = try detector.detect(leads: leads.map(\.millivolts), referenceLead: reference)
        return MultiLeadBeats(leadsUsed: leads.map(\.id), referenceLead: leads[reference].id, analysis: analysis)
    }

    /// Beats in `leads` (equal lengths, mV); R peaks placed on `leads[referenceLead]`. A missing
    /// sample (NaN) holds the last finite value, so a gap adds no energy.
    public func detect(leads: [[Float]], referenceLead: Int) throws -> BeatAnalysis {
        let fs = samplingRate
        guard let n = leads.first?.count, leads.indices.contains(referenceLead) else { return BeatAnalysis(rPeaks: [], samplingRate: fs) }
        for (k, lead) in leads.enumerated() where lead.count != n {
            throw SignalError.leadLengthMismatch(lead: "\(k)", expected: n, got: lead.count)
        }
        // Samples missing in any lead, as prefix counts: the rate leaves out RR intervals over a gap.
        var missing: [Int]? = nil
        if leads.contains(where: { $0.contains { !$0.isFinite } }) {
            var p = [Int](repeating: 0, count: n + 1)
            for t in 0..<n { p[t + 1] = p[t] + (leads.contains { !$0[t].isFinite } ? 1 : 0) }
            missing = p
        }
        func analysis(_ peaks: [Int]) -> BeatAnalysis {
            BeatAnalysis(rPeaks: peaks, samplingRate: fs, spansGap: missing.map { p in { a, b in p[b + 1] - p[a] > 0 } })
        }
        guard n > Int(fs) else { return analysis([]) }  // under a second: nothing to say

        // 1–2. Per-lead squared slope, normalised, clipped; the median over leads (mean of two).
        let sos = bandpass.sos
        let pad = sos.settlingSamples()
        let block = max(1, Int(2 * fs))
        var energy = [Double](repeating: 0, count: n)
        var referenceBandpassed = [Double](repeating: 0, count: n)
        var perLead: [[Double]] = []
        for (k, lead) in leads.enumerated() {
            var x = [Double](repeating: 0, count: n)
            var last = Double(lead.first { $0.isFinite } ?? 0)
            for i in 0..<n {
                if lead[i].isFinite { last = Double(lead[i]) }
                x[i] = last
            }
            let bp = sos.filtfiltMirrored(x, padLength: pad)
            if k == referenceLead { referenceBandpassed = bp }
            let sq = PanTompkins.squaredSlope(bp)
            var blockMax: [Double] = []
            var s = 0
            while s < n {
                let e = min(s + block, n)
                if e - s >= block / 2 { blockMax.append(sq[s..<e].max() ?? 0) }
                s = e
            }
            let scale = blockMax.isEmpty ? (sq.max() ?? 0) : median(blockMax)
            guard scale > 0 else { continue }
            perLead.append(sq.map { min($0 / scale, 4) })
        }
        guard !perLead.isEmpty else { return analysis([]) }
        if perLead.count < 3 {
            for e in perLead { for i in 0..<n { energy[i] += e[i] } }
            for i in 0..<n { energy[i] /= Double(perLead.count) }
        } else {
            var column = [Double](repeating: 0, count: perLead.count)
            for i in 0..<n {
                for k in perLead.indices { column[k] = perLead[k][i] }
                energy[i] = median(column)
            }
        }

        // 3–4. Moving-window integration and the decision rules; the T-wave window grows with RR
        // (at slow rates the T wave peaks later than 360 ms).
        let mwi = PanTompkins.integrate(energy, samplingRate: fs)
        let refractory = Int(0.2 * fs)
        let slopeHalf = max(1, Int(0.075 * fs))
        func slope(_ i: Int) -> Double {
            let lo = max(0, i - slopeHalf), hi = min(n - 1, i + slopeHalf)
            var m = 0.0
            for k in lo...hi { m = max(m, energy[k]) }
            return m.squareRoot()
        }
        // Two passes: the first learns its levels from the first 10 s, where a few large ectopic
        // beats can set the signal level above the normal beats' (those before the first accepted
        // beat are then lost: nothing searches back before it); the second starts from the levels
        // the first ended with, learnt over every beat of the record.
        let tWaveWindow: (Double?) -> Int = { rr in Int(min(0.5 * fs, max(0.36 * fs, 0.5 * (rr ?? 0)))) }
        var learnt: (signal: Double, noise: Double)?
        let firstPass = PanTompkins.decide(mwi: mwi, samplingRate: fs, learnSamples: Int(10 * fs), blockSamples: block, slope: slope,
                                           tWaveWindow: tWaveWindow, finalLevels: { learnt = $0 })
        let qrs = learnt.map { levels in
            PanTompkins.decide(mwi: mwi, samplingRate: fs, learnSamples: Int(10 * fs), blockSamples: block, slope: slope,
                               tWaveWindow: tWaveWindow, levels: levels)
        } ?? firstPass
        guard !qrs.isEmpty else { return analysis([]) }

        // 5. Steepest combined slope near the integrator peak, then the reference lead's extreme.
        let reach = Int(0.1 * fs), near = max(1, Int(0.05 * fs))
        var peaks: [Int] = [], steeps: [Int] = []
        for i in qrs {
            var steep = max(0, i - reach)
            for k in max(0, i - reach)...min(n - 1, i + reach) where energy[k] > energy[steep] { steep = k }
            let lo = max(0, steep - near), hi = min(n - 1, steep + near)
            var best = lo
            for k in lo...hi where abs(referenceBandpassed[k]) > abs(referenceBandpassed[best]) { best = k }
            if let last = peaks.last, best - last < refractory {
                if abs(referenceBandpassed[best]) > abs(referenceBandpassed[last]) { peaks[peaks.count - 1] = best; steeps[steeps.count - 1] = steep }
                continue
            }
            peaks.append(best)
            steeps.append(steep)
        }
        return analysis(Self.withoutElectrodeSteps(peaks, steeps: steeps, leads: leads, samplingRate: fs))
    }

    /// 6. Electrode motion: a step in one electrode's potential (it moved, then settles over a
    /// second) is steep in every lead that uses the electrode at the same instant, so it looks like
    /// a QRS to the combined envelope. Unlike a QRS, the signal does not come back: the level
    /// 60–160 ms after differs from the level 60–160 ms before by most of the deflection (a QRS
    /// leaves the PR-to-ST difference, a fraction of it). A detection is dropped when, in the
    /// leads that carry it (peak-to-peak within ±60 ms ≥ 30 % of the largest), the median of
    /// |level after − level before| / peak-to-peak is ≥ 0.5, and dropping it leaves no gap longer
    /// than 1.4 median RR — a step that lands on a real beat keeps the beat.
    static func withoutElectrodeSteps(_ peaks: [Int], steeps: [Int], leads: [[Float]], samplingRate fs: Double) -> [Int] {
        guard peaks.count >= 3, let n = leads.first?.count else { return peaks }
        let rr = zip(peaks.dropFirst(), peaks).map { Double($0 - $1) }
        let medianRR = median(rr)
        let w60 = max(1, Int(0.06 * fs)), w160 = max(2, Int(0.16 * fs))
        func mean(_ x: [Float], _ r: Range<Int>) -> Double? {
            var sum = 0.0, count = 0
            for k in r where x[k].isFinite { sum += Double(x[k]); count += 1 }
            return count > 0 ? sum / Double(count) : nil
        }
        func stepLike(_ t: Int) -> Bool {
            guard t - w160 >= 0, t + w160 < n else { return false }
            var rows: [(ptp: Double, change: Double)] = []
            for x in leads {
                guard let before = mean(x, (t - w160)..<(t - w60)), let after = mean(x, (t + w60)..<(t + w160)) else { continue }
                var lo = Double.infinity, hi = -Double.infinity
                for k in (t - w60)...(t + w60) where x[k].isFinite { lo = min(lo, Double(x[k])); hi = max(hi, Double(x[k])) }
                if hi > lo { rows.append((hi - lo, abs(after - before))) }
            }
            guard let top = rows.map(\.ptp).max(), top > 0 else { return false }
            let ratios = rows.filter { $0.ptp >= 0.3 * top }.map { $0.change / $0.ptp }
            return !ratios.isEmpty && median(ratios) >= 0.5
        }
        var kept: [Int] = []
        for j in peaks.indices {
            if stepLike(steeps[j]) {
                let previous = kept.last ?? (j > 0 ? peaks[j - 1] : nil)
                let next = j + 1 < peaks.count ? peaks[j + 1] : nil
                let gap: Double
                switch (previous, next) {
                case let (p?, q?): gap = Double(q - p)
                case let (p?, nil): gap = Double(peaks[j] - p)
                case let (nil, q?): gap = Double(q - peaks[j])
                default: gap = .infinity
                }
                if gap <= 1.4 * medianRR { continue }
            }
            kept.append(peaks[j])
        }
        return kept
    }
}
