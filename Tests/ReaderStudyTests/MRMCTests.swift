import Foundation
import Testing
@testable import ReaderStudy

// The Obuchowski–Rockette MRMC analysis against MRMCaov's own results on its bundled VanDyke data
// (Fixtures/mrmc/PROVENANCE.md): every number MRMCaov printed must be what ecg2cmr's value rounds to.

/// A number as R printed it: the value and the half-unit of its last printed digit.
private struct Printed: Decodable, CustomStringConvertible {
    var text: String
    init(from decoder: Decoder) throws { text = try decoder.singleValueContainer().decode(String.self) }
    var value: Double { Double(text) ?? .nan }
    /// Half a unit of the last printed digit, or `relative` × |value| for full-precision references.
    func tolerance(relative: Double?) -> Double {
        if let relative { return relative * abs(value) + 1e-15 }
        let decimals = text.split(separator: ".").dropFirst().first.map { $0.count } ?? 0
        return 0.5 * pow(10, -Double(decimals)) * (1 + 1e-9)
    }
    var description: String { text }
}

private struct PublishedAnalysis: Decodable {
    var name: String
    var data: String?
    var metric: String
    var threshold: Printed?
    var covariance: String?
    var factors: String
    /// MRMCaov's design code (1 factorial, 3 cases nested within tests, −1 partially paired).
    var design: String?
    /// The treatments the analysis keeps (all when nil).
    var treatments: [String]?
    var components: [String: Printed]?
    var meanSquares: [String: Printed]?
    var global: [String: Printed]
    var differences: [[String: Printed]]
    var means: [[String: Printed]]
    var readerDifferences: [[String: Printed]]?
    var readerMeans: [[String: Printed]]?
}
/// An analysis MRMCaov refuses, with its error message.
private struct Refusal: Decodable {
    var name: String
    var treatments: [String]?
    var covariance: String
    var error: String
}
private struct Published: Decodable { var analyses: [PublishedAnalysis]; var refusals: [Refusal]? }

func mrmcFixture(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/mrmc"))
}

/// Relative tolerance for full-precision references; nil = to the printed digits.
private struct Tolerance { var relative: Double? }

private func agree(_ ours: Double?, _ printed: Printed?, _ what: String, _ tol: Tolerance) {
    guard let printed else { return }
    guard let ours else { Issue.record("\(what): ecg2cmr gave nothing, MRMCaov printed \(printed)"); return }
    #expect(abs(ours - printed.value) <= printed.tolerance(relative: tol.relative), "\(what): ecg2cmr \(ours) vs MRMCaov \(printed)")
}

private func agree(_ diff: MRMCDifference, _ p: [String: Printed], _ what: String, _ tol: Tolerance) {
    agree(diff.estimate, p["estimate"], "\(what) estimate", tol)
    agree(diff.standardError, p["standardError"], "\(what) standard error", tol)
    agree(diff.df, p["df"], "\(what) df", tol)
    agree(diff.lower, p["lower"], "\(what) CI lower", tol)
    agree(diff.upper, p["upper"], "\(what) CI upper", tol)
    agree(diff.statistic, p["statistic"], "\(what) statistic", tol)
    agree(diff.p, p["p"], "\(what) p", tol)
}

private func agree(_ mean: MRMCMean, _ p: [String: Printed], _ what: String, _ tol: Tolerance) {
    agree(mean.estimate, p["estimate"], "\(what) estimate", tol)
    agree(mean.readerMeanSquare, p["readerMeanSquare"], "\(what) MS(R)", tol)
    agree(mean.errorVariance, p["errorVariance"], "\(what) Var(Error)", tol)
    agree(mean.cov2, p["cov2"], "\(what) Cov2", tol)
    agree(mean.standardError, p["standardError"], "\(what) standard error", tol)
    agree(mean.df, p["df"], "\(what) df", tol)
    agree(mean.lower, p["lower"], "\(what) CI lower", tol)
    agree(mean.upper, p["upper"], "\(what) CI upper", tol)
}

extension PublishedAnalysis {
    var request: (MRMCMetric, MRMCCovariance, MRMCFactors) {
        let metric: MRMCMetric = switch self.metric {
        case "sensitivity": .sensitivity(threshold: threshold?.value ?? 0)
        case "specificity": .specificity(threshold: threshold?.value ?? 0)
        default: .auc
        }
        let factors: MRMCFactors = switch self.factors {
        case "frrc": .fixedReaders
        case "rrfc": .fixedCases
        default: .randomReadersRandomCases
        }
        return (metric, covariance.flatMap(MRMCCovariance.init(rawValue:)) ?? .jackknife, factors)
    }

    func check(_ r: MRMCResult, _ tol: Tolerance) {
        if let c = components {
            let ours = r.components
            agree(ours?.reader, c["reader"], "\(name): reader variance", tol)
            agree(ours?.treatmentReader, c["treatmentReader"], "\(name): treatment:reader variance", tol)
            agree(ours?.error, c["error"], "\(name): error variance", tol)
            agree(ours?.cov1, c["cov1"], "\(name): Cov1", tol)
            agree(ours?.cov2, c["cov2"], "\(name): Cov2", tol)
            agree(ours?.cov3, c["cov3"], "\(name): Cov3", tol)
            agree(ours?.correlations?[0], c["corr1"], "\(name): r1", tol)
            agree(ours?.correlations?[1], c["corr2"], "\(name): r2", tol)
            agree(ours?.correlations?[2], c["corr3"], "\(name): r3", tol)
        }
        if let m = meanSquares {
            agree(r.meanSquares.treatment, m["treatment"], "\(name): MS(T)", tol)
            agree(r.meanSquares.reader, m["reader"], "\(name): MS(R)", tol)
            agree(r.meanSquares.treatmentReader, m["treatmentReader"], "\(name): MS(T:R)", tol)
        }
        agree(r.globalTest.denominator, global["denominator"], "\(name): denominator", tol)
        agree(r.globalTest.value, global["value"], "\(name): \(r.globalTest.statistic)", tol)
        agree(r.globalTest.df1, global["df1"], "\(name): df1", tol)
        agree(r.globalTest.df2, global["df2"], "\(name): df2", tol)
        agree(r.globalTest.p, global["p"], "\(name): p", tol)
        #expect(r.differences.count == differences.count, "\(name): number of differences")
        for (ours, p) in zip(r.differences, differences) { agree(ours, p, "\(name): \(ours.first) − \(ours.second)", tol) }
        #expect(r.treatmentMeans.count == means.count, "\(name): number of treatment means")
        for (ours, p) in zip(r.treatmentMeans, means) { agree(ours, p, "\(name): treatment \(ours.treatment)", tol) }
        if let rd = readerDifferences {
            #expect(r.readerDifferences.count == rd.count, "\(name): number of reader differences")
            for (ours, p) in zip(r.readerDifferences, rd) {
                #expect(ours.reader == p["reader"]?.text)
                agree(ours, p, "\(name): reader \(ours.reader ?? "?")", tol)
            }
        }
        if let rm = readerMeans {
            #expect(r.readerMeans.count == rm.count, "\(name): number of reader means")
            for p in rm {
                guard let ours = r.readerMeans.first(where: { $0.treatment == p["treatment"]?.text && $0.reader == p["reader"]?.text }) else {
                    Issue.record("\(name): no reader mean for \(p)"); continue
                }
                agree(ours, p, "\(name): reader \(ours.reader ?? "?") in \(ours.treatment)", tol)
            }
        }
    }
}

@Suite struct MRMCPublishedTests {
    @Test func vanDykeReproducesMRMCaovPublishedResults() throws {
        let published = try JSONDecoder().decode(Published.self, from: Data(contentsOf: mrmcFixture("vandyke-mrmcaov-published.json")))
        let data = try MRMCData(RatingsFile.read(url: mrmcFixture("VanDyke.csv")))
        #expect(data.treatments == ["1", "2"] && data.readers.count == 5 && data.cases.count == 114)
        #expect(published.analyses.count == 6)
        for analysis in published.analyses {
            let (metric, covariance, factors) = analysis.request
            let result = try MRMCAnalysis.run(data, metric: metric, covariance: covariance, factors: factors)
            analysis.check(result, Tolerance(relative: nil))
            #expect(result.notes.isEmpty, "\(analysis.name): \(result.notes)")
        }
    }

    /// MRMCaov's own code run on both datasets it ships (mrmcaov-reference.R): every output to 1e-6
    /// relative, for jackknife, DeLong and unbiased, random and fixed readers, fixed cases,
    /// sensitivity and specificity. Franken has Cov2 < Cov3, where Hillis's constraint decides df2.
    @Test(arguments: ["VanDyke", "Franken"])
    func reproducesMRMCaovToOneInAMillion(dataset: String) throws {
        let reference = try JSONDecoder().decode(Published.self, from: Data(contentsOf: mrmcFixture("mrmcaov-reference.json")))
        let analyses = reference.analyses.filter { $0.data == "\(dataset).csv" }
        #expect(analyses.count == 9)
        let data = try MRMCData(RatingsFile.read(url: mrmcFixture("\(dataset).csv")))
        for analysis in analyses {
            let (metric, covariance, factors) = analysis.request
            let result = try MRMCAnalysis.run(data, metric: metric, covariance: covariance, factors: factors)
            analysis.check(result, Tolerance(relative: 1e-6))
            // Hillis's constraint is reported exactly when it applies (Cov2 < Cov3 with random readers).
            let cov2BelowCov3 = analysis.components.map { ($0["cov2"]?.value ?? 0) < ($0["cov3"]?.value ?? 0) } ?? false
            let constrained = result.notes.contains { $0.contains("Hillis's constraint") }
            #expect(constrained == (cov2BelowCov3 && factors == .randomReadersRandomCases), "\(analysis.name): \(result.notes)")
            if dataset == "Franken", factors == .randomReadersRandomCases, metric == .auc { #expect(cov2BelowCov3) }
        }
    }
}

@Suite struct MRMCNestedDesignTests {
    /// MRMCaov's Kundel data: screen-film (treatment 1) on patients 1–95, soft- and hard-copy computed
    /// radiographs (2, 3) both on patients 96–190. As shipped it is partially paired (MRMCaov's design
    /// −1); 1 vs 2 and 1 vs 3 have cases nested within tests (design 3, Cov1 = Cov3 = 0). Every output of
    /// MRMCaov's own code (mrmcaov-reference.R) to 1e-6 relative; DeLong refused as MRMCaov refuses it.
    @Test(arguments: ["Kundel", "Kundel 1 vs 2", "Kundel 1 vs 3"])
    func kundelReproducesMRMCaovToOneInAMillion(label: String) throws {
        let reference = try JSONDecoder().decode(Published.self, from: Data(contentsOf: mrmcFixture("mrmcaov-reference.json")))
        let analyses = reference.analyses.filter { $0.name.hasPrefix("\(label): ") }
        #expect(analyses.count == 7)
        let rows = try RatingsFile.read(url: mrmcFixture("Kundel.csv"))
        let nested = label != "Kundel"
        for analysis in analyses {
            let kept = analysis.treatments.map { t in rows.filter { t.contains($0.treatment) } } ?? rows
            let data = try MRMCData(kept)
            #expect(data.design == (nested ? .casesNestedInTreatments : .partiallyPaired))
            #expect(analysis.design == String(data.design.mrmcaovCode), "\(analysis.name): MRMCaov's design \(analysis.design ?? "?")")
            #expect(data.treatments == (analysis.treatments ?? ["1", "2", "3"]) && data.readers == ["1", "2", "3", "4"])
            #expect(data.cases.count == 190 && data.cases(inTreatment: 0).count == 95)
            // Declaring the design the data have changes nothing; declaring another is an error.
            #expect(try MRMCData(kept, design: data.design) == data)
            #expect { try MRMCData(kept, design: .factorial) } throws: { ($0 as? StudyError)?.description.contains("not a factorial design") ?? false }
            let (metric, covariance, factors) = analysis.request
            let result = try MRMCAnalysis.run(data, metric: metric, covariance: covariance, factors: factors)
            #expect(result.design == data.design)
            analysis.check(result, Tolerance(relative: 1e-6))
            if nested, let c = result.components { #expect(c.cov1 == 0 && c.cov3 == 0) }
            let cov2BelowCov3 = analysis.components.map { ($0["cov2"]?.value ?? 0) < ($0["cov3"]?.value ?? 0) } ?? false
            let constrained = result.notes.contains { $0.contains("Hillis's constraint") }
            #expect(constrained == (cov2BelowCov3 && factors == .randomReadersRandomCases), "\(analysis.name): \(result.notes)")
        }
        let refusals = (reference.refusals ?? []).filter { $0.name.hasPrefix("\(label): ") }
        #expect(refusals.count == 1)
        for refusal in refusals {
            let kept = refusal.treatments.map { t in rows.filter { t.contains($0.treatment) } } ?? rows
            let covariance = try #require(MRMCCovariance(rawValue: refusal.covariance))
            #expect(refusal.error.contains("balanced design required"))
            #expect { try MRMCAnalysis.run(MRMCData(kept), covariance: covariance) } throws: {
                ($0 as? StudyError).map { $0.kind == .unsupportedDesign && $0.description.contains("needs every case read in every treatment") } ?? false
            }
        }
    }

    @Test func powerNeedsAFactorialPilot() throws {
        let pilot = try MRMCAnalysis.run(MRMCData(RatingsFile.read(url: mrmcFixture("Kundel.csv"))))
        #expect { try MRMCPower.table(pilot: pilot, effect: 0.05, readers: [4], cases: [100]) } throws: {
            ($0 as? StudyError).map { $0.kind == .unsupportedDesign && $0.description.contains("this pilot is partially paired") } ?? false
        }
    }

    @Test func aCaseReadInTwoTreatmentsIsNotNested() throws {
        let rows = try RatingsFile.read(url: mrmcFixture("Kundel.csv"))
        #expect { try MRMCData(rows, source: "k.csv", design: .casesNestedInTreatments) } throws: {
            ($0 as? StudyError).map { $0.kind == .unsupportedDesign && $0.description.hasPrefix("k.csv") && $0.description.contains("case '96' is read in treatments '2' and '3'") } ?? false
        }
        // A nested case missing one reader's rating is named, or left out on request.
        let gap = rows.filter { $0.treatment != "3" && !($0.caseID == "7" && $0.reader == "2") }
        #expect { try MRMCData(gap) } throws: { ($0 as? StudyError)?.description.contains("reader '2' has no rating of case '7' in treatment '1'") ?? false }
        let kept = try MRMCData(gap, completeCasesOnly: true)
        #expect(kept.design == .casesNestedInTreatments && kept.droppedCases == ["7"] && kept.cases(inTreatment: 0).count == 94)
    }
}

@Suite struct MRMCDesignErrorTests {
    /// Two readers × two treatments × four cases, fully crossed.
    private var crossed: [MRMCRating] {
        var out: [MRMCRating] = []
        for r in ["A", "B"] { for t in ["ecg", "ecg+cmr"] { for (c, truth, rating) in [("1", true, 4.0), ("2", true, 2.0), ("3", false, 3.0), ("4", false, 1.0)] {
            out.append(MRMCRating(reader: r, treatment: t, caseID: c, truth: truth, rating: rating + (t == "ecg" || c != "2" ? 0 : 2) + (r == "A" ? 0 : 0.5)))
        } } }
        return out
    }

    @Test func oneTruthClassIsAnErrorNamingIt() {
        let r = crossed.map { var x = $0; x.truth = true; return x }
        #expect { try MRMCData(r, source: "x.csv") } throws: { ($0 as? StudyError).map { $0.kind == .unsupportedDesign && $0.description.contains("every case is positive") && $0.description.hasPrefix("x.csv") } ?? false }
    }

    @Test func casesNotReadByEveryoneAreAnErrorOrDroppedOnRequest() throws {
        let r = crossed.filter { !($0.reader == "B" && $0.caseID == "2" && $0.treatment == "ecg+cmr") }
        #expect { try MRMCData(r) } throws: { ($0 as? StudyError)?.description.contains("reader 'B' has no rating of case '2' in treatment 'ecg+cmr'") ?? false }
        let kept = try MRMCData(r, completeCasesOnly: true)
        #expect(kept.cases == ["1", "3", "4"] && kept.droppedCases == ["2"])
        // Only one positive case is left: the AUC covariance cannot be estimated, and says so.
        #expect { try MRMCAnalysis.run(kept) } throws: { ($0 as? StudyError)?.description.contains("1 positive and 2 negative") ?? false }
    }

    @Test func aTreatmentReadByOneReaderIsNamed() {
        let r = crossed.filter { !($0.reader == "B" && $0.treatment == "ecg+cmr") }
        #expect { try MRMCData(r, completeCasesOnly: true) } throws: {
            ($0 as? StudyError)?.description.contains("reader 'B' has no ratings in treatment 'ecg+cmr', which was read by 1 reader(s) (A)") ?? false
        }
    }

    @Test func duplicateAndContradictoryRowsAreErrors() {
        #expect { try MRMCData(crossed + [crossed[0]]) } throws: { ($0 as? StudyError)?.description.contains("rated twice") ?? false }
        var flipped = crossed
        flipped[1].truth.toggle()
        #expect { try MRMCData(flipped) } throws: { ($0 as? StudyError)?.description.contains("truth 1 in one row and 0 in another") ?? false }
    }

    @Test func oneReaderNeedsFixedReadersAndOneTreatmentCannotBeCompared() throws {
        let one = try MRMCData(crossed.filter { $0.reader == "A" })
        #expect { try MRMCAnalysis.run(one) } throws: { ($0 as? StudyError)?.description.contains("only one reader ('A')") ?? false }
        let fixed = try MRMCAnalysis.run(one, factors: .fixedReaders)
        #expect(fixed.globalTest.statistic == "X2" && fixed.readers == ["A"])
        let single = try MRMCData(crossed.filter { $0.treatment == "ecg" })
        #expect { try MRMCAnalysis.run(single) } throws: { ($0 as? StudyError)?.description.contains("only one treatment ('ecg')") ?? false }
    }

    @Test func deLongAndUnbiasedAreForTheAUCOnly() throws {
        let data = try MRMCData(crossed)
        #expect { try MRMCAnalysis.run(data, metric: .sensitivity(threshold: 3), covariance: .delong) } throws: { ($0 as? StudyError)?.description.contains("empirical AUC only") ?? false }
    }

    @Test func aReaderWithOneRatingForEverythingIsNamedAndNothingIsNaN() throws {
        let r = crossed.map { x -> MRMCRating in var y = x; if y.reader == "B", y.treatment == "ecg" { y.rating = 5 }; return y }
        let result = try MRMCAnalysis.run(MRMCData(r))
        #expect(result.notes.contains { $0.contains("reader 'B' gave every case the same rating (5) in 'ecg'") })
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        #expect(!json.lowercased().contains("nan"))
    }
}
