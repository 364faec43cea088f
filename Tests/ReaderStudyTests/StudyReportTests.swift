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
    let model = try ModelScores.compute(store: store, pipeline: pipeline)
    #expect(model.probabilities.count == 10)
    // Cached: a second computation reads the stored scores.
    #expect(try store.cachedModelScores(modelID: model.modelID, weightsSHA256: model.weightsSHA256, target: "risk.cm").count == 10)
    let report = try StudyReport.build(store: store, model: model, resamples: 500)

    let row = try #require(report.rows.first { $0.reader == "J1" && $0.stage == "ecg-only" })
    let answers = try store.answers(reader: "J1", stage: "ecg-only")
    let t = answers.map { truth[$0.caseID]!.finding }
    #expect(row.confusion == ConfusionCounts(decisions: answers.map(\.finding), truth: t))
    #expect(row.auc == ROC.auc(scores: answers.map(\.rating), truth: t))
    #expect(row.aucBootstrap?.requestedResamples == 500)
    #expect(report.rows.contains { $0.reader == "all readers" })
    #expect(!report.rows.contains { $0.reader == "role: senior" }, "a one-reader pool repeats that reader")
    let cmp = try #require(report.comparisons.first { $0.reader == "J1" && $0.first == "ecg-only" && $0.second == "ecg+real-cmr" })
    #expect(cmp.pairedCases == 10)
    let vsModel = try #require(report.comparisons.first { $0.reader == "S1" && $0.first == "ecg-only" && $0.second.hasPrefix("model") })
    #expect(vsModel.pairedCases == 10 && vsModel.deLong != nil)
    let second = Dictionary(uniqueKeysWithValues: try store.answers(reader: "J1", stage: "ecg+real-cmr").map { ($0.caseID, $0) })
    let first = Dictionary(uniqueKeysWithValues: answers.map { ($0.caseID, $0) })
    let ids = store.definition.cases.map(\.id)
    let expected = McNemar.test(first: ids.map { first[$0]!.finding == truth[$0]!.finding },
                                second: ids.map { second[$0]!.finding == truth[$0]!.finding })
    #expect(cmp.mcNemar == expected)
    #expect(cmp.identicalDecisions == Agreement.identical(ids.map { first[$0]!.finding }, ids.map { second[$0]!.finding }))
    let modelRow = try #require(report.modelRow)
    #expect(modelRow.auc == ROC.auc(scores: ids.map { model.probabilities[$0]! }, truth: ids.map { truth[$0]!.finding }))

    let out = dir.appendingPathComponent("report")
    let files = try report.write(to: out)
    #expect(files.map(\.lastPathComponent).sorted() == ["answers.csv", "comparisons.csv", "metrics.csv", "report.md", "roc.png"])
    let png = try Data(contentsOf: out.appendingPathComponent("roc.png"))
    #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && png.count > 5_000)
    let csv = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8)
    #expect(csv.split(separator: "\n").count == report.rows.count + 2)
    let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(md.contains("McNemar") && md.contains("J1") && md.contains(model.modelID))
    #expect(try String(contentsOf: out.appendingPathComponent("answers.csv"), encoding: .utf8).split(separator: "\n").count == 41)
}
