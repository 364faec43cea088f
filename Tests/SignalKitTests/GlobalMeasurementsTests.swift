import ECGFormats
import Foundation
import Testing
@testable import SignalKit
import TestSupport

/// ecg2cmr's global measurements against the device's own values in real files, within
/// IEC 60601-2-25-style tolerances: PR and QRS ±10 ms, QT ±25 ms, QRS axis ±15°.
@Suite struct GlobalMeasurementsTests {
    static let records = TestEnvironment.records

    func check(_ mine: IntervalMeasurements, _ device: IntervalMeasurements) throws {
        let pairs: [(String, Double?, Double?, Double)] = [
            ("PR", mine.prMs, device.prMs, 10), ("QRS", mine.qrsMs, device.qrsMs, 10),
            ("QT", mine.qtMs, device.qtMs, 25), ("QRS axis", mine.qrsAxisDeg, device.qrsAxisDeg, 15),
        ]
        for (name, a, b, tolerance) in pairs {
            let ours = try #require(a, "\(name) not measured")
            let theirs = try #require(b, "\(name) not in the file")
            #expect(abs(ours - theirs) <= tolerance, "\(name): ecg2cmr \(ours), device \(theirs)")
        }
    }

    /// MIT-BIH 100 (MLII + V5, 360 Hz, RR ≈ 0.8 s; published QT ≈ 0.35–0.40 s): the flat MLII T wave
    /// once stretched the global T end to QT 519–753 ms. Every analysed window must give a plausible QT.
    @Test func twoLeadHolterWindowsGivePlausibleQT() throws {
        let url = Self.records.appendingPathComponent("100.hea")
        for start in [0, 100, 300, 600, 900, 1500] {
            let record = try WFDBReader().read(url: url, window: (start * 360)..<((start + 10) * 360))
            let m = try GlobalMeasurer.measure(record)
            let qt = try #require(m.qtMs, "window at \(start) s: QT not measured")
            #expect((330...430).contains(qt), "window at \(start) s: QT \(qt) ms")
            #expect((m.qtcBazettMs ?? 999) < 470, "window at \(start) s: QTc \(m.qtcBazettMs ?? -1) ms")
        }
    }

    @Test func museAgainst12SL() throws {
        let record = try ECGFileReader.read(url: Self.records.appendingPathComponent("example-muse.xml"))
        let device = try #require(record.metadata.deviceMeasurements)
        #expect(device.source.hasPrefix("GE MUSE 12SL"))
        #expect(device.prMs == 158 && device.qrsMs == 78 && device.qtMs == 364 && device.qtcBazettMs == 364)
        #expect(device.pAxisDeg == 49 && device.qrsAxisDeg == 54 && device.tAxisDeg == 46 && device.heartRateBpm == 60)
        let m = try GlobalMeasurer.measure(record)
        try check(m.summary, device)
        #expect(abs((m.heartRateBpm ?? 0) - 60) <= 2)
        #expect(abs((m.pAxisDeg ?? 999) - 49) <= 15 && abs((m.tAxisDeg ?? 999) - 46) <= 15)
        #expect(m.leads.count == 12 && m.leads.contains { $0.lead == "II" && $0.rMv > 0.5 })
    }

    /// Issue 22: a disagreement with the device is marked past the stated tolerance, axes the short
    /// way round; the real MUSE and aECG records agree with their devices, sample P04's synthetic
    /// 12SL values (QRS 212 ms) do not.
    @Test func disagreementsWithTheDeviceAreMarkedPastTheTolerance() throws {
        let device = IntervalMeasurements(prMs: 160, qrsMs: 90, qtMs: 380, qtcBazettMs: 400, qrsAxisDeg: 175, tAxisDeg: 40, source: "device")
        let ours = IntervalMeasurements(prMs: 170, qrsMs: 101, qtMs: 399, qtcBazettMs: 421, qrsAxisDeg: -170, tAxisDeg: 60, source: "ecg2cmr")
        let differ = ours.disagreements(with: device)
        #expect(differ.map(\.key) == ["qrsMs", "qtcBazettMs", "tAxisDeg"])   // PR 10 and QT 19 are within; QRS axis 15° apart the short way
        #expect(differ.first?.text == "QRS 101 vs 90 ms (Δ +11, tolerance 10)")
        for name in ["example-muse.xml", "example-aecg.xml"] {
            let record = try ECGFileReader.read(url: Self.records.appendingPathComponent(name))
            let device = try #require(record.metadata.deviceMeasurements)
            #expect(try GlobalMeasurer.measure(record).summary.disagreements(with: device).isEmpty, "\(name)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p04 = try ECGFileReader.read(url: root.appendingPathComponent("sample-data/P04-dcm-heart-failure/ecg-muse.xml"))
        let marked = try GlobalMeasurer.measure(p04).summary.disagreements(with: try #require(p04.metadata.deviceMeasurements))
        #expect(marked.contains { $0.key == "qrsMs" && $0.device == 212 })
    }

    @Test func aECGAgainstPerBeatAnnotations() throws {
        let record = try ECGFileReader.read(url: Self.records.appendingPathComponent("example-aecg.xml"))
        let device = try #require(record.metadata.deviceMeasurements)
        // Medians of the 12 annotated beats of the rhythm series (Mortara ELI250).
        #expect(device.prMs == 148 && device.qrsMs == 120 && device.qtMs == 420 && device.qrsAxisDeg == -61)
        #expect(device.qtcReportedMs == 443 && device.beatCount == 12 && device.source.contains("ELI250"))
        try check(try GlobalMeasurer.measure(record).summary, device)
    }

    /// Synthetic beats with known boundaries (triangle QRS, half-sine T): no P waves and an
    /// irregular rhythm give null PR and P axis; a flat record is a typed error.
    @Test func noPWavesMeansNullPRAndTypedErrors() throws {
        let fs = 500.0, n = 5000
        let gaps = [450, 520, 600, 470, 560, 430, 610, 500, 540, 460]  // irregularly irregular
        var peaks: [Int] = []
        var t = 300, g = 0
        while t < n - 400 { peaks.append(t); t += gaps[g % gaps.count]; g += 1 }
        var ii = [Float](repeating: 0, count: n), i = [Float](repeating: 0, count: n)
        for p in peaks {
            for k in -20...20 {  // QRS: a 80 ms triangle
                let v = Float(1.2 * (1 - Double(abs(k)) / 20))
                ii[p + k] += v
                i[p + k] += v * 0.5
            }
            for k in 0..<100 {  // T wave
                let v = Float(0.25 * sin(Double.pi * Double(k) / 100))
                ii[p + 60 + k] += v
                i[p + 60 + k] += v * 0.5
            }
        }
        // Fibrillatory waves: 4–9 Hz activity with a wandering phase (deterministic LCG), not locked to the QRS.
        var state: UInt64 = 12345, phase = 0.0
        for k in 0..<n {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let jitter = Double(state >> 11) / Double(1 << 53) - 0.5
            phase += 2 * Double.pi * (6.3 + 40 * jitter) / fs
            let f = Float(0.05 * sin(phase))
            ii[k] += f
            i[k] -= f * 0.3
        }
        let record = ECGRecord(leads: [Lead(id: .i, millivolts: i), Lead(id: .ii, millivolts: ii)],
                                         samplingRate: fs, metadata: ECGMetadata(),
                                         provenance: Provenance(format: .csv, path: "af.csv", sha256: ""))
        let m = try GlobalMeasurer.measure(record)
        #expect(m.prMs == nil && m.pAxisDeg == nil)
        let qrs = try #require(m.qrsMs)
        #expect(abs(qrs - 80) <= 40)  // coarse f waves (slope ≈ 2 mV/s) keep the QRS edges "active": known overestimate
        #expect(m.qtMs != nil && m.qrsAxisDeg != nil)

        let flat = ECGRecord(leads: [Lead(id: .ii, millivolts: [Float](repeating: 0, count: n))],
                                       samplingRate: fs, metadata: ECGMetadata(),
                                       provenance: Provenance(format: .csv, path: "flat.csv", sha256: ""))
        #expect(throws: MeasurementError.self) { try GlobalMeasurer.measure(flat) }
        let slow = ECGRecord(leads: [Lead(id: .ii, millivolts: [Float](repeating: 0, count: 400))],
                                       samplingRate: 40, metadata: ECGMetadata(),
                                       provenance: Provenance(format: .csv, path: "slow.csv", sha256: ""))
        #expect(throws: MeasurementError.unsupportedSamplingRate(40)) { try GlobalMeasurer.measure(slow) }
    }

    @Test func jsonWritesNullsForUnmeasuredValues() throws {
        let m = IntervalMeasurements(qrsMs: 92.04, source: "ecg2cmr")
        let text = String(decoding: try JSONEncoder().encode(m), as: UTF8.self)
        #expect(text.contains("\"prMs\":null") && text.contains("\"qrsMs\":92") && text.contains("\"source\":\"ecg2cmr\""))
        #expect(!text.contains("qtcReportedMs"))
    }
}

/// Issue 23: a missing sample (NaN — a WFDB −32768, an empty CSV cell, a DICOM padding value) is a
/// gap the measurements are made around, never a refusal: beats that touch it are left out of the
/// median beat, RR intervals over it out of the rate, and the gap is stated in `summary.note`.
@Suite struct MeasurementsAroundGapsTests {
    static let url = TestEnvironment.records.appendingPathComponent("cinc2021/E07500.hea")

    /// `record` with the samples from `a` to `b` seconds missing in `leads` (every stored lead when nil).
    func withGap(_ record: ECGRecord, in leads: Set<String>?, from a: Double, to b: Double) -> ECGRecord {
        var out = record
        let range = Int(a * record.samplingRate)..<Int(b * record.samplingRate)
        for k in out.leads.indices where !out.leads[k].isDerived && (leads?.contains(out.leads[k].id.description) ?? true) {
            for t in range { out.leads[k].millivolts[t] = .nan }
        }
        return out
    }

    @Test func aGapIsMeasuredAroundAndStated() throws {
        let record = try ECGFileReader.read(url: Self.url)
        #expect(record.leads.filter { !$0.isDerived }.count == 12)
        let clean = try GlobalMeasurer.measure(record)
        #expect(clean.gaps.isEmpty && clean.summary.note == nil)
        let cases: [(Set<String>?, Double, Double, String)] = [
            (["V2"], 4.0, 4.4, "measured around a 0.40 s gap in V2 at 4.00 s"),
            (nil, 4.0, 4.4, "measured around a 0.40 s gap in every lead at 4.00 s"),   // e.g. empty CSV rows
            (["II"], 2.0, 3.5, "measured around a 1.50 s gap in II at 2.00 s"),         // the lead R peaks are placed on
        ]
        for (leads, a, b, statement) in cases {
            let m = try GlobalMeasurer.measure(withGap(record, in: leads, from: a, to: b))
            #expect(m.summary.note == statement)
            #expect(m.gaps.count == (leads?.count ?? 12) && m.gaps.allSatisfy { abs($0.durationSeconds - (b - a)) < 0.01 })
            // Fewer beats in the median (those touching the gap are left out), the same values within
            // the tolerances the measurements are checked to against devices.
            #expect(m.beatCount < clean.beatCount, "\(statement): \(m.beatCount) of \(clean.beatCount) beats")
            for (name, ours, reference, tolerance) in [
                ("rate", m.heartRateBpm, clean.heartRateBpm, 2.0), ("PR", m.prMs, clean.prMs, 10), ("QRS", m.qrsMs, clean.qrsMs, 10),
                ("QT", m.qtMs, clean.qtMs, 20), ("P axis", m.pAxisDeg, clean.pAxisDeg, 15),
                ("QRS axis", m.qrsAxisDeg, clean.qrsAxisDeg, 15), ("T axis", m.tAxisDeg, clean.tAxisDeg, 15),
            ] {
                let value = try #require(ours, "\(statement): \(name) not measured")
                let expected = try #require(reference)
                #expect(abs(value - expected) <= tolerance, "\(statement): \(name) \(value) vs \(expected) without the gap")
            }
            #expect(m.leads.allSatisfy { [$0.rMv, $0.qMv, $0.sMv].allSatisfy(\.isFinite) })
        }
        // A gap in every lead once per beat leaves no beat to measure: a typed refusal naming the gaps.
        var holes = record
        for k in holes.leads.indices where !holes.leads[k].isDerived {
            for t in stride(from: 0, to: holes.sampleCount, by: 250) { holes.leads[k].millivolts[t] = .nan }
        }
        #expect {
            try GlobalMeasurer.measure(holes)
        } throws: { error in
            guard case let .tooFewBeatsAroundGaps(_, needed, gaps) = error as? MeasurementError else { return false }
            return needed == GlobalMeasurer.minimumBeats && gaps.hasPrefix("measured around 20 gaps") && gaps.hasSuffix("in every lead")
        }
    }

    /// The rate of the whole record (the header's, the vitals') leaves out RR intervals over a gap:
    /// a beat lost in a gap in every lead would otherwise halve the rate there.
    @Test func theRateSkipsIntervalsOverAGap() throws {
        let record = try ECGFileReader.read(url: Self.url)
        let clean = try #require(RecordVitals(of: record).heartRateBpm)
        let gapped = try #require(RecordVitals(of: withGap(record, in: nil, from: 4.0, to: 4.4)).heartRateBpm)
        #expect(abs(gapped - clean) <= 2, "\(gapped) vs \(clean) bpm")
    }
}
