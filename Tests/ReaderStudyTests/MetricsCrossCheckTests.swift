import Foundation
import Testing
@testable import ReaderStudy

// Swift statistics against the values scikit-learn / scipy / statsmodels computed for the same
// cases (training/tests/test_study_metrics.py writes and re-verifies the fixture).

private struct CaseSet: Decodable {
    var name: String
    var truth: [Bool]
    var ratingsFirst: [Double]
    var ratingsSecond: [Double]
    var decisionsFirst: [Bool]
    var decisionsSecond: [Bool]
    var modelScores: [Double]
    var seed: UInt64
}
private struct Cases: Decodable { var resamples: Int; var sets: [CaseSet] }

private struct RefProportion: Decodable { var successes: Int; var total: Int; var value: Double; var lower: Double; var upper: Double }
private struct RefConfusion: Decodable {
    var truePositives: Int, falsePositives: Int, trueNegatives: Int, falseNegatives: Int
    var accuracy: RefProportion, sensitivity: RefProportion, specificity: RefProportion, ppv: RefProportion, npv: RefProportion
}
private struct RefROC: Decodable { var fpr: [Double]; var tpr: [Double] }
private struct RefBootstrap: Decodable { var lower: Double; var upper: Double; var valid: Int }
private struct RefMcNemar: Decodable { var b: Int; var c: Int; var exactP: Double; var chiSquare: Double; var continuityP: Double }
private struct RefDeLong: Decodable {
    var aucFirst: Double, aucSecond: Double, varianceFirst: Double, varianceSecond: Double, covariance: Double, z: Double, p: Double
}
private struct RefSet: Decodable {
    var name: String
    var confusionFirst: RefConfusion, confusionSecond: RefConfusion
    var aucFirst: Double, aucSecond: Double, aucModel: Double
    var rocFirst: RefROC, rocSecond: RefROC
    var bootstrapFirst: RefBootstrap, bootstrapModel: RefBootstrap
    var mcnemar: RefMcNemar
    var delong: RefDeLong
    var identical: Double
    var kappa: Double
}
private struct Reference: Decodable { var sets: [RefSet] }

private func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

private func close(_ a: Double?, _ b: Double, _ what: String, tolerance: Double = 1e-9) {
    guard let a else { Issue.record("\(what): Swift gave nil, reference \(b)"); return }
    #expect(abs(a - b) <= tolerance * max(1, abs(b)), "\(what): Swift \(a) vs reference \(b)")
}

private func check(_ p: Proportion, _ r: RefProportion, _ what: String) {
    #expect(p.successes == r.successes && p.total == r.total, "\(what) counts")
    close(p.value, r.value, what)
    close(p.wilson95?.lower, r.lower, "\(what) Wilson lower")
    close(p.wilson95?.upper, r.upper, "\(what) Wilson upper")
}

private func check(_ c: ConfusionCounts, _ r: RefConfusion, _ what: String) {
    #expect(c.truePositives == r.truePositives && c.falsePositives == r.falsePositives
            && c.trueNegatives == r.trueNegatives && c.falseNegatives == r.falseNegatives, "\(what) table")
    check(c.accuracy, r.accuracy, "\(what) accuracy")
    check(c.sensitivity, r.sensitivity, "\(what) sensitivity")
    check(c.specificity, r.specificity, "\(what) specificity")
    check(c.positivePredictiveValue, r.ppv, "\(what) PPV")
    check(c.negativePredictiveValue, r.npv, "\(what) NPV")
}

@Test func metricsMatchScikitLearnScipyStatsmodels() throws {
    let cases = try load("metrics-cases", as: Cases.self)
    let reference = try load("metrics-reference", as: Reference.self)
    #expect(cases.sets.count == reference.sets.count && !cases.sets.isEmpty)
    for (s, r) in zip(cases.sets, reference.sets) {
        #expect(s.name == r.name)
        check(ConfusionCounts(decisions: s.decisionsFirst, truth: s.truth), r.confusionFirst, "\(s.name) first")
        check(ConfusionCounts(decisions: s.decisionsSecond, truth: s.truth), r.confusionSecond, "\(s.name) second")
        close(ROC.auc(scores: s.ratingsFirst, truth: s.truth), r.aucFirst, "\(s.name) AUC first")
        close(ROC.auc(scores: s.ratingsSecond, truth: s.truth), r.aucSecond, "\(s.name) AUC second")
        close(ROC.auc(scores: s.modelScores, truth: s.truth), r.aucModel, "\(s.name) AUC model")
        for (ratings, roc, label) in [(s.ratingsFirst, r.rocFirst, "first"), (s.ratingsSecond, r.rocSecond, "second")] {
            let curve = ROC.curve(scores: ratings, truth: s.truth)
            #expect(curve.map(\.falsePositiveRate).count == roc.fpr.count, "\(s.name) ROC \(label) length")
            for (p, (f, t)) in zip(curve, zip(roc.fpr, roc.tpr)) {
                close(p.falsePositiveRate, f, "\(s.name) ROC fpr"); close(p.truePositiveRate, t, "\(s.name) ROC tpr")
            }
        }
        let bFirst = try #require(Bootstrap.aucInterval(scores: s.ratingsFirst, truth: s.truth, resamples: cases.resamples, seed: s.seed))
        #expect(bFirst.validResamples == r.bootstrapFirst.valid)
        close(bFirst.interval.lower, r.bootstrapFirst.lower, "\(s.name) bootstrap lower")
        close(bFirst.interval.upper, r.bootstrapFirst.upper, "\(s.name) bootstrap upper")
        let bModel = try #require(Bootstrap.aucInterval(scores: s.modelScores, truth: s.truth, resamples: cases.resamples, seed: s.seed))
        close(bModel.interval.lower, r.bootstrapModel.lower, "\(s.name) model bootstrap lower")
        close(bModel.interval.upper, r.bootstrapModel.upper, "\(s.name) model bootstrap upper")

        let correctFirst = zip(s.decisionsFirst, s.truth).map { $0 == $1 }
        let correctSecond = zip(s.decisionsSecond, s.truth).map { $0 == $1 }
        let m = McNemar.test(first: correctFirst, second: correctSecond)
        #expect(m.b == r.mcnemar.b && m.c == r.mcnemar.c, "\(s.name) McNemar discordant pairs")
        close(m.exactP, r.mcnemar.exactP, "\(s.name) McNemar exact p")
        close(m.chiSquare, r.mcnemar.chiSquare, "\(s.name) McNemar χ²")
        close(m.continuityP, r.mcnemar.continuityP, "\(s.name) McNemar continuity p")

        let d = try #require(DeLong.test(first: s.ratingsFirst, second: s.ratingsSecond, truth: s.truth))
        close(d.aucFirst, r.delong.aucFirst, "\(s.name) DeLong AUC 1")
        close(d.aucSecond, r.delong.aucSecond, "\(s.name) DeLong AUC 2")
        close(d.varianceFirst, r.delong.varianceFirst, "\(s.name) DeLong var 1")
        close(d.varianceSecond, r.delong.varianceSecond, "\(s.name) DeLong var 2")
        close(d.covariance, r.delong.covariance, "\(s.name) DeLong cov")
        close(d.z, r.delong.z, "\(s.name) DeLong z")
        close(d.p, r.delong.p, "\(s.name) DeLong p")

        close(Agreement.identical(s.decisionsFirst, s.decisionsSecond).value, r.identical, "\(s.name) identical")
        close(Agreement.cohenKappa(s.decisionsFirst, s.decisionsSecond), r.kappa, "\(s.name) kappa")
    }
}

@Test func wilsonIntervalEdgeCases() {
    #expect(Wilson.interval(successes: 0, total: 0) == nil)
    let allRight = Wilson.interval(successes: 10, total: 10)!
    #expect(abs(allRight.upper - 1) < 1e-12 && allRight.lower < 1 && allRight.lower > 0.65)
    #expect(McNemar.test(b: 0, c: 0).continuityP == nil)
    #expect(McNemar.test(b: 0, c: 0).exactP == 1)
}

@Test func confidenceRatingOrdersCallsAndConfidence() {
    let ratings = [(false, 5), (false, 1), (true, 1), (true, 5)].map { confidenceRating(finding: $0.0, confidence: $0.1) }
    #expect(ratings == [1, 5, 6, 10])
}
