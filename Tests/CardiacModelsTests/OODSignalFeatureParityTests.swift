import Foundation
import Testing
import SignalKit
@testable import CardiacModels

// The out-of-distribution check's signal-level features, Swift against the numbers
// training/ecg2cmr_train/ood.py computed on the same float32 inputs
// (Fixtures/ood-signal-features.json, written by training/make_ood_fixture.py): a real CinC 2021
// record, cohort renders with and without noise, an all-zero record.

private typealias SignalFixture = OODFeatureFixture
private let floats = OODFeatureFixture.floats
private func loadFixture() throws -> SignalFixture { try .load("ood-signal-features.json") }

@Test func signalFeaturesMatchPython() throws {
    let f = try loadFixture()
    #expect(f.featureSet == OutOfDistributionSignalFeatures.featureSet)
    #expect(f.featureNames == OutOfDistributionSignalFeatures.names)
    #expect(f.cases.count >= 4)
    for c in f.cases {
        let got = try #require(OutOfDistributionSignalFeatures.compute(
            values: floats(c.values), leads: c.leads?.count ?? 12, sampleCount: c.sampleCount, peaks: c.peaks,
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
    let leadNames = try #require(noisy.leads)
    for l in leadNames.indices {
        #expect(clean.features[l * k] < noisy.features[l * k] - 0.5, "lead \(leadNames[l])")
    }
}

@Test func signalFeaturesRefuseMismatchedShapes() {
    #expect(OutOfDistributionSignalFeatures.compute(values: [0, 0, 0], leads: 2, sampleCount: 2, peaks: [], medianBeat: [],
                                                    preSamples: 1, postSamples: 1, samplingRate: 250) == nil)
    #expect(OutOfDistributionSignalFeatures.compute(values: [Float](repeating: 0, count: 20), leads: 2, sampleCount: 10, peaks: [5],
                                                    medianBeat: [0, 0, 0], preSamples: 1, postSamples: 1, samplingRate: 250) == nil)
}
