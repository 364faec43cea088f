import CaseAnalysis
import Foundation
import Testing
import CardiacModels
@testable import ReaderStudy

@Test func reportMatchesTheMetricsOfTheStoredAnswers() throws {
    let clock = StudySupport.Clock()
    let json = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 10), model: ["head": "risk", "output": "cm", "threshold": 0.5])
    let (store, dir) = try StudySupport.makeStore(json, clock: clock)
    try store.addReader(id: "J1", name: "Junior", role: "junior", operatorName: "op")
    try store.addReader(id: "S1", name: "Senior", role: "senior", operatorName: "op")
    let truth = Dictionary(uniqueKeysWithValues: store.definition.cases.map { ($0.id, $0.truth) })
    // Scripted reads: stage 1 gets cases with an odd index wrong, stage 2 only every fourth.
    for (r, reader) in ["J1", "S1"].enumerated() {
        for stage in 0..<2 {
            if stage == 1 { clock.now += 29 * 86_400 }
            let s = try ReaderSession(store: store, readerID: reader, presenter: OrdinalPresenter())
            while let p = s.position {
                let id = s.order[p - 1]
                let wrong = stage == 0 ? (p + r) % 2 == 1 : (p + r) % 4 == 0
                let finding = truth[id]!.finding != wrong
                try s.submit(AnswerDraft(finding: finding, confidence: 1 + (p % 5), subtype: finding ? "HCM" : nil))
            }
        }
    }
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: StudySupport.tinyBundle))
    let model = try ModelScores.compute(store: store, cases: CaseAnalysis(pipeline: pipeline))
    #expect(model.probabilities.count == 10)
    // Cached: a second computation reads the stored scores.
    #expect(try store.cachedModelScores(modelID: model.modelID, weightsSHA256: model.weightsSHA256, target: "risk.cm").count == 10)
    let report = try StudyReport.build(store: store, model: model, resamples: 500)

    let row = try #require(report.rows.first { $0.reader == "J1" && $0.stage == "ecg-only" })
    let answers = try store.answers(reader: "J1", stage: "ecg-only")
    let t = answers.map { truth[$0.caseID]!.finding }
    // Expectations computed here, not with the functions the report calls: counts written out,
    // AUC by comparing every (positive, negative) pair, McNemar's exact p from the binomial sum.
    let decided = zip(answers.map(\.finding), t)
    #expect(row.confusion.truePositives == decided.filter { $0 && $1 }.count)
    #expect(row.confusion.falsePositives == decided.filter { $0 && !$1 }.count)
    #expect(row.confusion.trueNegatives == decided.filter { !$0 && !$1 }.count)
    #expect(row.confusion.falseNegatives == decided.filter { !$0 && $1 }.count)
    // The script gets every case at an odd position wrong in stage 1 (J1): 5 of 10 correct.
    #expect(row.confusion.truePositives + row.confusion.trueNegatives == 5)
    let expectedAUC = try #require(pairwiseAUC(answers.map(\.rating), t))
    #expect(abs(try #require(row.auc) - expectedAUC) < 1e-12)
    // 10 cases: fewer than 10 of each class, so no bootstrap — the small-sample interval, and a warning.
    #expect(row.aucBootstrap == nil && row.aucSmallSample != nil)
    #expect(report.markdown.contains("Too few cases for a bootstrap AUC interval"))
    #expect(report.metricsCSV.contains(SmallSampleAUC.method))
    #expect(report.rows.contains { $0.reader == "all readers" })
    #expect(!report.rows.contains { $0.reader == "role: senior" }, "a one-reader pool repeats that reader")
    let cmp = try #require(report.comparisons.first { $0.reader == "J1" && $0.first == "ecg-only" && $0.second == "ecg+real-cmr" })
    #expect(cmp.pairedCases == 10)
    let vsModel = try #require(report.comparisons.first { $0.reader == "S1" && $0.first == "ecg-only" && $0.second.hasPrefix("model") })
    #expect(vsModel.pairedCases == 10 && vsModel.deLong != nil)
    let second = Dictionary(uniqueKeysWithValues: try store.answers(reader: "J1", stage: "ecg+real-cmr").map { ($0.caseID, $0) })
    let first = Dictionary(uniqueKeysWithValues: answers.map { ($0.caseID, $0) })
    let ids = store.definition.cases.map(\.id)
    let correctFirst = ids.map { first[$0]!.finding == truth[$0]!.finding }
    let correctSecond = ids.map { second[$0]!.finding == truth[$0]!.finding }
    // Stage 2 (J1) is wrong only at positions 4 and 8: 8 of 10 correct.
    #expect(correctSecond.filter { $0 }.count == 8 && cmp.accuracySecond.successes == 8 && cmp.accuracyFirst.successes == 5)
    let b = zip(correctFirst, correctSecond).filter { $0 && !$1 }.count, c = zip(correctFirst, correctSecond).filter { !$0 && $1 }.count
    #expect(cmp.mcNemar.b == b && cmp.mcNemar.c == c)
    #expect(abs(cmp.mcNemar.exactP - exactMcNemarP(b: b, c: c)) < 1e-12)
    let same = ids.filter { first[$0]!.finding == second[$0]!.finding }.count
    #expect(cmp.identicalDecisions.successes == same && cmp.identicalDecisions.total == 10)
    let modelRow = try #require(report.modelRow)
    let modelAUC = try #require(pairwiseAUC(ids.map { model.probabilities[$0]! }, ids.map { truth[$0]!.finding }))
    #expect(abs(try #require(modelRow.auc) - modelAUC) < 1e-12)

    let out = dir.appendingPathComponent("report")
    let files = try report.write(to: out)
    #expect(files.map(\.lastPathComponent).sorted() == ["answers.csv", "comparisons.csv", "metrics.csv", "mrmc.csv", "report.md", "roc.png"])
    let png = try Data(contentsOf: out.appendingPathComponent("roc.png"))
    #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && png.count > 5_000)
    let csv = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8)
    #expect(csv.split(separator: "\n").count == report.rows.count + 2)
    let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(md.contains("McNemar") && md.contains("J1") && md.contains(model.modelID))
    #expect(try String(contentsOf: out.appendingPathComponent("answers.csv"), encoding: .utf8).split(separator: "\n").count == 41)

    // MRMC: two readers × two stages, each stage a modality, the 10-level rating; random readers and cases.
    let mrmc = try #require(report.mrmc, "no MRMC analysis: \(report.mrmcUnavailable ?? "")")
    #expect(mrmc.treatments == ["ecg-only", "ecg+real-cmr"] && mrmc.readers == ["J1", "S1"] && mrmc.cases == 10)
    #expect(mrmc.factors == .randomReadersRandomCases && mrmc.covariance == .jackknife)
    for (t, stage) in mrmc.treatments.enumerated() { for (r, reader) in mrmc.readers.enumerated() {
        let perReader = try #require(report.rows.first { $0.reader == reader && $0.stage == stage }?.auc)
        #expect(abs(mrmc.performance[t][r] - perReader) < 1e-12, "the MRMC reader AUC is the report's AUC")
    } }
    #expect(mrmc.differences.count == 1 && mrmc.differences[0].first == "ecg-only")
    #expect(md.contains("## Multi-reader multi-case analysis") && md.contains("ecg-only − ecg+real-cmr"))
    let mrmcCSV = try String(contentsOf: out.appendingPathComponent("mrmc.csv"), encoding: .utf8)
    #expect(mrmcCSV.hasPrefix("metric,section,") && mrmcCSV.contains("\nempirical_auc,difference,") && !mrmcCSV.lowercased().contains("nan"))
    #expect(mrmcCSV.contains("\nbinary_sens,difference,") && mrmcCSV.contains("\nbinary_spec,difference,"))
    // Sensitivity and specificity of the call: the MRMC reader values are the report's per-reader ones.
    #expect(report.mrmcOfTheCall.map(\.metric) == ["binary_sens", "binary_spec"])
    for (t, stage) in mrmc.treatments.enumerated() { for (r, reader) in mrmc.readers.enumerated() {
        let row = try #require(report.rows.first { $0.reader == reader && $0.stage == stage })
        #expect(abs(report.mrmcOfTheCall[0].performance[t][r] - (row.confusion.sensitivity.value ?? -1)) < 1e-12)
        #expect(abs(report.mrmcOfTheCall[1].performance[t][r] - (row.confusion.specificity.value ?? -1)) < 1e-12)
    } }
    #expect(md.contains("Sensitivity and specificity of the call"))
    // The export is the same analysis for MRMCaov: its CSV read back gives the same result.
    let exported = try RatingsFile.parse(RatingsFile.mrmcaovCSV(StudyReport.ratings(store: store)))
    let again = try MRMCAnalysis.run(MRMCData(exported))
    #expect(again.globalTest == mrmc.globalTest && again.performance == mrmc.performance)
    let imrmc = RatingsFile.imrmc(try StudyReport.ratings(store: store), title: store.definition.title)
    #expect(imrmc.contains("NR: 2\nN0: ") && imrmc.contains("NM: 2\n") && imrmc.contains("BEGIN DATA:\n-1,1,0,"))
    #expect(imrmc.split(separator: "\n").filter { $0.hasPrefix("-1,") }.count == 10)

    // Agreement between the two readers per stage (Fleiss with two raters) and their time per case.
    let agreement = try #require(report.agreement.first { $0.stage == "ecg-only" })
    #expect(agreement.readers == 2 && agreement.cases == 10 && agreement.pairs.count == 1 && agreement.pairs[0].cases == 10)
    let j1 = ids.map { first[$0]!.finding }
    let s1 = Dictionary(uniqueKeysWithValues: try store.answers(reader: "S1", stage: "ecg-only").map { ($0.caseID, $0.finding) })
    #expect(agreement.pairs[0].kappa == Agreement.cohenKappa(j1, ids.map { s1[$0]! }))
    #expect(md.contains("## Agreement between readers and time per case") && md.contains("Fleiss"))
    let time = try #require(report.readingTimes["J1\u{1}ecg-only"])
    #expect(time.count == 10 && time.lowerQuartile <= time.median && time.median <= time.upperQuartile)
    #expect(csv.split(separator: "\n")[0].hasSuffix("seconds_median,seconds_q1,seconds_q3,auc_ci_method"))
}

@Test func oneStageOrOneReaderGivesTheAnalysisTheDesignAllows() throws {
    var rows: [MRMCRating] = []
    for c in 1...6 { for t in ["s1", "s2"] {
        let base: Double = c <= 3 ? Double(6 + c) : Double(c)
        rows.append(MRMCRating(reader: "A", treatment: t, caseID: "c\(c)", truth: c <= 3, rating: base + (t == "s2" ? 0.5 : 0)))
    } }
    let one = StudyReport.mrmcAnalysis(rows)
    #expect(one.result?.factors == .fixedReaders && one.result?.notes.first?.contains("one reader") == true)
    // A second reader who has only done stage s1 waits; the first reader's analysis is what the design allows.
    let waiting = StudyReport.mrmcAnalysis(rows + rows.filter { $0.treatment == "s1" }.map { var x = $0; x.reader = "B"; return x })
    #expect(waiting.result?.readers == ["A"] && waiting.result?.notes.first == "left out until they have answers in every stage: B")
    let single = StudyReport.mrmcAnalysis(rows.filter { $0.treatment == "s1" })
    #expect(single.result == nil && single.reason?.contains("at least two stages") == true)
}

/// AUC as the Mann–Whitney probability, by comparing every (positive, negative) pair (ties ½):
/// O(n²) on purpose, independent of `ROC.auc`'s sorted sweep. nil without both classes.
private func pairwiseAUC(_ scores: [Double], _ truth: [Bool]) -> Double? {
    let positives = zip(scores, truth).filter { $0.1 }.map(\.0), negatives = zip(scores, truth).filter { !$0.1 }.map(\.0)
    guard !positives.isEmpty, !negatives.isEmpty else { return nil }
    var wins = 0.0
    for p in positives { for n in negatives { wins += p > n ? 1 : (p == n ? 0.5 : 0) } }
    return wins / Double(positives.count * negatives.count)
}

/// Exact two-sided McNemar p: 2 · Σ_{k ≤ min(b, c)} C(b+c, k) / 2^(b+c), capped at 1.
private func exactMcNemarP(b: Int, c: Int) -> Double {
    let n = b + c
    guard n > 0 else { return 1 }
    var sum = 0.0, choose = 1.0
    for k in 0...min(b, c) {
        if k > 0 { choose = choose * Double(n - k + 1) / Double(k) }
        sum += choose
    }
    return min(1, 2 * sum / pow(2, Double(n)))
}
