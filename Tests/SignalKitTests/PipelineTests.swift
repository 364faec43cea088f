import ECGFormats
import Foundation
import Testing
@testable import SignalKit

/// The manifest pipeline against the Python reference `preprocess()` (training/ecg2cmr_train).
@Suite struct PipelineTests {
    func record(_ leads: [Lead], rate: Double) -> ECGRecord {
        ECGRecord(leads: leads, samplingRate: rate, metadata: ECGMetadata(),
                  provenance: Provenance(format: .csv, path: "synthetic", sha256: ""))
    }

    @Test(arguments: [("pipeline_ops", "pipeline_out", "pipeline_offset"), ("pipeline2_ops", "pipeline2_out", "pipeline2_offset")])
    func manifestOpsMatchPythonPreprocess(opsKey: String, outKey: String, offsetKey: String) throws {
        let ops = try #require(Fixtures.filters[opsKey] as? [[String: Any]])
        let input = Fixtures.matrix("pipeline_in").map { $0.map { Float($0) } }
        let rec = record([Lead(id: .i, millivolts: input[0]), Lead(id: .ii, millivolts: input[1])], rate: 360)
        let out = try SignalPipeline(manifestOps: ops).apply(to: rec, leads: [.i, .ii])
        let want = Fixtures.matrix(outKey)
        #expect(out.sampleCount == want[0].count)
        #expect(out.offsetSamples == (Fixtures.filters[offsetKey] as? Int))
        let e = maxAbsDiff(out.values, want.flatMap { $0 })
        print("[signal-reference] pipeline \(opsKey): max |Δ| = \(e), offset \(out.offsetSamples)")
        #expect(e < 1e-5)
        #expect(out.leads == [.i, .ii] && out.derivedLeads.isEmpty)
        #expect(out.recordTimeSeconds(ofSample: 0) == Double(out.offsetSamples) / out.samplingRate)
    }

    @Test func opsDecodeWithJSONDecoder() throws {
        let json = """
        [{"op": "resample", "rate": 250},
         {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
         {"op": "cropOrPad", "sampleCount": 2500},
         {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0}]
        """
        let ops = try JSONDecoder().decode([PreprocessingOp].self, from: Data(json.utf8))
        #expect(ops == [.resample(rateHz: 250), .medianBaselineRemoval(windowsSeconds: [0.2, 0.6]),
                        .cropOrPad(sampleCount: 2500, alignment: .start), .normalise(.scale(millivolts: 1), clip: 8)])
        // Thrown by the op's own decoder, so it passes through JSONDecoder unchanged.
        #expect(throws: SignalError.invalidOperation(index: 0, reason: "unknown op 'sharpen'")) {
            try JSONDecoder().decode([PreprocessingOp].self, from: Data(#"[{"op": "sharpen"}]"#.utf8))
        }
    }

    @Test func badOpsAreTypedErrors() {
        #expect(throws: SignalError.invalidOperation(index: 1, reason: "unknown op 'sharpen'")) {
            try SignalPipeline(manifestOps: [["op": "resample", "rate": 250], ["op": "sharpen"]])
        }
        #expect(throws: SignalError.self) { try SignalPipeline(manifestOps: [["op": "resample"]]) }
        #expect(throws: SignalError.self) { try SignalPipeline(manifestOps: [["op": "normalise", "mode": "loud"]]) }
        #expect(throws: SignalError.self) { try SignalPipeline(manifestOps: [["op": "cropOrPad", "sampleCount": 2.5]]) }
        #expect(throws: SignalError.self) { try SignalPipeline(manifestOps: [["op": "cropOrPad"]]) }
    }

    @Test func derivesMissingLimbLeadsAndRejectsBadInput() throws {
        let i: [Float] = [1, 2, 3, 4], ii: [Float] = [3, 1, 0, 2]
        let rec = record([Lead(id: .i, millivolts: i), Lead(id: .ii, millivolts: ii)], rate: 250)
        let out = try SignalPipeline(ops: []).apply(to: rec, leads: [.iii, .aVR, .aVL, .aVF])
        #expect(Array(out.lead(0)) == [2, -1, -3, -2])
        #expect(Array(out.lead(1)) == [-2, -1.5, -1.5, -3])
        #expect(Array(out.lead(2)) == [-0.5, 1.5, 3, 3])
        #expect(Array(out.lead(3)) == [2.5, 0, -1.5, 0])
        #expect(out.derivedLeads == [.iii, .aVR, .aVL, .aVF])
        let full = LeadDerivation.completingLimbLeads(rec)
        #expect(full.leads.map(\.id) == [.i, .ii, .iii, .aVR, .aVL, .aVF])
        #expect(full.leads.filter(\.isDerived).count == 4)
        #expect(throws: SignalError.missingLead("V1")) { try SignalPipeline(ops: []).apply(to: rec, leads: [.v1]) }
        let nan = record([Lead(id: .i, millivolts: [1, .nan, 3])], rate: 250)
        #expect(throws: SignalError.nonFiniteSample(step: "pipeline", lead: "I", index: 1)) {
            try SignalPipeline(ops: []).apply(to: nan, leads: [.i])
        }
        #expect(throws: SignalError.self) {
            try SignalPipeline(ops: [.bandpass(lowHz: 0.5, highHz: 40, order: 4)]).apply(to: rec, leads: [.i])
        }
    }
}

@Suite struct MedianTests {
    @Test func quickselectMedianMatchesSorting() {
        var rng = SystemRandomNumberGenerator()
        for n in [1, 2, 3, 4, 5, 10, 11, 100, 101, 1000, 1001] {
            for _ in 0..<20 {
                // Few distinct values too, so ties are exercised.
                let values = (0..<n).map { _ in Double(Int.random(in: 0..<max(2, n / 3), using: &rng)) + (n > 500 ? Double.random(in: 0..<1, using: &rng) : 0) }
                let s = values.sorted()
                let want = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
                #expect(median(values) == want, "n = \(n)")
            }
        }
        #expect(median([]) == 0)
    }
}

/// The contract between training and the engine on a real record: the demo model's manifest ops
/// on PhysioNet/CinC 2021 E07500 (12 leads, 500 Hz) read through ECGFormats, against the
/// float32 tensor `training/ecg2cmr_train/preprocess.py` produced from wfdb's reading.
@Suite struct RealRecordPipelineTests {
    @Test func demoOpsOnE07500MatchTrainingPreprocess() throws {
        let metaData = try #require(Fixtures.data("E07500-demo-input.json"))
        let meta = try #require(try JSONSerialization.jsonObject(with: metaData) as? [String: Any])
        let ops = try #require(meta["ops"] as? [[String: Any]])
        let leadNames = try #require(meta["leads"] as? [String])
        let blob = try #require(Fixtures.data("E07500-demo-input.f32"))
        let want: [Float] = blob.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count, by: 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0, as: UInt32.self))) }
        }
        let record = try ECGFileReader.read(url: RecordRPeakTests.recordsDirectory.appendingPathComponent("cinc2021/E07500.hea"))
        let out = try SignalPipeline(manifestOps: ops).apply(to: record, leads: leadNames.map { LeadID(parsing: $0) })
        #expect(out.sampleCount == 2500 && out.values.count == want.count && out.samplingRate == 250)
        let e = maxAbsDiff(out.values, want.map { Double($0) })
        print("[signal-reference] demo ops on E07500 (12 × 2500) vs preprocess.py: max |Δ| = \(e)")
        #expect(e < 1e-5)
        #expect(out.derivedLeads.isEmpty)
    }
}
