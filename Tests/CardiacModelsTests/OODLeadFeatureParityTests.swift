import Foundation
import Testing
@testable import CardiacModels

// The out-of-distribution check's lead statistics (`lead-gain-v1`), Swift against the numbers
// training/ecg2cmr_train/ood.py computed on the same float32 inputs
// (Fixtures/ood-lead-features.json, written by training/make_ood_fixture.py): a real CinC 2021
// record, cohort renders in sinus rhythm and in AF, an all-zero record.

private typealias LeadFixture = OODFeatureFixture
private let floats = OODFeatureFixture.floats
private func loadLeadFixture() throws -> LeadFixture { try .load("ood-lead-features.json") }

private func compute(_ f: LeadFixture, _ c: LeadFixture.Case, values: [Float]? = nil) -> [Double]? {
    OutOfDistributionLeadFeatures.compute(values: values ?? floats(c.values), leads: 12, sampleCount: c.sampleCount, peaks: c.peaks,
                                          medianBeat: floats(c.medianBeat), preSamples: f.preSamples,
                                          beatLength: f.preSamples + f.postSamples, samplingRate: f.samplingRate)
}

@Test func leadFeaturesMatchPython() throws {
    let f = try loadLeadFixture()
    #expect(f.featureSet == OutOfDistributionLeadFeatures.featureSet)
    #expect(f.featureNames == OutOfDistributionLeadFeatures.names)
    #expect(f.cases.count >= 4)
    for c in f.cases {
        let got = try #require(compute(f, c), "\(c.name): no features")
        #expect(got.count == c.features.count, "\(c.name)")
        for (g, e) in zip(got, c.features) {
            #expect(abs(g - e) <= 1e-9 + 1e-7 * abs(e), "\(c.name): \(g) vs \(e)")
        }
    }
}

@Test func leadGainStatisticSeesLeadSpecificGains() throws {
    // What the statistic is for: scale one lead's QRS by 30 % in alternate beats (an axis that turns from
    // beat to beat) and it rises far above the noise-only value of the same render; a gain shared
    // by every lead leaves it where it was.
    let f = try loadLeadFixture()
    let c = try #require(f.cases.first { $0.name == "cohort render, noise" })
    let base = try #require(compute(f, c))[0]
    #expect(base > 0.3 && base < 3, "noise-only F \(base)")
    var lead = floats(c.values), shared = lead
    let half = 12
    for (k, p) in c.peaks.enumerated() where k % 2 == 0 && p - half >= 0 && p + half < c.sampleCount {
        for i in (p - half)...(p + half) {
            lead[1 * c.sampleCount + i] *= 1.3                                // lead II only
            for l in 0..<12 { shared[l * c.sampleCount + i] *= 1.3 }          // every lead
        }
    }
    let fLead = try #require(compute(f, c, values: lead))[0]
    let fShared = try #require(compute(f, c, values: shared))[0]
    #expect(fLead > 5 * base, "lead-specific gain: F \(fLead) vs \(base)")
    #expect(fShared < 2 * base, "shared gain: F \(fShared) vs \(base)")
}

@Test func limbIdentityResidualSeesIndependentLimbLeads() throws {
    let f = try loadLeadFixture()
    let c = try #require(f.cases.first { $0.name == "cohort render, noise" })
    #expect(try #require(compute(f, c))[1] < 1e-6)
    var v = floats(c.values)
    for i in 0..<c.sampleCount { v[2 * c.sampleCount + i] += 0.01 * Float(i % 2 == 0 ? 1 : -1) }   // III off by ±10 µV
    #expect(try #require(compute(f, c, values: v))[1] > 0.005)
}

@Test func leadFeaturesRefuseMismatchedShapesAndSkipNon12Lead() {
    #expect(OutOfDistributionLeadFeatures.compute(values: [0, 0, 0], leads: 2, sampleCount: 2, peaks: [], medianBeat: [],
                                                  preSamples: 1, beatLength: 2, samplingRate: 250) == nil)
    #expect(OutOfDistributionLeadFeatures.compute(values: [Float](repeating: 1, count: 20), leads: 2, sampleCount: 10, peaks: [5],
                                                  medianBeat: [0, 0, 0, 0], preSamples: 1, beatLength: 2, samplingRate: 250) == [0, 0])
}
