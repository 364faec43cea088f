import Foundation
import ECGFormats
import CaseAnalysis
import Imaging

/// The model's probability for the study's finding on every case (computed once per bundle and
/// weights hash, cached in the study database).
public struct ModelScores: Sendable {
    public var modelID: String
    public var displayName: String
    public var isSynthetic: Bool
    public var disclaimer: String
    public var weightsSHA256: String
    public var target: HeadTarget
    public var threshold: Double
    public var probabilities: [String: Double]

    public static func compute(store: StudyStore, cases: CaseAnalysis, readerOptions: ECGFileReader.Options = .init()) throws -> ModelScores {
        let def = store.definition
        guard let spec = def.model else { throw StudyError(.modelUnavailable, "the definition names no model head") }
        let b = cases.model
        guard b.headTargets.contains(spec.target) else {
            throw StudyError(.modelUnavailable, "model \(b.id) has no output \(spec.target) (it has \(b.headTargets.map(\.description).joined(separator: ", ")))")
        }
        var scores = try store.cachedModelScores(modelID: b.id, weightsSHA256: b.weightsSHA256, target: spec.target.description)
        var fresh: [String: Double] = [:]
        for c in def.cases where scores[c.id] == nil {
            let record: ECGRecord
            do { record = try ECGFileReader.read(url: URL(fileURLWithPath: c.ecg), options: readerOptions) } catch {
                throw StudyError(.missingFile, file: c.ecg, "case '\(c.id)': \(error)")
            }
            let analysis = try cases.run(record, options: CaseOptions(parts: .findings)).analysis
            guard let p = analysis.risks.first(where: { $0.target == spec.target })?.probability
                    ?? analysis.subtypes.first(where: { $0.target == spec.target })?.probability else {
                throw StudyError(.modelUnavailable, "model \(b.id) gave no score for \(spec.target)")
            }
            fresh[c.id] = p
        }
        if !fresh.isEmpty {
            try store.storeModelScores(fresh, modelID: b.id, weightsSHA256: b.weightsSHA256, target: spec.target.description)
            scores.merge(fresh) { $1 }
        }
        return ModelScores(modelID: b.id, displayName: b.displayName, isSynthetic: b.isSynthetic, disclaimer: b.disclaimer,
                           weightsSHA256: b.weightsSHA256, target: spec.target, threshold: spec.threshold ?? 0.5,
                           probabilities: scores)
    }
}

/// Diagnostic performance of one set of reads (a reader in a stage, a role, or the model).
public struct PerformanceRow: Sendable {
    public var reader: String
    public var role: String
    public var stage: String
    public var cases: Int
    public var confusion: ConfusionCounts
    public var auc: Double?
    /// Percentile bootstrap CI — only when both classes have ≥ `SmallSampleAUC.minimumClassSize` cases.
    public var aucBootstrap: BootstrapResult?
    /// The interval used instead when a class is smaller (and the report warns).
    public var aucSmallSample: SmallSampleAUC?
    public var subtypeAccuracy: Proportion?
    /// The AUC's 95 % interval, whichever way it was computed.
    public var aucInterval: ConfidenceInterval? { aucSmallSample?.interval ?? aucBootstrap?.interval }
    public var roc: [ROCPoint]
}

/// A paired comparison of two stages for the same reader, over the cases read in both.
public struct StageComparison: Sendable {
    public var reader: String
    public var first: String
    public var second: String
    public var pairedCases: Int
    public var accuracyFirst: Proportion
    public var accuracySecond: Proportion
    public var mcNemar: McNemarResult
    public var deLong: DeLongResult?
    public var identicalDecisions: Proportion
    public var kappa: Double?
}

/// How far readers agree on the call within a stage: Fleiss' κ over the cases every reader of the
/// stage has answered, and Cohen's κ for each pair of readers over the cases both answered.
public struct StageAgreement: Sendable {
    public struct Pair: Sendable { public var first: String; public var second: String; public var cases: Int; public var kappa: Double? }
    public var stage: String
    public var readers: Int
    public var cases: Int
    public var fleissKappa: Double?
    public var pairs: [Pair]
}

public struct StudyReport: Sendable {
    public var studyID: String
    public var title: String
    public var generatedAt: Date
    public var resamples: Int
    public var bootstrapSeed: UInt64
    public var rows: [PerformanceRow]
    public var comparisons: [StageComparison]
    public var model: ModelScores?
    public var modelRow: PerformanceRow?
    public var answerLines: [[String]]
    /// Index of `terminal_size` in an answer line.
    static let terminalColumn = 15
    /// Each stage's required terminal size (stages without one are absent).
    public var minimumTerminals: [String: TerminalSize] = [:]
    public var totalCases: Int
    /// The MRMC analysis of the stages (each stage a modality, the 10-level rating), or why there is none.
    public var mrmc: MRMCResult?
    public var mrmcUnavailable: String?
    /// The same analysis of sensitivity and specificity of the call (rating ≥ 6 = finding present).
    public var mrmcOfTheCall: [MRMCResult] = []
    public var agreement: [StageAgreement] = []
    /// Seconds on case per reader and stage ("reader\u{1}stage").
    public var readingTimes: [String: MedianIQR] = [:]

    /// Builds every metric from the store (and the model's scores, when given).
    public static func build(store: StudyStore, model: ModelScores?, resamples: Int = 10_000) throws -> StudyReport {
        let def = store.definition
        let truth = Dictionary(uniqueKeysWithValues: def.cases.map { ($0.id, $0.truth) })
        let seed = def.seed
        func row(reader: String, role: String, stage: String, caseIDs: [String], decisions: [Bool], ratings: [Double],
                 subtypes: [String?]?, salt: String) -> PerformanceRow {
            let t = caseIDs.map { truth[$0]?.finding ?? false }
            var subtypeAcc: Proportion? = nil
            if let subtypes, !def.questions.subtypes.isEmpty {
                // Cases with a stated true subtype (positives): the reader's subtype must match; "none" = nil.
                var k = 0, n = 0
                for (id, s) in zip(caseIDs, subtypes) {
                    guard let tr = truth[id], tr.finding, let ts = tr.subtype else { continue }
                    n += 1; if s == ts { k += 1 }
                }
                if n > 0 { subtypeAcc = Proportion(successes: k, total: n) }
            }
            let small = SmallSampleAUC.interval(scores: ratings, truth: t)
            return PerformanceRow(reader: reader, role: role, stage: stage, cases: caseIDs.count,
                                  confusion: ConfusionCounts(decisions: decisions, truth: t),
                                  auc: ROC.auc(scores: ratings, truth: t),
                                  aucBootstrap: small == nil ? Bootstrap.aucInterval(scores: ratings, truth: t, resamples: resamples, seed: seed ^ stableHash(salt)) : nil,
                                  aucSmallSample: small,
                                  subtypeAccuracy: subtypeAcc, roc: ROC.curve(scores: ratings, truth: t))
        }

        var rows: [PerformanceRow] = []
        var comparisons: [StageComparison] = []
        var answerLines: [[String]] = []
        var pooled: [String: (ids: [String], d: [Bool], r: [Double], s: [String?])] = [:]
        var pooledReaders: [String: Set<String>] = [:]
        var decisionsByStage: [String: [String: [String: Bool]]] = [:]   // stage → reader → case → call
        var readingTimes: [String: MedianIQR] = [:]
        let readers = try store.readers()
        for reader in readers {
            var byStage: [String: [String: StudyStore.Answer]] = [:]
            for stage in def.stages {
                let answers = try store.answers(reader: reader.id, stage: stage.id)
                guard !answers.isEmpty else { continue }
                byStage[stage.id] = Dictionary(uniqueKeysWithValues: answers.map { ($0.caseID, $0) })
                decisionsByStage[stage.id, default: [:]][reader.id] = Dictionary(uniqueKeysWithValues: answers.map { ($0.caseID, $0.finding) })
                readingTimes["\(reader.id)\u{1}\(stage.id)"] = MedianIQR(answers.map(\.secondsOnCase))
                let ids = answers.map(\.caseID)
                rows.append(row(reader: reader.id, role: reader.role, stage: stage.id, caseIDs: ids,
                                decisions: answers.map(\.finding), ratings: answers.map(\.rating), subtypes: answers.map(\.subtype),
                                salt: "\(reader.id)/\(stage.id)"))
                for key in ["all readers", "role: \(reader.role)"] {
                    let k = "\(key)\u{1}\(stage.id)"
                    var p = pooled[k] ?? ([], [], [], [])
                    p.ids += ids; p.d += answers.map(\.finding); p.r += answers.map(\.rating); p.s += answers.map(\.subtype)
                    pooled[k] = p
                    pooledReaders[k, default: []].insert(reader.id)
                }
                for a in answers {
                    let tr = truth[a.caseID]
                    answerLines.append([reader.id, reader.role, stage.id, a.caseID, String(a.position), a.finding ? "1" : "0",
                                        String(a.confidence), String(a.rating), a.subtype ?? "", a.note ?? "",
                                        String(format: "%.1f", a.secondsOnCase), StudyStore.iso(a.answeredAt),
                                        tr.map { $0.finding ? "1" : "0" } ?? "", tr?.subtype ?? "",
                                        model?.probabilities[a.caseID].map { String(format: "%.6f", $0) } ?? "",
                                        a.terminal.map(\.csvText) ?? ""])
                }
            }
            // Every later stage against the first, and each stage against the one before it.
            let done = def.stages.map(\.id).filter { byStage[$0] != nil }
            var pairs: [(String, String)] = []
            for i in done.indices.dropFirst() {
                pairs.append((done[i - 1], done[i]))
                if i > 1 { pairs.append((done[0], done[i])) }
            }
            for (a, b) in pairs {
                guard let A = byStage[a], let B = byStage[b] else { continue }
                let ids = def.cases.map(\.id).filter { A[$0] != nil && B[$0] != nil }
                guard !ids.isEmpty else { continue }
                let t = ids.map { truth[$0]?.finding ?? false }
                let dA = ids.map { A[$0]!.finding }, dB = ids.map { B[$0]!.finding }
                let correctA = zip(dA, t).map { $0 == $1 }, correctB = zip(dB, t).map { $0 == $1 }
                comparisons.append(StageComparison(
                    reader: reader.id, first: a, second: b, pairedCases: ids.count,
                    accuracyFirst: Proportion(successes: correctA.filter { $0 }.count, total: ids.count),
                    accuracySecond: Proportion(successes: correctB.filter { $0 }.count, total: ids.count),
                    mcNemar: McNemar.test(first: correctA, second: correctB),
                    deLong: DeLong.test(first: ids.map { A[$0]!.rating }, second: ids.map { B[$0]!.rating }, truth: t),
                    identicalDecisions: Agreement.identical(dA, dB), kappa: Agreement.cohenKappa(dA, dB)))
            }
        }
        // Each reader and stage against the model on the same cases (paired: same cases, same truth).
        if let model {
            for reader in readers {
                for stage in def.stages {
                    let answers = try store.answers(reader: reader.id, stage: stage.id).filter { model.probabilities[$0.caseID] != nil }
                    guard !answers.isEmpty else { continue }
                    let t = answers.map { truth[$0.caseID]?.finding ?? false }
                    let probs = answers.map { model.probabilities[$0.caseID]! }
                    let readerCorrect = zip(answers, t).map { $0.finding == $1 }
                    let modelCorrect = zip(probs, t).map { ($0 >= model.threshold) == $1 }
                    comparisons.append(StageComparison(
                        reader: reader.id, first: stage.id, second: "model \(model.modelID)", pairedCases: answers.count,
                        accuracyFirst: Proportion(successes: readerCorrect.filter { $0 }.count, total: answers.count),
                        accuracySecond: Proportion(successes: modelCorrect.filter { $0 }.count, total: answers.count),
                        mcNemar: McNemar.test(first: readerCorrect, second: modelCorrect),
                        deLong: DeLong.test(first: answers.map(\.rating), second: probs, truth: t),
                        identicalDecisions: Agreement.identical(answers.map(\.finding), probs.map { $0 >= model.threshold }),
                        kappa: Agreement.cohenKappa(answers.map(\.finding), probs.map { $0 >= model.threshold })))
                }
            }
        }
        for key in pooled.keys.sorted() {
            let parts = key.split(separator: "\u{1}", maxSplits: 1).map(String.init)
            let p = pooled[key]!
            // A pool of one reader repeats that reader's row; a role pool equal to the all-readers pool adds nothing.
            if (pooledReaders[key]?.count ?? 0) < 2 { continue }
            if parts[0].hasPrefix("role:"), pooledReaders[key] == pooledReaders["all readers\u{1}\(parts[1])"] { continue }
            rows.append(row(reader: parts[0], role: parts[0].hasPrefix("role: ") ? String(parts[0].dropFirst(6)) : "all",
                            stage: parts[1], caseIDs: p.ids, decisions: p.d, ratings: p.r, subtypes: p.s, salt: key))
        }
        var modelRow: PerformanceRow? = nil
        if let model {
            let ids = def.cases.map(\.id).filter { model.probabilities[$0] != nil }
            let probs = ids.map { model.probabilities[$0]! }
            modelRow = row(reader: "model \(model.modelID)", role: "model", stage: "ECG (model)", caseIDs: ids,
                           decisions: probs.map { $0 >= model.threshold }, ratings: probs, subtypes: nil, salt: "model")
        }
        let allRatings = try ratings(store: store)
        let mrmc = mrmcAnalysis(allRatings)
        // The 10-level rating is ≥ 6 exactly when the reader called the finding present.
        let ofTheCall = mrmc.result == nil ? [] : [MRMCMetric.sensitivity(threshold: 6), .specificity(threshold: 6)].compactMap { mrmcAnalysis(allRatings, metric: $0).result }
        var agreement: [StageAgreement] = []
        let caseIDs = def.cases.map(\.id)
        for stage in def.stages {
            guard let byReader = decisionsByStage[stage.id], byReader.count >= 2 else { continue }
            let ids = readers.map(\.id).filter { byReader[$0] != nil }
            let calls = ids.map { byReader[$0] ?? [:] }
            let common = caseIDs.filter { c in calls.allSatisfy { $0[c] != nil } }
            let counts = common.map { c -> [Int] in let yes = calls.filter { $0[c] == true }.count; return [yes, calls.count - yes] }
            var pairs: [StageAgreement.Pair] = []
            for i in ids.indices { for j in ids.indices where j > i {
                let both = caseIDs.filter { calls[i][$0] != nil && calls[j][$0] != nil }
                pairs.append(StageAgreement.Pair(first: ids[i], second: ids[j], cases: both.count,
                                                 kappa: Agreement.cohenKappa(both.map { calls[i][$0] == true }, both.map { calls[j][$0] == true })))
            } }
            agreement.append(StageAgreement(stage: stage.id, readers: ids.count, cases: common.count,
                                            fleissKappa: common.isEmpty ? nil : Agreement.fleissKappa(counts), pairs: pairs))
        }
        return StudyReport(studyID: def.id, title: def.title, generatedAt: store.now(), resamples: resamples, bootstrapSeed: seed,
                           rows: rows, comparisons: comparisons, model: model, modelRow: modelRow,
                           answerLines: answerLines,
                           minimumTerminals: Dictionary(def.stages.compactMap { st in st.minimumTerminal.map { (st.id, $0) } }, uniquingKeysWith: { a, _ in a }),
                           totalCases: def.cases.count, mrmc: mrmc.result, mrmcUnavailable: mrmc.reason,
                           mrmcOfTheCall: ofTheCall, agreement: agreement, readingTimes: readingTimes)
    }

    /// Every confirmed answer as a long-format rating: reader, stage (the treatment), case, truth,
    /// and the 10-level rating (call and confidence) — what `study export` writes for MRMCaov/iMRMC.
    public static func ratings(store: StudyStore) throws -> [MRMCRating] {
        let def = store.definition
        let truth = Dictionary(uniqueKeysWithValues: def.cases.map { ($0.id, $0.truth.finding) })
        var out: [MRMCRating] = []
        for reader in try store.readers() {
            for stage in def.stages {
                for a in try store.answers(reader: reader.id, stage: stage.id) {
                    guard let t = truth[a.caseID] else { continue }
                    out.append(MRMCRating(reader: reader.id, treatment: stage.id, caseID: a.caseID, truth: t, rating: a.rating))
                }
            }
        }
        return out
    }

    /// The study's MRMC analysis: empirical AUC, jackknife, random readers and cases over the cases
    /// every reader has read in every stage so far; one reader → fixed readers (the only analysis a
    /// single reader allows). The reason when no analysis is possible yet.
    static func mrmcAnalysis(_ ratings: [MRMCRating], metric: MRMCMetric = .auc) -> (result: MRMCResult?, reason: String?) {
        let stages = Set(ratings.map(\.treatment))
        if stages.count < 2 { return (nil, "needs answers in at least two stages (has \(stages.count))") }
        // Readers still in the middle of the study (no answers yet in some stage) wait for the next report.
        var stagesOf: [String: Set<String>] = [:]
        for r in ratings { stagesOf[r.reader, default: []].insert(r.treatment) }
        let waiting = stagesOf.filter { $0.value.count < stages.count }.keys.sorted()
        let readers = Set(stagesOf.keys).subtracting(waiting)
        if readers.isEmpty { return (nil, "no reader has answers in every stage yet") }
        do {
            // Every stage shows every case: the study is factorial, and a case some reader has not yet
            // answered in some stage waits (it is left out, not analysed as partially paired).
            let data = try MRMCData(ratings.filter { readers.contains($0.reader) }, design: .factorial, completeCasesOnly: true)
            var result = try MRMCAnalysis.run(data, metric: metric, factors: readers.count > 1 ? .randomReadersRandomCases : .fixedReaders)
            if readers.count == 1 { result.notes.insert("one reader: readers are fixed (the result holds for this reader only)", at: 0) }
            if !waiting.isEmpty { result.notes.insert("left out until they have answers in every stage: \(waiting.joined(separator: ", "))", at: 0) }
            return (result, nil)
        } catch let e as StudyError {
            return (nil, e.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    // MARK: output

    /// Writes metrics.csv, comparisons.csv, answers.csv, report.md and roc.png (each atomically).
    public func write(to dir: URL) throws -> [URL] {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw StudyError(.storage, file: dir.path, "cannot create the report folder: \(error)")
        }
        let files: [(String, Data)] = [
            ("metrics.csv", Data(metricsCSV.utf8)), ("comparisons.csv", Data(comparisonsCSV.utf8)),
            ("answers.csv", Data(answersCSV.utf8)), ("report.md", Data(markdown.utf8)), ("roc.png", try rocChartPNG()),
        ] + (mrmc.map { first in
            // One table: the AUC analysis, then sensitivity and specificity of the call (same columns).
            let rest = mrmcOfTheCall.map { $0.csv.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n") }
            return [("mrmc.csv", Data(([first.csv] + rest).joined().utf8))]
        } ?? [])
        var out: [URL] = []
        for (name, data) in files {
            let url = dir.appendingPathComponent(name)
            do { try AtomicFile.write(data, to: url) } catch { throw StudyError(.storage, file: url.path, "cannot write: \(error)") }
            out.append(url)
        }
        return out
    }

    static func f(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }
    /// RFC 4180 quoting after spreadsheet-formula neutralising (a note `=HYPERLINK(…)` stays text).
    static func csvField(_ raw: String) -> String {
        let s = SpreadsheetCell.neutralise(raw)
        return s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    var allRows: [PerformanceRow] { rows + (modelRow.map { [$0] } ?? []) }

    public var metricsCSV: String {
        var head = ["reader", "role", "stage", "cases", "tp", "fp", "tn", "fn"]
        for m in ["accuracy", "sensitivity", "specificity", "ppv", "npv"] { head += [m, m + "_ci_low", m + "_ci_high"] }
        head += ["auc", "auc_ci_low", "auc_ci_high", "auc_bootstrap_valid", "subtype_accuracy", "subtype_n",
                 "seconds_median", "seconds_q1", "seconds_q3", "auc_ci_method"]
        var lines = [head.joined(separator: ",")]
        for r in allRows {
            let c = r.confusion
            var cells = [r.reader, r.role, r.stage, String(r.cases), String(c.truePositives), String(c.falsePositives),
                         String(c.trueNegatives), String(c.falseNegatives)]
            for p in [c.accuracy, c.sensitivity, c.specificity, c.positivePredictiveValue, c.negativePredictiveValue] {
                cells += [Self.f(p.value), Self.f(p.wilson95?.lower), Self.f(p.wilson95?.upper)]
            }
            cells += [Self.f(r.auc), Self.f(r.aucInterval?.lower), Self.f(r.aucInterval?.upper),
                      r.aucBootstrap.map { String($0.validResamples) } ?? "", Self.f(r.subtypeAccuracy?.value),
                      r.subtypeAccuracy.map { String($0.total) } ?? ""]
            let time = readingTimes["\(r.reader)\u{1}\(r.stage)"]
            cells += [Self.f(time?.median, 1), Self.f(time?.lowerQuartile, 1), Self.f(time?.upperQuartile, 1)]
            cells.append(r.aucSmallSample != nil ? SmallSampleAUC.method : (r.aucBootstrap != nil ? "percentile bootstrap" : ""))
            lines.append(cells.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var comparisonsCSV: String {
        var lines = ["reader,stage_a,stage_b,paired_cases,accuracy_a,accuracy_b,mcnemar_b,mcnemar_c,mcnemar_exact_p,mcnemar_chi2_cc,mcnemar_p_cc,auc_a,auc_b,delong_z,delong_p,identical_decisions,cohen_kappa"]
        for c in comparisons {
            lines.append([c.reader, c.first, c.second, String(c.pairedCases), Self.f(c.accuracyFirst.value), Self.f(c.accuracySecond.value),
                          String(c.mcNemar.b), String(c.mcNemar.c), Self.f(c.mcNemar.exactP), Self.f(c.mcNemar.chiSquare), Self.f(c.mcNemar.continuityP),
                          Self.f(c.deLong?.aucFirst), Self.f(c.deLong?.aucSecond), Self.f(c.deLong?.z), Self.f(c.deLong?.p),
                          Self.f(c.identicalDecisions.value), Self.f(c.kappa)].map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var answersCSV: String {
        let head = "reader,role,stage,case_id,position,finding,confidence,rating,subtype,note,seconds_on_case,answered_at,truth_finding,truth_subtype,model_probability,terminal_size"
        return ([head] + answerLines.map { $0.map(Self.csvField).joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    public var markdown: String {
        func pct(_ p: Proportion) -> String {
            guard let v = p.value, let ci = p.wilson95 else { return "—" }
            return String(format: "%.1f %% (%.1f–%.1f)", v * 100, ci.lower * 100, ci.upper * 100) + " [\(p.successes)/\(p.total)]"
        }
        func auc(_ r: PerformanceRow) -> String {
            guard let a = r.auc else { return "—" }
            if let small = r.aucSmallSample {
                return String(format: "%.3f (%.3f–%.3f) ⚠", a, small.interval.lower, small.interval.upper)
            }
            guard let b = r.aucBootstrap else { return String(format: "%.3f", a) }
            return String(format: "%.3f (%.3f–%.3f)", a, b.interval.lower, b.interval.upper)
        }
        var md = ["# Reader study report: \(title)", "",
                  "Study `\(studyID)`, \(totalCases) cases, generated \(StudyStore.iso(generatedAt)) by `ecg2cmr study report`.", ""]
        if let m = model {
            md.append("Model: **\(m.displayName)** (`\(m.modelID)`, weights SHA-256 `\(m.weightsSHA256.prefix(16))…`), output `\(m.target)`, called positive at probability ≥ \(m.threshold).")
            if m.isSynthetic {
                md.append("")
                md.append("> **Demonstration model** trained on synthetic data — its numbers say nothing about clinical performance. \(m.disclaimer)")
            }
        } else {
            md.append("No model comparison (no model bundle available or `--no-model`).")
        }
        md += ["", "## Diagnostic performance", "",
               "Percentages with Wilson 95 % CIs; AUC from the reader's call and 1–5 confidence (10-level rating) with a percentile bootstrap 95 % CI (\(resamples) resamples, seeded; ⚠ = a class of fewer than \(SmallSampleAUC.minimumClassSize) cases, see below). Pooled rows treat every read as independent.", "",
               "| reader | stage | n | accuracy | sensitivity | specificity | PPV | NPV | AUC (95 % CI) | subtype correct |",
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in allRows {
            let c = r.confusion
            md.append("| \(r.reader) (\(r.role)) | \(r.stage) | \(r.cases) | \(pct(c.accuracy)) | \(pct(c.sensitivity)) | \(pct(c.specificity)) | \(pct(c.positivePredictiveValue)) | \(pct(c.negativePredictiveValue)) | \(auc(r)) | \(r.subtypeAccuracy.map(pct) ?? "—") |")
        }
        let small = allRows.compactMap { r in r.aucSmallSample.map { (r, $0) } }
        if !small.isEmpty {
            md += ["", "⚠ **Too few cases for a bootstrap AUC interval** (fewer than \(SmallSampleAUC.minimumClassSize) positive or negative cases): "
                   + "these rows show the wider of DeLong's interval and an exact Clopper–Pearson interval on the smaller class instead, "
                   + "and even that is rough — read their AUC as a description of these cases, not an estimate.", ""]
            for (r, s) in small {
                md.append("- \(r.reader) · \(r.stage): \(s.positives) positive, \(s.negatives) negative cases")
            }
        }
        md += ["", "## Change between stages, and readers against the model (same reader, same cases)", ""]
        if comparisons.isEmpty {
            md.append("No reader has answers in two stages yet.")
        } else {
            md += ["McNemar on correct/incorrect (exact binomial, and χ² with continuity correction); DeLong for the paired AUCs; consistency = identical yes/no decisions.", "",
                   "| reader | stages | n | accuracy | McNemar b/c | exact p | χ² (cc) p | AUC | DeLong z | DeLong p | identical | κ |",
                   "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for c in comparisons {
                let acc = String(format: "%.1f → %.1f %%", (c.accuracyFirst.value ?? 0) * 100, (c.accuracySecond.value ?? 0) * 100)
                let aucs = c.deLong.map { String(format: "%.3f → %.3f", $0.aucFirst, $0.aucSecond) } ?? "—"
                md.append("| \(c.reader) | \(c.first) → \(c.second) | \(c.pairedCases) | \(acc) | \(c.mcNemar.b)/\(c.mcNemar.c) | \(Self.f(c.mcNemar.exactP, 4)) | \(Self.f(c.mcNemar.continuityP, 4)) | \(aucs) | \(Self.f(c.deLong?.z, 2)) | \(Self.f(c.deLong?.p, 4)) | \(c.identicalDecisions.value.map { String(format: "%.1f %%", $0 * 100) } ?? "—") | \(Self.f(c.kappa, 3)) |")
            }
        }
        md.append("")
        if let mrmc {
            md.append(mrmc.markdown)
            if !mrmcOfTheCall.isEmpty {
                md += ["", "Sensitivity and specificity of the call (finding present = rating ≥ 6), same analysis (jackknife; sensitivity over the positive cases, specificity over the negatives):", "",
                       "| measure | " + mrmc.treatments.joined(separator: " | ") + " | difference (\(mrmc.level) CI) | p |",
                       "| --- | " + mrmc.treatments.map { _ in "---" }.joined(separator: " | ") + " | --- | --- |"]
                for r in mrmcOfTheCall {
                    let means = r.treatmentMeans.map { "\(MRMCResult.fixed($0.estimate, 3)) (\(MRMCResult.fixed($0.lower, 3))–\(MRMCResult.fixed($0.upper, 3)))" }
                    for d in r.differences {
                        md.append("| \(r.metricLabel) | " + means.joined(separator: " | ") + " | \(d.first) − \(d.second): \(MRMCResult.fixed(d.estimate, 3)) (\(MRMCResult.fixed(d.lower, 3)) to \(MRMCResult.fixed(d.upper, 3))) | \(MRMCResult.p(d.p)) |")
                    }
                }
            }
        } else {
            md += ["## Multi-reader multi-case analysis", "", "No MRMC analysis: \(mrmcUnavailable ?? "not enough answers")."]
        }
        md += ["", "## Agreement between readers and time per case", ""]
        if agreement.isEmpty {
            md.append("Fewer than two readers have answered in any stage yet.")
        } else {
            md += ["Agreement on the yes/no call: Fleiss' κ over the cases every reader of the stage answered; Cohen's κ per pair of readers.", "",
                   "| stage | readers | cases | Fleiss κ | Cohen κ per pair |", "| --- | --- | --- | --- | --- |"]
            for a in agreement {
                let pairs = a.pairs.map { "\($0.first)–\($0.second) \(Self.f($0.kappa, 3).isEmpty ? "—" : Self.f($0.kappa, 3)) (n \($0.cases))" }.joined(separator: "; ")
                md.append("| \(a.stage) | \(a.readers) | \(a.cases) | \(Self.f(a.fleissKappa, 3).isEmpty ? "—" : Self.f(a.fleissKappa, 3)) | \(pairs) |")
            }
        }
        let timed = rows.filter { readingTimes["\($0.reader)\u{1}\($0.stage)"] != nil }
        if !timed.isEmpty {
            md += ["", "| reader | stage | answers | seconds per case, median (IQR) |", "| --- | --- | --- | --- |"]
            for r in timed {
                guard let t = readingTimes["\(r.reader)\u{1}\(r.stage)"] else { continue }
                md.append("| \(r.reader) | \(r.stage) | \(t.count) | \(Self.f(t.median, 1)) (\(Self.f(t.lowerQuartile, 1))–\(Self.f(t.upperQuartile, 1))) |")
            }
        }
        md += ["", "## Reading conditions", "",
               "Terminal size (columns×rows) each answer was given on; the trace scale depends on it. \"unknown\" = answers recorded before sizes were kept; \"headless\" = scripted answers (`study run --headless`), read on no terminal.", "",
               "| reader | stage | required | terminal sizes (answers) |", "| --- | --- | --- | --- |"]
        var sizes: [String: [String: Int]] = [:], order: [String] = []
        for line in answerLines where line.count > Self.terminalColumn {
            let key = line[0] + "\u{1}" + line[2]
            if sizes[key] == nil { order.append(key) }
            sizes[key, default: [:]][line[Self.terminalColumn].isEmpty ? "unknown" : line[Self.terminalColumn], default: 0] += 1
        }
        for key in order {
            let parts = key.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
            let required = minimumTerminals[parts[1]].map { "≥ \($0)" } ?? "—"
            let used = (sizes[key] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key.replacingOccurrences(of: "x", with: "×")) (\($0.value))" }.joined(separator: ", ")
            md.append("| \(parts[0]) | \(parts[1]) | \(required) | \(used) |")
        }
        if order.isEmpty { md.append("No answers yet.") }
        md += ["", "## Files", "",
               "- `metrics.csv` — the table above with every CI bound", "- `comparisons.csv` — stage comparisons",
               "- `mrmc.csv` — the multi-reader multi-case analysis (reader AUCs, stage CIs, differences, variance components)",
               "- `answers.csv` — every confirmed answer with the hidden truth (operator eyes only)", "- `roc.png` — ROC curves of the readers and the model", ""]
        return md.joined(separator: "\n")
    }

    // MARK: ROC chart

    static let palette: [RGBColor] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40),
                                      RGBColor(148, 103, 189), RGBColor(140, 86, 75), RGBColor(227, 119, 194), RGBColor(23, 190, 207)]

    /// ROC curves of every reader×stage and the model, with a legend (PNG through CMRExport).
    public func rocChartPNG() throws -> Data {
        let w = 960, h = 720
        var img = RGBImage(width: w, height: h, fill: .white)
        let left = 70, top = 50, side = 600
        // The unit square is drawn `inset` pixels inside the frame, so a curve along an edge (a perfect
        // reader: FPR 0 then TPR 1) lies inside the plot, visible, not on the frame line.
        let inset = 12, plot = side - 2 * inset
        let grey = RGBColor(200, 200, 200)
        img.drawText(("ROC: " + title).prefix(70).description, x: left, y: 15, color: .black, scale: 2)
        for k in 0...10 {
            let x = left + inset + k * plot / 10, y = top + side - inset - k * plot / 10
            img.drawLine(x0: x, y0: top, x1: x, y1: top + side, color: k % 5 == 0 ? RGBColor(170, 170, 170) : RGBColor(235, 235, 235))
            img.drawLine(x0: left, y0: y, x1: left + side, y1: y, color: k % 5 == 0 ? RGBColor(170, 170, 170) : RGBColor(235, 235, 235))
            if k % 5 == 0 {
                let label = String(format: "%.1f", Double(k) / 10)
                img.drawText(label, x: x - 8, y: top + side + 8, color: .black)
                img.drawText(label, x: left - 30, y: y - 3, color: .black)
            }
        }
        img.drawLine(x0: left + inset, y0: top + side - inset, x1: left + side - inset, y1: top + inset, color: grey)
        img.strokeRect(x: left, y: top, width: side + 1, height: side + 1, color: .black)
        img.drawText("1 - specificity", x: left + side / 2 - 45, y: top + side + 25, color: .black)
        img.drawText("sensitivity", x: 5, y: top - 15, color: .black)
        func px(_ p: ROCPoint) -> (Int, Int) {
            (left + inset + Int((p.falsePositiveRate * Double(plot)).rounded()), top + side - inset - Int((p.truePositiveRate * Double(plot)).rounded()))
        }
        var legend: [(String, RGBColor, Int)] = []
        let curves = rows.filter { !$0.reader.hasPrefix("role:") }
        for (i, r) in curves.enumerated() where r.roc.count > 1 {
            let colour = Self.palette[i % Self.palette.count]
            for (a, b) in zip(r.roc, r.roc.dropFirst()) {
                let (x0, y0) = px(a), (x1, y1) = px(b)
                img.drawLine(x0: x0, y0: y0, x1: x1, y1: y1, color: colour, thickness: r.reader == "all readers" ? 3 : 2)
            }
            legend.append(("\(r.reader) \(r.stage) AUC \(Self.f(r.auc, 3))", colour, r.reader == "all readers" ? 3 : 2))
        }
        if let m = modelRow, m.roc.count > 1 {
            for (a, b) in zip(m.roc, m.roc.dropFirst()) {
                let (x0, y0) = px(a), (x1, y1) = px(b)
                img.drawLine(x0: x0, y0: y0, x1: x1, y1: y1, color: .black, thickness: 3)
            }
            legend.append(("\(m.reader)\(model?.isSynthetic == true ? " (demo)" : "") AUC \(Self.f(m.auc, 3))", .black, 3))
        }
        var ly = top
        for (text, colour, thick) in legend.prefix(40) {
            img.fillRect(x: left + side + 20, y: ly + 2, width: 18, height: thick, color: colour)
            img.drawText(String(text.prefix(38)), x: left + side + 44, y: ly, color: .black)
            ly += 14
        }
        return try PNGCodec.encode(img, text: [PNGText("Software", "ecg2cmr study report"), PNGText("Title", "ROC \(studyID)")])
    }
}

/// `study status`: progress per reader and stage, wash-out state.
public struct StudyStatusReport {
    public let text: String
    public init(store: StudyStore) throws {
        let def = store.definition
        var lines = ["Study \(def.id): \(def.title)", "Database \(store.path)", "\(def.cases.count) cases; stages: " +
                     def.stages.map { "\($0.id)" + ($0.washoutDays > 0 ? " (wash-out \(Self.days($0.washoutDays)))" : "") }.joined(separator: " → "), ""]
        let readers = try store.readers()
        if readers.isEmpty { lines.append("No readers yet: ecg2cmr study add-reader --db \(store.path) --id R1 --name NAME") }
        for r in readers {
            lines.append("\(r.id)  \(r.name)  [\(r.role)]")
            let sessions = try store.stageSessions(reader: r.id)
            for s in def.stages {
                let n = try store.answers(reader: r.id, stage: s.id).count
                var state: String
                if let session = sessions[s.id] {
                    state = session.completedAt.map { "finished \(StudyStore.iso($0))" } ?? "in progress since \(StudyStore.iso(session.startedAt))"
                    if let by = session.overrideBy { state += " — wash-out overridden by \(by): \(session.overrideReason ?? "")" }
                } else {
                    switch try store.availability(reader: r.id, stage: s.id) {
                    case .ready: state = "ready"
                    case .washout(_, let from): state = "wash-out until \(StudyStore.iso(from))"
                    case .blocked(_, let prev): state = "after \(prev)"
                    default: state = "not started"
                    }
                }
                lines.append("  \(s.id.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(n).leftPad(4))/\(def.cases.count)  \(state)")
            }
        }
        text = lines.joined(separator: "\n")
    }
    static func days(_ d: Double) -> String { d == d.rounded() ? "\(Int(d)) d" : String(format: "%.2f d", d) }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
