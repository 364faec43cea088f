import Foundation

// Multi-reader multi-case (MRMC) analysis: the Obuchowski–Rockette model in Hillis's unified
// framework, as the R package MRMCaov (Smith & Hillis) computes it for a factorial design —
// every reader reads every case in every modality ("treatment"). Tests/ReaderStudyTests/MRMCTests
// reproduce MRMCaov's published VanDyke results (jackknife, DeLong and unbiased covariances; random,
// fixed-reader and fixed-case analyses; binary sensitivity) to their printed precision.
//
// The model: the figure of merit θ̂_tr of reader r in treatment t (AUC, sensitivity, specificity)
// varies with treatment, reader, their interaction and an error whose covariance across (t, r) pairs
// comes from the cases: Var = σ²_ε, Cov1 (same reader, other treatment), Cov2 (other reader, same
// treatment), Cov3 (other reader and treatment). The covariances are estimated from the cases
// (jackknife, DeLong or Gallas's unbiased estimator) and averaged over the pairs of each kind.

/// One row of a long-format ratings table (MRMCaov's layout: reader, treatment, case, truth, rating).
public struct MRMCRating: Sendable, Equatable, Codable {
    public var reader: String
    public var treatment: String
    public var caseID: String
    public var truth: Bool
    public var rating: Double
    public init(reader: String, treatment: String, caseID: String, truth: Bool, rating: Double) {
        self.reader = reader; self.treatment = treatment; self.caseID = caseID; self.truth = truth; self.rating = rating
    }
}

/// A factorial MRMC dataset: every (treatment, reader, case) rated exactly once. Levels keep the order
/// of first appearance (a study's stages stay in their order; differences read "first − second").
public struct MRMCData: Sendable, Equatable {
    public let treatments: [String]
    public let readers: [String]
    public let cases: [String]
    /// Truth per case (true = positive).
    public let truth: [Bool]
    /// Cases dropped because not everyone read them (only with `completeCasesOnly`).
    public let droppedCases: [String]
    private let values: [Double]

    public func rating(treatment t: Int, reader r: Int, case c: Int) -> Double {
        values[(t * readers.count + r) * cases.count + c]
    }

    /// Checks the design; `source` names the file in errors. With `completeCasesOnly`, cases that some
    /// reader did not read in some treatment are left out (and listed) instead of being an error.
    public init(_ rows: [MRMCRating], source: String? = nil, completeCasesOnly: Bool = false) throws {
        func fail(_ message: String) -> StudyError { StudyError(.unsupportedDesign, file: source, message) }
        guard !rows.isEmpty else { throw StudyError(.invalidRatings, file: source, "no ratings") }
        func levels(_ key: (MRMCRating) -> String) -> (names: [String], index: [String: Int]) {
            var names: [String] = [], index: [String: Int] = [:]
            for row in rows where index[key(row)] == nil { index[key(row)] = names.count; names.append(key(row)) }
            return (names, index)
        }
        let t = levels(\.treatment), r = levels(\.reader), c = levels(\.caseID)
        var truthByCase = [Bool?](repeating: nil, count: c.names.count)
        let nT = t.names.count, nR = r.names.count, nC = c.names.count
        var cells = [Double?](repeating: nil, count: nT * nR * nC)
        for row in rows {
            guard row.rating.isFinite else { throw StudyError(.invalidRatings, file: source, "case '\(row.caseID)', reader '\(row.reader)', treatment '\(row.treatment)': rating is not a finite number") }
            guard let ci = c.index[row.caseID], let ti = t.index[row.treatment], let ri = r.index[row.reader] else { continue }
            if let known = truthByCase[ci], known != row.truth {
                throw StudyError(.invalidRatings, file: source, "case '\(row.caseID)' has truth 1 in one row and 0 in another")
            }
            truthByCase[ci] = row.truth
            let k = (ti * nR + ri) * nC + ci
            if cells[k] != nil {
                throw StudyError(.invalidRatings, file: source, "case '\(row.caseID)' is rated twice by reader '\(row.reader)' in treatment '\(row.treatment)'")
            }
            cells[k] = row.rating
        }
        // A reader who read nothing in some treatment cannot be in a factorial analysis at all: say
        // which, and who did read that treatment (dropping cases would not help).
        for ti in 0..<nT {
            let readBy = (0..<nR).filter { ri in (0..<nC).contains { cells[(ti * nR + ri) * nC + $0] != nil } }
            if readBy.count < nR, let missing = (0..<nR).first(where: { !readBy.contains($0) }) {
                throw fail("reader '\(r.names[missing])' has no ratings in treatment '\(t.names[ti])', which was read by \(readBy.count) reader(s) (\(readBy.map { r.names[$0] }.joined(separator: ", "))): every reader must read every treatment; leave that reader or treatment out of the file")
            }
        }
        // Factorial design: keep the cases rated in every (treatment, reader) cell.
        var keep: [Int] = [], dropped: [String] = []
        var firstGap: String? = nil
        for ci in 0..<nC {
            var complete = true
            search: for ti in 0..<nT { for ri in 0..<nR where cells[(ti * nR + ri) * nC + ci] == nil {
                complete = false
                if firstGap == nil { firstGap = "reader '\(r.names[ri])' has no rating of case '\(c.names[ci])' in treatment '\(t.names[ti])'" }
                break search
            } }
            if complete { keep.append(ci) } else { dropped.append(c.names[ci]) }
        }
        if !dropped.isEmpty, !completeCasesOnly {
            throw fail("not a factorial design: \(dropped.count) of \(nC) cases were not read by every reader in every treatment (\(firstGap ?? "")); analyse the cases everyone read with --complete-cases")
        }
        guard !keep.isEmpty else { throw fail("no case was read by every reader in every treatment") }
        var values = [Double](repeating: 0, count: nT * nR * keep.count)
        for ti in 0..<nT { for ri in 0..<nR { for (j, ci) in keep.enumerated() {
            values[(ti * nR + ri) * keep.count + j] = cells[(ti * nR + ri) * nC + ci] ?? 0
        } } }
        let truth = keep.map { truthByCase[$0] ?? false }
        if !truth.contains(true) { throw fail("every case is negative (truth 0): an MRMC analysis needs positive and negative cases") }
        if !truth.contains(false) { throw fail("every case is positive (truth 1): an MRMC analysis needs positive and negative cases") }
        treatments = t.names; readers = r.names; cases = keep.map { c.names[$0] }
        self.truth = truth; self.droppedCases = dropped; self.values = values
    }
}

/// The reader's figure of merit.
public enum MRMCMetric: Sendable, Equatable {
    /// Empirical (trapezoidal) area under the ROC curve of the ratings (Mann–Whitney, ties count ½).
    case auc
    /// Share of positive cases called positive (rating ≥ threshold).
    case sensitivity(threshold: Double)
    /// Share of negative cases called negative (rating < threshold).
    case specificity(threshold: Double)

    /// MRMCaov's name for the metric.
    public var name: String {
        switch self {
        case .auc: return "empirical_auc"
        case .sensitivity: return "binary_sens"
        case .specificity: return "binary_spec"
        }
    }
}

public enum MRMCCovariance: String, Sendable, CaseIterable, Codable {
    /// Leave-one-case-out jackknife (any metric; MRMCaov's default).
    case jackknife
    /// DeLong's structural components (empirical AUC only).
    case delong = "DeLong"
    /// Gallas's unbiased U-statistic estimator (empirical AUC only).
    case unbiased
}

public enum MRMCFactors: String, Sendable, CaseIterable, Codable {
    /// Inference to readers and cases beyond the study's (the usual question).
    case randomReadersRandomCases = "random readers, random cases"
    /// Inference to these readers only.
    case fixedReaders = "fixed readers, random cases"
    /// Inference to these cases only.
    case fixedCases = "random readers, fixed cases"
}

/// Obuchowski–Rockette variance components (MRMCaov `summary(…)$vcov_comps`).
public struct ORVarianceComponents: Sendable, Equatable, Codable {
    public var reader: Double
    public var treatmentReader: Double
    public var error: Double
    public var cov1: Double
    public var cov2: Double
    public var cov3: Double
    /// Cov_k / Var (nil when the error variance is 0).
    public var correlations: [Double]? { error > 0 ? [cov1 / error, cov2 / error, cov3 / error] : nil }
}

/// Mean squares of the two-way treatment × reader ANOVA of the figures of merit.
public struct MRMCMeanSquares: Sendable, Equatable, Codable {
    public var treatment: Double
    public var reader: Double
    public var treatmentReader: Double
}

/// The global test that all treatments perform alike.
public struct MRMCGlobalTest: Sendable, Equatable, Codable {
    /// "F" (random readers, or fixed cases) or "X2" (fixed readers: χ² test).
    public var statistic: String
    public var value: Double?
    public var df1: Double
    /// Denominator degrees of freedom (Hillis 2007); nil for the χ² test.
    public var df2: Double?
    public var denominator: Double?
    public var p: Double?
}

public struct MRMCDifference: Sendable, Equatable, Codable {
    public var first: String
    public var second: String
    /// Reader for reader-specific differences (fixed readers), else nil.
    public var reader: String?
    public var estimate: Double
    public var standardError: Double?
    /// nil for normal-based (z) intervals.
    public var df: Double?
    public var lower: Double?
    public var upper: Double?
    /// t (with df) or z.
    public var statistic: Double?
    public var p: Double?
}

/// A treatment's reader-averaged figure of merit with its CI (based on that treatment's data only),
/// or, with `reader` set, one reader's figure of merit (fixed readers).
public struct MRMCMean: Sendable, Equatable, Codable {
    public var treatment: String
    public var reader: String?
    public var estimate: Double
    /// MS(R) within the treatment (random readers), else nil.
    public var readerMeanSquare: Double?
    /// Mean error variance within the treatment (fixed readers), else nil.
    public var errorVariance: Double?
    public var cov2: Double?
    public var standardError: Double?
    public var df: Double?
    public var lower: Double?
    public var upper: Double?
}

public struct MRMCResult: Sendable, Codable {
    public var metric: String
    /// nil when cases are fixed (no case covariance is needed).
    public var covariance: MRMCCovariance?
    public var factors: MRMCFactors
    public var confidenceLevel: Double
    public var treatments: [String]
    public var readers: [String]
    /// Cases in the analysis, and those the metric uses (positives for sensitivity, negatives for specificity).
    public var cases: Int
    public var positives: Int
    public var negatives: Int
    public var casesUsed: Int
    /// Figure of merit per treatment (outer) and reader (inner).
    public var performance: [[Double]]
    public var meanSquares: MRMCMeanSquares
    /// nil when cases are fixed.
    public var components: ORVarianceComponents?
    public var globalTest: MRMCGlobalTest
    public var differences: [MRMCDifference]
    public var treatmentMeans: [MRMCMean]
    /// Fixed readers: each reader's treatment differences and figures of merit.
    public var readerDifferences: [MRMCDifference]
    public var readerMeans: [MRMCMean]
    /// What the reader of the output must know (constraints applied, degenerate readers, dropped cases).
    public var notes: [String]
}

public enum MRMCAnalysis {
    /// Runs the OR analysis. Errors (typed, naming what is missing) when the design cannot support
    /// the requested analysis: one treatment, one reader with random readers, or a covariance
    /// method that does not fit the metric.
    public static func run(_ data: MRMCData, metric: MRMCMetric = .auc, covariance: MRMCCovariance = .jackknife,
                           factors: MRMCFactors = .randomReadersRandomCases, confidenceLevel: Double = 0.95) throws -> MRMCResult {
        let nT = data.treatments.count, nR = data.readers.count
        guard confidenceLevel > 0, confidenceLevel < 1 else { throw StudyError(.unsupportedDesign, "confidence level must be between 0 and 1 (got \(confidenceLevel))") }
        guard nT >= 2 else { throw StudyError(.unsupportedDesign, "only one treatment ('\(data.treatments.first ?? "")'): an MRMC comparison needs at least two") }
        if nR < 2, factors != .fixedReaders {
            throw StudyError(.unsupportedDesign, "only one reader ('\(data.readers.first ?? "")'): readers cannot be treated as random; analyse with fixed readers")
        }
        if metric != .auc, factors != .fixedCases, covariance != .jackknife {
            throw StudyError(.unsupportedDesign, "the \(covariance.rawValue) covariance is defined for the empirical AUC only; use the jackknife for \(metric.name)")
        }
        let used: [Int] = {
            switch metric {
            case .auc: return Array(data.cases.indices)
            case .sensitivity: return data.cases.indices.filter { data.truth[$0] }
            case .specificity: return data.cases.indices.filter { !data.truth[$0] }
            }
        }()
        let positivesUsed = used.filter { data.truth[$0] }.count, negativesUsed = used.count - positivesUsed
        switch metric {
        case .auc where positivesUsed < 2 || negativesUsed < 2:
            throw StudyError(.unsupportedDesign, "\(positivesUsed) positive and \(negativesUsed) negative case(s): the AUC's case covariance needs at least two of each")
        case .sensitivity where used.count < 2:
            throw StudyError(.unsupportedDesign, "\(used.count) positive case(s): sensitivity's case covariance needs at least two")
        case .specificity where used.count < 2:
            throw StudyError(.unsupportedDesign, "\(used.count) negative case(s): specificity's case covariance needs at least two")
        default: break
        }
        let groups = nT * nR   // group g = t * nR + r (treatment-major, as MRMCaov's interaction levels)
        let figures = Figures(data: data, metric: metric, cases: used)
        let theta = (0..<groups).map { figures.value(group: $0) }
        let performance = (0..<nT).map { t in (0..<nR).map { theta[t * nR + $0] } }

        var notes: [String] = []
        if !data.droppedCases.isEmpty {
            notes.append("\(data.droppedCases.count) case(s) not read by every reader in every treatment were left out: \(data.droppedCases.prefix(10).joined(separator: ", "))\(data.droppedCases.count > 10 ? ", …" : "")")
        }
        for t in 0..<nT { for r in 0..<nR {
            let ratings = used.map { data.rating(treatment: t, reader: r, case: $0) }
            if let first = ratings.first, ratings.allSatisfy({ $0 == first }) {
                notes.append("reader '\(data.readers[r])' gave every case the same rating (\(Self.number(first))) in '\(data.treatments[t])': \(metric == .auc ? "AUC 0.5 (all ties)" : "no discrimination")")
            }
        } }

        let ms = meanSquares(performance)
        let z = Distributions.normalQuantile((1 + confidenceLevel) / 2)
        func tq(_ df: Double?) -> Double? {
            guard let df, df.isFinite, df > 0 else { return nil }
            return Distributions.studentTQuantile((1 + confidenceLevel) / 2, df: df)
        }
        func truncated(_ lo: Double?, _ hi: Double?) -> (Double?, Double?) {
            // Figures of merit live in [0, 1]; MRMCaov truncates their CIs (not those of differences).
            (lo.map { max(0, $0) }, hi.map { min(1, $0) })
        }
        let pairs = (0..<nT).flatMap { a in ((a + 1)..<nT).map { (a, $0) } }
        let means = (0..<nT).map { t in performance[t].reduce(0, +) / Double(nR) }

        if factors == .fixedCases {
            let dfTR = Double((nT - 1) * (nR - 1))
            let f = ratio(ms.treatment, ms.treatmentReader)
            let global = MRMCGlobalTest(statistic: "F", value: f, df1: Double(nT - 1), df2: dfTR, denominator: finite(ms.treatmentReader),
                                        p: f.map { Distributions.fUpperTail($0, d1: Double(nT - 1), d2: dfTR) })
            let se = finite((2 / Double(nR) * ms.treatmentReader).squareRoot())
            let quantile = tq(dfTR)
            let diffs = pairs.map { a, b in
                difference(data.treatments[a], data.treatments[b], nil, means[a] - means[b], se, df: dfTR, quantile: quantile)
            }
            let tMeans = (0..<nT).map { t -> MRMCMean in
                let msR = variance(performance[t])
                let se = finite((msR / Double(nR)).squareRoot())
                let half = Self.q(tq(Double(nR - 1)), se)
                let (lo, hi) = truncated(half.map { means[t] - $0 }, half.map { means[t] + $0 })
                return MRMCMean(treatment: data.treatments[t], reader: nil, estimate: means[t], readerMeanSquare: msR, errorVariance: nil, cov2: nil,
                                standardError: se, df: Double(nR - 1), lower: lo, upper: hi)
            }
            return MRMCResult(metric: metric.name, covariance: nil, factors: factors, confidenceLevel: confidenceLevel,
                              treatments: data.treatments, readers: data.readers, cases: data.cases.count,
                              positives: data.truth.filter { $0 }.count, negatives: data.truth.filter { !$0 }.count, casesUsed: used.count,
                              performance: performance, meanSquares: ms, components: nil, globalTest: global, differences: diffs,
                              treatmentMeans: tMeans, readerDifferences: [], readerMeans: [], notes: notes)
        }

        let cov = try figures.covariance(covariance, groups: groups)
        func sameTest(_ g: Int, _ h: Int) -> Bool { g / nR == h / nR }
        func sameReader(_ g: Int, _ h: Int) -> Bool { g % nR == h % nR }
        /// Mean of cov over ordered pairs satisfying `keep` (0 when there are none, as for one reader).
        func meanCov(_ keep: (Int, Int) -> Bool) -> Double {
            var sum = 0.0, n = 0
            for g in 0..<groups { for h in 0..<groups where keep(g, h) { sum += cov[g][h]; n += 1 } }
            return n > 0 ? sum / Double(n) : 0
        }
        let varError = (0..<groups).map { cov[$0][$0] }.reduce(0, +) / Double(groups)
        let cov1 = meanCov { $0 != $1 && !sameTest($0, $1) && sameReader($0, $1) }
        let cov2 = nR > 1 ? meanCov { sameTest($0, $1) && !sameReader($0, $1) } : 0
        let cov3 = nR > 1 ? meanCov { !sameTest($0, $1) && !sameReader($0, $1) } : 0
        let components = ORVarianceComponents(reader: (ms.reader - ms.treatmentReader) / Double(nT) - cov1 + cov3,
                                              treatmentReader: ms.treatmentReader - varError + cov1 + (cov2 - cov3),
                                              error: varError, cov1: cov1, cov2: cov2, cov3: cov3)
        // Per-treatment pieces: error variance and Cov2 within that treatment's block.
        func block(_ t: Int) -> (variance: Double, cov2: Double) {
            let gs = (0..<nR).map { t * nR + $0 }
            let v = gs.map { cov[$0][$0] }.reduce(0, +) / Double(nR)
            var s = 0.0, n = 0
            for g in gs { for h in gs where g != h { s += cov[g][h]; n += 1 } }
            return (v, n > 0 ? s / Double(n) : 0)
        }

        if factors == .fixedReaders {
            let denominator = varError - cov1 + Double(nR - 1) * (cov2 - cov3)
            let x2 = ratio(Double(nT - 1) * ms.treatment, denominator)
            let global = MRMCGlobalTest(statistic: "X2", value: x2, df1: Double(nT - 1), df2: nil, denominator: finite(denominator),
                                        p: x2.map { Distributions.chiSquareUpperTail($0, k: Double(nT - 1)) })
            let se = denominator > 0 ? finite((2 / Double(nR) * denominator).squareRoot()) : nil
            let diffs = pairs.map { a, b in
                difference(data.treatments[a], data.treatments[b], nil, means[a] - means[b], se, df: nil, quantile: z)
            }
            let tMeans = (0..<nT).map { t -> MRMCMean in
                let (v, c2) = block(t)
                let se = finite(((v + Double(nR - 1) * max(c2, 0)) / Double(nR)).squareRoot())
                let (lo, hi) = truncated(se.map { means[t] - z * $0 }, se.map { means[t] + z * $0 })
                return MRMCMean(treatment: data.treatments[t], reader: nil, estimate: means[t], readerMeanSquare: nil, errorVariance: v, cov2: c2,
                                standardError: se, df: nil, lower: lo, upper: hi)
            }
            var readerDiffs: [MRMCDifference] = []
            for r in 0..<nR {
                let gs = (0..<nT).map { $0 * nR + r }
                let v = gs.map { cov[$0][$0] }.reduce(0, +) / Double(nT)
                var s = 0.0, n = 0
                for g in gs { for h in gs where g != h { s += cov[g][h]; n += 1 } }
                let c1 = n > 0 ? s / Double(n) : 0
                let se = v - c1 > 0 ? finite((2 * (v - c1)).squareRoot()) : nil
                for (a, b) in pairs {
                    readerDiffs.append(difference(data.treatments[a], data.treatments[b], data.readers[r],
                                                  performance[a][r] - performance[b][r], se, df: nil, quantile: z))
                }
            }
            var readerMeans: [MRMCMean] = []
            for t in 0..<nT { for r in 0..<nR {
                let g = t * nR + r, est = performance[t][r]
                let se = finite(cov[g][g].squareRoot())
                let (lo, hi) = truncated(se.map { est - z * $0 }, se.map { est + z * $0 })
                readerMeans.append(MRMCMean(treatment: data.treatments[t], reader: data.readers[r], estimate: est, readerMeanSquare: nil,
                                            errorVariance: cov[g][g], cov2: nil, standardError: se, df: nil, lower: lo, upper: hi))
            } }
            return MRMCResult(metric: metric.name, covariance: covariance, factors: factors, confidenceLevel: confidenceLevel,
                              treatments: data.treatments, readers: data.readers, cases: data.cases.count,
                              positives: data.truth.filter { $0 }.count, negatives: data.truth.filter { !$0 }.count, casesUsed: used.count,
                              performance: performance, meanSquares: ms, components: components, globalTest: global, differences: diffs,
                              treatmentMeans: tMeans, readerDifferences: readerDiffs, readerMeans: readerMeans, notes: notes)
        }

        // Random readers and random cases: Hillis's (2007) denominator df. When Cov2 < Cov3 the
        // difference is replaced by 0 (the constraint that keeps the denominator ≥ MS(T:R)).
        if cov2 < cov3 {
            notes.append("Cov2 < Cov3 (\(Self.number(cov2)) < \(Self.number(cov3))): Cov2 − Cov3 set to 0 in the F denominator and its df (Hillis's constraint)")
        }
        let extra = Double(nR) * max(cov2 - cov3, 0)
        let denominator = ms.treatmentReader + extra
        let df2: Double? = ms.treatmentReader > 0
            ? finite(denominator * denominator / (ms.treatmentReader * ms.treatmentReader / Double((nT - 1) * (nR - 1)))) : nil
        if ms.treatmentReader == 0 { notes.append("MS(T:R) = 0 (every reader shows the same treatment difference): the denominator df are undefined") }
        let f = ratio(ms.treatment, denominator)
        let global = MRMCGlobalTest(statistic: "F", value: f, df1: Double(nT - 1), df2: df2, denominator: finite(denominator),
                                    p: f.flatMap { fv in df2.map { Distributions.fUpperTail(fv, d1: Double(nT - 1), d2: $0) } })
        let se = denominator > 0 ? finite((2 / Double(nR) * denominator).squareRoot()) : nil
        let quantile = tq(df2)
        let diffs = pairs.map { a, b in
            difference(data.treatments[a], data.treatments[b], nil, means[a] - means[b], se, df: df2, quantile: quantile)
        }
        let tMeans = (0..<nT).map { t -> MRMCMean in
            let msR = variance(performance[t])
            let c2 = block(t).cov2
            let se = finite((msR / Double(nR) + max(c2, 0)).squareRoot())
            let top = msR + Double(nR) * max(c2, 0)
            let df = msR > 0 ? finite(top * top / (msR * msR / Double(nR - 1))) : nil
            let half = Self.q(tq(df), se)
            let (lo, hi) = truncated(half.map { means[t] - $0 }, half.map { means[t] + $0 })
            return MRMCMean(treatment: data.treatments[t], reader: nil, estimate: means[t], readerMeanSquare: msR, errorVariance: nil, cov2: c2,
                            standardError: se, df: df, lower: lo, upper: hi)
        }
        return MRMCResult(metric: metric.name, covariance: covariance, factors: factors, confidenceLevel: confidenceLevel,
                          treatments: data.treatments, readers: data.readers, cases: data.cases.count,
                          positives: data.truth.filter { $0 }.count, negatives: data.truth.filter { !$0 }.count, casesUsed: used.count,
                          performance: performance, meanSquares: ms, components: components, globalTest: global, differences: diffs,
                          treatmentMeans: tMeans, readerDifferences: [], readerMeans: [], notes: notes)
    }

    // MARK: pieces

    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
    static func ratio(_ a: Double, _ b: Double) -> Double? { b > 0 ? finite(a / b) : nil }
    /// Half-width of an interval: quantile × standard error, when both exist.
    static func q(_ quantile: Double?, _ se: Double?) -> Double? { quantile.flatMap { q in se.map { q * $0 } } }
    static func number(_ x: Double) -> String { String(format: "%.6g", x) }

    /// Sample variance (n − 1).
    static func variance(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let m = v.reduce(0, +) / Double(v.count)
        return v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)
    }

    /// Two-way ANOVA without replication of the figures of merit [treatment][reader].
    static func meanSquares(_ y: [[Double]]) -> MRMCMeanSquares {
        let nT = y.count, nR = y[0].count
        let grand = y.joined().reduce(0, +) / Double(nT * nR)
        let tm = y.map { $0.reduce(0, +) / Double(nR) }
        let rm = (0..<nR).map { r in y.map { $0[r] }.reduce(0, +) / Double(nT) }
        let msT = Double(nR) * tm.reduce(0) { $0 + ($1 - grand) * ($1 - grand) } / Double(nT - 1)
        let msR = nR > 1 ? Double(nT) * rm.reduce(0) { $0 + ($1 - grand) * ($1 - grand) } / Double(nR - 1) : 0
        var ss = 0.0
        for t in 0..<nT { for r in 0..<nR { let e = y[t][r] - tm[t] - rm[r] + grand; ss += e * e } }
        let msTR = nR > 1 ? ss / Double((nT - 1) * (nR - 1)) : 0
        return MRMCMeanSquares(treatment: msT, reader: msR, treatmentReader: msTR)
    }

    /// A difference with its CI and test: t-based when `df` is given, else z-based.
    static func difference(_ a: String, _ b: String, _ reader: String?, _ estimate: Double, _ se: Double?, df: Double?, quantile: Double?) -> MRMCDifference {
        let half = q(quantile, se)
        let stat = se.flatMap { $0 > 0 ? finite(estimate / $0) : nil }
        let p: Double? = stat.flatMap { s in
            if let df { return Distributions.studentTTwoSidedP(s, df: df) }
            return Distributions.normalTwoSidedP(s)
        }
        return MRMCDifference(first: a, second: b, reader: reader, estimate: estimate, standardError: se, df: df,
                              lower: half.map { estimate - $0 }, upper: half.map { estimate + $0 }, statistic: stat, p: p)
    }
}

/// The figures of merit of every (treatment, reader) group over the cases a metric uses, and their
/// covariance across groups.
private struct Figures {
    let data: MRMCData
    let metric: MRMCMetric
    let cases: [Int]
    let nR: Int
    /// AUC: case indices of the positives and negatives.
    let positives: [Int], negatives: [Int]

    init(data: MRMCData, metric: MRMCMetric, cases: [Int]) {
        self.data = data; self.metric = metric; self.cases = cases; nR = data.readers.count
        positives = cases.filter { data.truth[$0] }; negatives = cases.filter { !data.truth[$0] }
    }

    func ratings(_ g: Int) -> (Int) -> Double {
        let t = g / nR, r = g % nR
        return { data.rating(treatment: t, reader: r, case: $0) }
    }

    /// ψ matrix (positives × negatives) of one group: 1 when the positive is rated higher, ½ on ties.
    func psi(_ g: Int) -> [[Double]] {
        let x = ratings(g)
        return positives.map { p in let xp = x(p); return negatives.map { n in let xn = x(n); return xp > xn ? 1 : (xp == xn ? 0.5 : 0) } }
    }

    /// 1 when the case is "correct" for a binary metric (called positive for sensitivity, negative for specificity).
    func hits(_ g: Int) -> [Double] {
        let x = ratings(g)
        switch metric {
        case .auc: return []
        case .sensitivity(let th): return cases.map { x($0) >= th ? 1 : 0 }
        case .specificity(let th): return cases.map { x($0) < th ? 1 : 0 }
        }
    }

    func value(group g: Int) -> Double {
        switch metric {
        case .auc:
            let s = psi(g).joined().reduce(0, +)
            return s / Double(positives.count * negatives.count)
        case .sensitivity, .specificity:
            return hits(g).reduce(0, +) / Double(cases.count)
        }
    }

    func covariance(_ method: MRMCCovariance, groups: Int) throws -> [[Double]] {
        switch method {
        case .jackknife: return jackknife(groups: groups)
        case .delong: return try deLong(groups: groups)
        case .unbiased: return try unbiased(groups: groups)
        }
    }

    /// Leave-one-case-out values θ_(i) per group; cov = (n−1)/n Σ (θ_(i) − θ̄)(θ_(i) − θ̄)ᵀ.
    func jackknife(groups: Int) -> [[Double]] {
        var pseudo: [[Double]] = []   // [group][case]
        for g in 0..<groups {
            switch metric {
            case .auc:
                let m = Double(positives.count), n = Double(negatives.count)
                let s = psi(g)
                let total = s.joined().reduce(0, +)
                let rowSums = s.map { $0.reduce(0, +) }
                var colSums = [Double](repeating: 0, count: negatives.count)
                for row in s { for (j, v) in row.enumerated() { colSums[j] += v } }
                // Leaving out a positive removes its row; a negative, its column (exact with ties).
                var byCase = [Int: Double]()
                for (i, c) in positives.enumerated() { byCase[c] = m > 1 ? (total - rowSums[i]) / ((m - 1) * n) : .nan }
                for (j, c) in negatives.enumerated() { byCase[c] = n > 1 ? (total - colSums[j]) / (m * (n - 1)) : .nan }
                pseudo.append(cases.map { byCase[$0] ?? .nan })
            case .sensitivity, .specificity:
                let h = hits(g), k = h.reduce(0, +), n = Double(h.count)
                pseudo.append(h.map { n > 1 ? (k - $0) / (n - 1) : .nan })
            }
        }
        let n = Double(cases.count)
        let centred = pseudo.map { row -> [Double] in let m = row.reduce(0, +) / n; return row.map { $0 - m } }
        var cov = [[Double]](repeating: [Double](repeating: 0, count: groups), count: groups)
        for g in 0..<groups { for h in g..<groups {
            var s = 0.0
            for i in 0..<cases.count { s += centred[g][i] * centred[h][i] }
            let v = (n - 1) / n * s
            cov[g][h] = v; cov[h][g] = v
        } }
        return cov.map { $0.map { $0.isFinite ? $0 : 0 } }
    }

    /// DeLong, DeLong & Clarke-Pearson (1988): S10/m + S01/n from the structural components.
    func deLong(groups: Int) throws -> [[Double]] {
        guard metric == .auc else { throw StudyError(.unsupportedDesign, "the DeLong covariance is defined for the empirical AUC only") }
        let m = positives.count, n = negatives.count
        guard m > 1, n > 1 else { throw StudyError(.unsupportedDesign, "the DeLong covariance needs at least two positive and two negative cases") }
        var v10: [[Double]] = [], v01: [[Double]] = []
        for g in 0..<groups {
            let s = psi(g)
            let auc = s.joined().reduce(0, +) / Double(m * n)
            v10.append(s.map { $0.reduce(0, +) / Double(n) - auc })
            var cols = [Double](repeating: 0, count: n)
            for row in s { for (j, v) in row.enumerated() { cols[j] += v } }
            v01.append(cols.map { $0 / Double(m) - auc })
        }
        var cov = [[Double]](repeating: [Double](repeating: 0, count: groups), count: groups)
        for g in 0..<groups { for h in g..<groups {
            var s10 = 0.0, s01 = 0.0
            for i in 0..<m { s10 += v10[g][i] * v10[h][i] }
            for j in 0..<n { s01 += v01[g][j] * v01[h][j] }
            let v = s10 / Double(m - 1) / Double(m) + s01 / Double(n - 1) / Double(n)
            cov[g][h] = v; cov[h][g] = v
        } }
        return cov
    }

    /// Gallas, Pennello & Myers (2007) unbiased estimator for a fully crossed design (MRMCaov's
    /// `unbiased_balanced`): the U-statistic moments with δ = (mn)² / (m(m−1) n(n−1)).
    func unbiased(groups: Int) throws -> [[Double]] {
        guard metric == .auc else { throw StudyError(.unsupportedDesign, "the unbiased covariance is defined for the empirical AUC only") }
        let m = Double(positives.count), n = Double(negatives.count)
        guard m > 1, n > 1 else { throw StudyError(.unsupportedDesign, "the unbiased covariance needs at least two positive and two negative cases") }
        let delta = (m * n) * (m * n) / (m * (m - 1) * n * (n - 1))
        let psis = (0..<groups).map { psi($0) }
        let totals = psis.map { $0.joined().reduce(0, +) }
        let rowSums = psis.map { s in s.map { $0.reduce(0, +) } }
        let colSums = psis.map { s -> [Double] in
            var cols = [Double](repeating: 0, count: negatives.count)
            for row in s { for (j, v) in row.enumerated() { cols[j] += v } }
            return cols
        }
        var cov = [[Double]](repeating: [Double](repeating: 0, count: groups), count: groups)
        for g in 0..<groups { for h in g..<groups {
            var rows = 0.0, cols = 0.0, cells = 0.0
            for i in 0..<positives.count { rows += rowSums[g][i] * rowSums[h][i] }
            for j in 0..<negatives.count { cols += colSums[g][j] * colSums[h][j] }
            for i in 0..<positives.count { for j in 0..<negatives.count { cells += psis[g][i][j] * psis[h][i][j] } }
            let v = ((1 - delta) * totals[g] * totals[h] + delta * (rows + cols - cells)) / ((m * n) * (m * n))
            cov[g][h] = v; cov[h][g] = v
        } }
        return cov
    }
}
