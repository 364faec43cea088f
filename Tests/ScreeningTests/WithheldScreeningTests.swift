import CaseAnalysis
@testable import CardiacModels
import Foundation
import Testing
@testable import Screening

// `screen` withholds an out-of-distribution ECG's outputs: its only flag is
// "out-of-distribution", it carries the reason (JSON `withheld`, CSV column `withheld`), and each
// risk and phenotype repeats it — while the same scores inside the distribution raise flags.

private func analysis(score: Double) -> ECGAnalysis {
    let cad = RiskScore(target: HeadTarget(head: "risk", output: "cad"), label: "Coronary artery disease", probability: 0.9,
                        validationAUC: 0.8, isWeak: false, bands: [0.3, 0.6], band: .high)
    let ef = PhenotypeValue(target: HeadTarget(head: "phenotype", output: "lv_ef"), label: "LV ejection fraction", value: 30,
                            unit: "%", referenceRange: 52...72, validationR: 0.7, isOutOfRange: true)
    return ECGAnalysis(modelID: "m", isSynthetic: true, embedding: [0], risks: [cad], subtypes: [], phenotypes: [ef], rawHeads: [:],
                       outOfDistribution: OutOfDistributionVerdict(score: score, embeddingDistance: 1, inputDistance: 1,
                                                                   embeddingThreshold: 1, inputThreshold: 1))
}

@Test func outOfDistributionLineRaisesNoFindingFlag() throws {
    var outside = ScreeningResult(file: "a.hea", status: "ok")
    BatchScreener.fill(&outside, with: analysis(score: 2.5))
    #expect(outside.flags == ["out-of-distribution"])
    #expect(outside.flagged == true && outside.outOfDistribution == true)
    #expect(outside.withheld == OutOfDistributionVerdict.withheldReason)
    #expect(outside.risks?["cad"]?.withheld != nil && outside.phenotypes?["lv_ef"]?.withheld != nil)
    let json = String(decoding: try JSONEncoder().encode(outside), as: UTF8.self)
    #expect(json.contains("\"withheld\""))
    let csv = Dictionary(outside.flattened(), uniquingKeysWith: { a, _ in a })
    #expect(csv["withheld"] == OutOfDistributionVerdict.withheldReason && csv["flags"] == "out-of-distribution")

    var inside = ScreeningResult(file: "b.hea", status: "ok")
    BatchScreener.fill(&inside, with: analysis(score: 0.4))
    #expect(inside.flags == ["high:cad", "out-of-range:lv_ef"])
    #expect(inside.withheld == nil && inside.risks?["cad"]?.withheld == nil)
    #expect(!String(decoding: try JSONEncoder().encode(inside), as: UTF8.self).contains("withheld"))
}
