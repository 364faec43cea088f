import Foundation
import Testing
import SignalKit
@testable import CardiacModels

// The out-of-distribution check's signal-level features, Swift against the numbers
// training/ecg2cmr_train/ood.py computed on the same float32 inputs
// (Fixtures/ood-signal-features.json, written by training/make_ood_fixture.py): a real CinC 2021
// record, cohort renders with and without noise, an all-zero record.

private struct SignalFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var leads: [String]
        var sampleCount: Int
        var values: String
        var peaks: [Int]
        var medianBeat: String
        var features: [Double]
    }
    var featureSet: String
    var featureNames: [String]
    var samplingRate: Double
    var preSamples: Int
    var postSamples: Int
    var cases: [Case]
}

private func floats(_ base64: String) -> [Float] {
    guard let data = Data(base64Encoded: base64) else { return [] }
    return data.withUnsafeBytes { raw in
        (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }
}

private func loadFixture() throws -> SignalFixture {
    let url = fixtures.appendingPathComponent("ood-signal-features.json")
    return try JSONDecoder().decode(SignalFixture.self, from: Data(contentsOf: url))
}

@Test func signalFeaturesMatchPython() throws {
    let f = try loadFixture()
    #expect(f.featureSet == OutOfDistributionSignalFeatures.featureSet)
    #expect(f.featureNames == OutOfDistributionSignalFeatures.names)
    #expect(f.cases.count >= 4)
    for c in f.cases {
        let got = try #require(OutOfDistributionSignalFeatures.compute(
            values: floats(c.values), leads: c.leads.count, sampleCount: c.sampleCount, peaks: c.peaks,
            medianBeat: floats(c.medianBeat), preSamples: f.preSamples, postSamples: f.postSamples,
            samplingRate: f.samplingRate), "\(c.name): no features")
        #expect(got.count == c.features.count, "\(c.name)")
        let worst = zip(got, c.features).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-6, "\(c.name): max |Δ| \(worst)")
    }
}

@Test func signalFeaturesSeeANoiseFreeRender() throws {
    // The features must respond to what they are for: the noise-free render's beat residual is
    // far below the noisy render's on every stored lead.
    let f = try loadFixture()
    let noisy = try #require(f.cases.first { $0.name.contains("noise") && !$0.name.contains("no noise") })
    let clean = try #require(f.cases.first { $0.name.contains("no noise") })
    let k = OutOfDistributionSignalFeatures.names.count
    for l in 0..<noisy.leads.count {
        #expect(clean.features[l * k] < noisy.features[l * k] - 0.5, "lead \(noisy.leads[l])")
    }
}

@Test func signalFeaturesRefuseMismatchedShapes() {
    #expect(OutOfDistributionSignalFeatures.compute(values: [0, 0, 0], leads: 2, sampleCount: 2, peaks: [], medianBeat: [],
                                                    preSamples: 1, postSamples: 1, samplingRate: 250) == nil)
    #expect(OutOfDistributionSignalFeatures.compute(values: [Float](repeating: 0, count: 20), leads: 2, sampleCount: 10, peaks: [5],
                                                    medianBeat: [0, 0, 0], preSamples: 1, postSamples: 1, samplingRate: 250) == nil)
}
