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
