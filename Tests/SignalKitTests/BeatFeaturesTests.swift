import Foundation
import Testing
@testable import SignalKit

/// Beat features against the reference written by training/make_beat_fixture.py
/// (training/ecg2cmr_train/beats.py): training and the workstation must feed the encoder the
/// same beat-aligned inputs. training/tests/test_beats.py checks the same file from Python.
@Suite struct BeatFeaturesTests {
    struct Expected: Decodable {
        var rPeakIndices: [Int]
        var detectionLead: String?
        var beatCount: Int
        var beatLength: Int
        var medianBeat: [Double]
        var rhythm: [Double]
    }

    struct Case: Decodable {
        var name: String
        var leadNames: [String]
        var sampleCount: Int
        var valuesF32Base64: String
        var expected: Expected

        var values: [Float] {
            guard let data = Data(base64Encoded: valuesF32Base64) else { return [] }
            return data.withUnsafeBytes { buf in
                stride(from: 0, to: buf.count - 3, by: 4).map {
                    Float(bitPattern: UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: $0, as: UInt32.self)))
                }
            }
        }
    }

    struct Reference: Decodable {
        var spec: BeatFeatureSpec
        var samplingRate: Double
        var rhythmFeatureNames: [String]
        var cases: [Case]
    }

    static let reference: Reference? = {
        guard let data = Fixtures.data("beat-features.json") else { return nil }
        return try? JSONDecoder().decode(Reference.self, from: data)
    }()

    @Test func fixtureLoaded() throws {
        let ref = try #require(Self.reference)
        #expect(ref.cases.count >= 8)
        #expect(ref.spec == BeatFeatureSpec.standard)
        #expect(ref.rhythmFeatureNames == BeatFeatures.rhythmFeatureNames)
    }

    @Test func matchesPythonReference() throws {
        let ref = try #require(Self.reference)
        for c in ref.cases {
            let values = c.values
            #expect(values.count == c.leadNames.count * c.sampleCount, "\(c.name)")
            let f = try BeatExtractor.extract(values: values, leadNames: c.leadNames, sampleCount: c.sampleCount,
                                              samplingRate: ref.samplingRate, spec: ref.spec)
            let e = c.expected
            #expect(f.rPeakIndices == e.rPeakIndices, "\(c.name): R peaks")
            #expect(f.detectionLead == e.detectionLead, "\(c.name): detection lead")
            #expect(f.beatCount == e.beatCount, "\(c.name): beat count")
            #expect(f.beatLength == e.beatLength, "\(c.name): beat length")
            #expect(maxAbsDiff(f.medianBeat, e.medianBeat) <= 1e-6, "\(c.name): median beat")
            #expect(f.rhythm.count == e.rhythm.count, "\(c.name): rhythm count")
            for (k, (got, want)) in zip(f.rhythm, e.rhythm).enumerated() {
                let tol = 1e-6 * max(1, abs(want))
                #expect(abs(Double(got) - want) <= tol, "\(c.name): rhythm[\(BeatFeatures.rhythmFeatureNames[k])] \(got) vs \(want)")
            }
        }
    }

    @Test func flatRecordHasNoBeats() throws {
        let f = try BeatExtractor.extract(values: [Float](repeating: 0, count: 2 * 2500), leadNames: ["I", "II"],
                                          sampleCount: 2500, samplingRate: 250, spec: .standard)
        #expect(f.detectionLead == nil)
        #expect(f.rPeakIndices.isEmpty && f.beatCount == 0)
        #expect(f.medianBeat == [Float](repeating: 0, count: 2 * 200))
        #expect(f.rhythm == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    @Test func rejectsBadInput() {
        #expect(throws: SignalError.self) {
            try BeatExtractor.extract(values: [0, 0, 0], leadNames: ["I", "II"], sampleCount: 2, samplingRate: 250, spec: .standard)
        }
        var values = [Float](repeating: 0, count: 2 * 500)
        values[700] = .nan
        #expect(throws: SignalError.nonFiniteSample(step: "beatFeatures", lead: "II", index: 200)) {
            try BeatExtractor.extract(values: values, leadNames: ["I", "II"], sampleCount: 500, samplingRate: 250, spec: .standard)
        }
        #expect(throws: SignalError.self) {
            try BeatExtractor.extract(values: [Float](repeating: 0, count: 500), leadNames: ["I"], sampleCount: 500, samplingRate: 250,
                                      spec: BeatFeatureSpec(detectionLeads: [], preSamples: 64, postSamples: 136))
        }
        #expect(throws: SignalError.self) {
            try BeatFeatureSpec(detectionLeads: ["II"], preSamples: 0, postSamples: 136).validate()
        }
    }
}
