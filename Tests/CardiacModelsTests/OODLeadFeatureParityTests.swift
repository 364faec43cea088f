import Foundation
import Testing
@testable import CardiacModels

// The out-of-distribution check's lead statistics (`lead-gain-v2`), Swift against the numbers
// training/ecg2cmr_train/ood.py computed on the same float32 inputs
// (Fixtures/ood-lead-features.json, written by training/make_ood_fixture.py): a real CinC 2021
// record, cohort renders in sinus rhythm and in AF, an all-zero record.

private typealias LeadFixture = OODFeatureFixture
private let floats = OODFeatureFixture.floats
private func loadLeadFixture() throws -> LeadFixture { try .load("ood-lead-features.json") }

private func compute(_ f: LeadFixture, _ c: LeadFixture.Case, values: [Float]? = nil) -> [Double]? {
    OutOfDistributionLeadFeatures.compute(values: values ?? floats(c.values), leads: 12, sampleCount: c.sampleCount, peaks: c.peaks,
                                          medianBeat: floats(c.medianBeat), preSamples: f.preSamples,
                                          beatLength: f.preSamples + f.postSamples, samplingRate: f.samplingRate,
                                          heartVectorBasis: f.heartVectorBasis)
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
                                                  medianBeat: [0, 0, 0, 0], preSamples: 1, beatLength: 2, samplingRate: 250) == [0, 0, 0, 0])
}

@Test func dowerMisfitSeesAQRSOutsideTheHeartVectorSubspace() throws {
    // What the v2 statistics are for: the simulator's beats lie in one 3-D subspace of the 8
    // independent leads, so its misfit SNR stays near the noise-only value (≈ 2). One precordial
    // lead read at twice the gain (an electrode over another point of the chest: a body is not the
    // standard torso) puts a lasting part of every QRS outside it; the same gain on every lead
    // changes neither statistic (both are ratios; float32 rounding aside).
    let f = try loadLeadFixture()
    let c = try #require(f.cases.first { $0.name == "cohort render, noise" })
    let base = try #require(compute(f, c))
    #expect(base[2] > 0.3 && base[2] < 8, "noise-only misfit SNR \(base[2])")
    #expect(base[3] < 0.01, "noise-only misfit fraction \(base[3])")
    var oneLead = floats(c.values), every = oneLead
    for i in 0..<c.sampleCount {
        oneLead[7 * c.sampleCount + i] *= 2                       // V2
        for l in 0..<12 { every[l * c.sampleCount + i] *= 1.25 }
    }
    var mOne = floats(c.medianBeat), mEvery = mOne
    let beat = f.preSamples + f.postSamples
    for i in 0..<beat {
        mOne[7 * beat + i] *= 2
        for l in 0..<12 { mEvery[l * beat + i] *= 1.25 }
    }
    func stats(_ v: [Float], _ m: [Float]) throws -> [Double] {
        try #require(OutOfDistributionLeadFeatures.compute(values: v, leads: 12, sampleCount: c.sampleCount, peaks: c.peaks,
                                                           medianBeat: m, preSamples: f.preSamples, beatLength: beat,
                                                           samplingRate: f.samplingRate, heartVectorBasis: f.heartVectorBasis))
    }
    let one = try stats(oneLead, mOne), all = try stats(every, mEvery)
    #expect(one[2] > 10 * base[2], "V2 gain: misfit SNR \(one[2]) vs \(base[2])")
    #expect(one[3] > 10 * base[3], "V2 gain: misfit fraction \(one[3]) vs \(base[3])")
    #expect(abs(all[2] - base[2]) <= 1e-3 * base[2] && abs(all[3] - base[3]) <= 1e-3 * base[3], "shared gain: \(all) vs \(base)")
    // Without the manifest's subspace (a lead-gain-v1 bundle) the two statistics are not computed.
    let v1 = try #require(OutOfDistributionLeadFeatures.compute(values: floats(c.values), leads: 12, sampleCount: c.sampleCount,
                                                                peaks: c.peaks, medianBeat: floats(c.medianBeat), preSamples: f.preSamples,
                                                                beatLength: beat, samplingRate: f.samplingRate))
    #expect(v1[2] == 0 && v1[3] == 0 && v1[0] == base[0])
}

@Test func heartVectorBasisMustSpanThreeDimensions() {
    let dower = [[0.632, -0.235, 0.059], [0.235, 1.066, -0.132], [-0.515, 0.157, -0.917], [0.044, 0.164, -1.387],
                 [0.882, 0.098, -1.277], [1.213, 0.127, -0.601], [1.125, 0.127, -0.086], [0.831, 0.076, 0.230]]
    let perp = try? #require(OutOfDistributionLeadFeatures.subspaceComplement(dower))
    // A projector onto the 5 dimensions the 3 columns leave: trace 5, and it removes each column.
    #expect(abs((perp ?? []).indices.reduce(0.0) { $0 + perp![$1][$1] } - 5) < 1e-12)
    for c in 0..<3 {
        let v = dower.map { $0[c] }
        let r = (perp ?? []).map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(r.allSatisfy { abs($0) < 1e-12 })
    }
    #expect(OutOfDistributionLeadFeatures.subspaceComplement(dower.map { [$0[0], $0[0], $0[2]] }) == nil)   // dependent columns
    #expect(OutOfDistributionLeadFeatures.subspaceComplement(Array(dower.prefix(7))) == nil)              // 7 rows
    #expect(OutOfDistributionLeadFeatures.subspaceComplement(dower.map { [$0[0], .nan, $0[2]] }) == nil)
}

@Test func leadBlockOfEachFeatureSetIsCheckedAtLoad() throws {
    // The shipped manifest's lead block (lead-gain-v2) validates; without its basis it is refused
    // with the reason; a lead-gain-v1 block (an older bundle: the first two statistics) still loads.
    let url = repoRoot.appendingPathComponent("assets/models/demo-v2/manifest.json")
    let data = try Data(contentsOf: url)
    let shipped = try JSONDecoder().decode(ModelManifest.self, from: data)
    let lead = try #require(shipped.outOfDistribution?.lead)
    #expect(lead.featureSet == "lead-gain-v2" && lead.heartVectorBasis?.count == 8)
    try shipped.validate(path: url.path)
    var noBasis = shipped
    noBasis.outOfDistribution?.lead?.heartVectorBasis = nil
    #expect { try noBasis.validate(path: url.path) } throws: { "\($0)".contains("heartVectorBasis must be 8 rows") }
    var flat = shipped
    flat.outOfDistribution?.lead?.heartVectorBasis = Array(repeating: [1, 1, 1], count: 8)
    #expect { try flat.validate(path: url.path) } throws: { "\($0)".contains("heartVectorBasis") }
    var v1 = shipped
    v1.outOfDistribution?.lead = .init(featureSet: "lead-gain-v1", features: Array(lead.features.prefix(2)),
                                       thresholds: Array(lead.thresholds.prefix(2)), percentile: nil, heartVectorBasis: nil)
    try v1.validate(path: url.path)
    var unknown = shipped
    unknown.outOfDistribution?.lead?.featureSet = "lead-gain-v9"
    #expect { try unknown.validate(path: url.path) } throws: { "\($0)".contains("is not one this engine computes") }
}
