import Foundation

// Multi-reader multi-case (MRMC) analysis: the Obuchowski–Rockette model in Hillis's unified
// framework, as the R package MRMCaov (Smith & Hillis) computes it for a factorial design —
// every reader reads every case in every modality ("treatment") — and for cases nested within
// treatments (separate patients per modality) or partially paired. Tests/ReaderStudyTests/MRMCTests
// reproduce MRMCaov's published VanDyke results (jackknife, DeLong and unbiased covariances; random,
// fixed-reader and fixed-case analyses; binary sensitivity) to their printed precision, and MRMCaov's
// own code on VanDyke, Franken and Kundel (MRMCDesign) to 1e-6 relative.
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

/// How cases relate to treatments (MRMCaov's `design`). Readers are crossed with treatments in every
/// design here: each reader reads in every treatment.
public enum MRMCDesign: String, Sendable, CaseIterable, Codable {
    /// Every reader reads every case in every treatment (MRMCaov design 1).
    case factorial
    /// Each case is read under one treatment only, by every reader: separate patient groups per
    /// modality (MRMCaov design 3). Cases of different treatments are independent, so Cov1 = Cov3 = 0.
    case casesNestedInTreatments = "cases nested within treatments"
    /// Each case is read by every reader in some of the treatments, not all (MRMCaov design −1,
    /// "factorial (partially paired)"): the covariances come from the cases two treatments share.
    case partiallyPaired = "partially paired"

    /// MRMCaov's code for the design.
    public var mrmcaovCode: Int {
        switch self {
        case .factorial: return 1
        case .casesNestedInTreatments: return 3
        case .partiallyPaired: return -1
        }
    }
}

/// An MRMC dataset: every reader rates, exactly once, each case in each treatment the case is read in
/// (all treatments for a factorial design, one for cases nested within treatments). Levels keep the
/// order of first appearance (a study's stages stay in their order; differences read "first − second").
public struct MRMCData: Sendable, Equatable {
    public let treatments: [String]
    public let readers: [String]
    public let cases: [String]
    /// Truth per case (true = positive).
    public let truth: [Bool]
    public let design: MRMCDesign
    /// Cases dropped because some reader did not read them (only with `completeCasesOnly`).
    public let droppedCases: [String]
    private let values: [Double]
    /// read[t * cases.count + c]: case c is read (by every reader) in treatment t.
    private let read: [Bool]

    /// The rating; meaningful only where `isRead(treatment:case:)`.
    public func rating(treatment t: Int, reader r: Int, case c: Int) -> Double {
        values[(t * readers.count + r) * cases.count + c]
    }

    public func isRead(treatment t: Int, case c: Int) -> Bool { read[t * cases.count + c] }

    /// Indices of the cases read in treatment t.
    public func cases(inTreatment t: Int) -> [Int] { cases.indices.filter { isRead(treatment: t, case: $0) } }

    /// Checks the design; `source` names the file in errors. `design` nil detects it from which
    /// treatments each case is read in, as MRMCaov's `get_design` does: all → factorial, one →
    /// nested, some → partially paired. With `completeCasesOnly`, cases that some reader did not read
    /// (in a treatment the case is read in; for a declared factorial design, in any treatment) are
    /// left out and listed instead of being an error.
    public init(_ rows: [MRMCRating], source: String? = nil, design declared: MRMCDesign? = nil, completeCasesOnly: Bool = false) throws {
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
        // A reader who read nothing in some treatment cannot be in any of these designs (readers are
        // crossed with treatments): say which, and who did read that treatment (dropping cases would not help).
        for ti in 0..<nT {
            let readBy = (0..<nR).filter { ri in (0..<nC).contains { cells[(ti * nR + ri) * nC + $0] != nil } }
            if readBy.count < nR, let missing = (0..<nR).first(where: { !readBy.contains($0) }) {
                throw fail("reader '\(r.names[missing])' has no ratings in treatment '\(t.names[ti])', which was read by \(readBy.count) reader(s) (\(readBy.map { r.names[$0] }.joined(separator: ", "))): every reader must read every treatment; leave that reader or treatment out of the file")
            }
        }
        func rated(_ ti: Int, _ ri: Int, _ ci: Int) -> Bool { cells[(ti * nR + ri) * nC + ci] != nil }
        // A case is read in a treatment when anyone rated it there; then everyone must have.
        var keep: [Int] = [], dropped: [String] = []
        var firstGap: String? = nil
        for ci in 0..<nC {
            let readIn = (0..<nT).filter { ti in (0..<nR).contains { rated(ti, $0, ci) } }
            if declared == .casesNestedInTreatments, readIn.count > 1 {
                throw fail("case '\(c.names[ci])' is read in treatments \(readIn.map { "'\(t.names[$0])'" }.joined(separator: " and ")): with cases nested within treatments each case is read under one treatment only")
            }
            let required = declared == .factorial ? Array(0..<nT) : readIn
            var complete = true
            search: for ti in required { for ri in 0..<nR where !rated(ti, ri, ci) {
                complete = false
                if firstGap == nil { firstGap = "reader '\(r.names[ri])' has no rating of case '\(c.names[ci])' in treatment '\(t.names[ti])'" }
                break search
            } }
            if complete { keep.append(ci) } else { dropped.append(c.names[ci]) }
        }
        if !dropped.isEmpty, !completeCasesOnly {
            if declared == .factorial {
                throw fail("not a factorial design: \(dropped.count) of \(nC) cases were not read by every reader in every treatment (\(firstGap ?? "")); analyse the cases everyone read with --complete-cases")
            }
            throw fail("\(dropped.count) of \(nC) cases were not read by every reader in a treatment they were read in (\(firstGap ?? "")): each case must be read by every reader in each treatment it is read in; analyse the cases everyone read with --complete-cases")
        }
        guard !keep.isEmpty else {
            throw fail("no case was read by every reader " + (declared == .factorial ? "in every treatment" : "in the treatments it was read in"))
        }
        let nK = keep.count
        var read = [Bool](repeating: false, count: nT * nK)
        for ti in 0..<nT { for (j, ci) in keep.enumerated() { read[ti * nK + j] = rated(ti, 0, ci) } }
        for ti in 0..<nT where !(0..<nK).contains(where: { read[ti * nK + $0] }) {
            throw fail("no case left in treatment '\(t.names[ti])' after leaving out the cases not every reader read")
        }
        let counts = (0..<nK).map { j in (0..<nT).filter { read[$0 * nK + j] }.count }
        let found: MRMCDesign = counts.allSatisfy { $0 == nT } ? .factorial
            : (counts.allSatisfy { $0 == 1 } ? .casesNestedInTreatments : .partiallyPaired)
        if let declared, declared != found {
            throw fail("declared \(declared.rawValue), but the cases are \(found == .factorial ? "read in every treatment (factorial)" : found == .casesNestedInTreatments ? "each read under one treatment (nested within treatments)" : "read in some treatments and not others (partially paired)")")
        }
        var values = [Double](repeating: 0, count: nT * nR * nK)
        for ti in 0..<nT { for ri in 0..<nR { for (j, ci) in keep.enumerated() {
            values[(ti * nR + ri) * nK + j] = cells[(ti * nR + ri) * nC + ci] ?? 0
        } } }
        let truth = keep.map { truthByCase[$0] ?? false }
        if !truth.contains(true) { throw fail("every case is negative (truth 0): an MRMC analysis needs positive and negative cases") }
        if !truth.contains(false) { throw fail("every case is positive (truth 1): an MRMC analysis needs positive and negative cases") }
        treatments = t.names; readers = r.names; cases = keep.map { c.names[$0] }
        self.truth = truth; self.design = found; self.droppedCases = dropped; self.values = values; self.read = read
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
    /// How cases relate to treatments (factorial, nested, partially paired).
    public var design: MRMCDesign
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
        // Each treatment's figures come from the cases read in it (all of them when factorial).
        for t in 0..<nT {
            let inT = used.filter { data.isRead(treatment: t, case: $0) }
            let positivesUsed = inT.filter { data.truth[$0] }.count, negativesUsed = inT.count - positivesUsed
            let within = data.design == .factorial ? "" : " in treatment '\(data.treatments[t])'"
            switch metric {
            case .auc where positivesUsed < 2 || negativesUsed < 2:
                throw StudyError(.unsupportedDesign, "\(positivesUsed) positive and \(negativesUsed) negative case(s)\(within): the AUC's case covariance needs at least two of each")
            case .sensitivity where inT.count < 2:
                throw StudyError(.unsupportedDesign, "\(inT.count) positive case(s)\(within): sensitivity's case covariance needs at least two")
            case .specificity where inT.count < 2:
                throw StudyError(.unsupportedDesign, "\(inT.count) negative case(s)\(within): specificity's case covariance needs at least two")
            default: break
            }
        }
        let groups = nT * nR   // group g = t * nR + r (treatment-major, as MRMCaov's interaction levels)
        let figures = Figures(data: data, metric: metric, cases: used)
        let theta = (0..<groups).map { figures.value(group: $0) }
        let performance = (0..<nT).map { t in (0..<nR).map { theta[t * nR + $0] } }

        var notes: [String] = []
        if !data.droppedCases.isEmpty {
            notes.append("\(data.droppedCases.count) case(s) not read by every reader\(data.design == .factorial ? " in every treatment" : " in a treatment they were read in") were left out: \(data.droppedCases.prefix(10).joined(separator: ", "))\(data.droppedCases.count > 10 ? ", …" : "")")
        }
        for t in 0..<nT { for r in 0..<nR {
            let ratings = used.filter { data.isRead(treatment: t, case: $0) }.map { data.rating(treatment: t, reader: r, case: $0) }
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
            return MRMCResult(metric: metric.name, covariance: nil, factors: factors, design: data.design, confidenceLevel: confidenceLevel,
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
        // Cases nested within treatments: two treatments share no case, so Cov1 = Cov3 = 0 by design,
        // as MRMCaov sets them. (The jackknife and unbiased estimates across treatments are 0 up to
        // rounding anyway: a group's leave-one-out values average to its own figure over its own
        // cases. With one reader MRMCaov calls the data design 2 and keeps that rounding-level Cov1,
        // −4.8e−31 for Kundel 1 vs 2, reader 1.)
        let nested = data.design == .casesNestedInTreatments
        let cov1 = nested ? 0 : meanCov { $0 != $1 && !sameTest($0, $1) && sameReader($0, $1) }
        let cov2 = nR > 1 ? meanCov { sameTest($0, $1) && !sameReader($0, $1) } : 0
        let cov3 = nR > 1 && !nested ? meanCov { !sameTest($0, $1) && !sameReader($0, $1) } : 0
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
                let c1 = n > 0 && !nested ? s / Double(n) : 0
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
            return MRMCResult(metric: metric.name, covariance: covariance, factors: factors, design: data.design, confidenceLevel: confidenceLevel,
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
        return MRMCResult(metric: metric.name, covariance: covariance, factors: factors, design: data.design, confidenceLevel: confidenceLevel,
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
/// covariance across groups. A group's figure comes from the cases read in its treatment (all cases
/// for a factorial design).
private struct Figures {
    let data: MRMCData
    let metric: MRMCMetric
    let cases: [Int]
    let nR: Int
    /// Per treatment: the used cases read in it, and (AUC) its positives and negatives.
    let inTreatment: [[Int]], positives: [[Int]], negatives: [[Int]]

    init(data: MRMCData, metric: MRMCMetric, cases: [Int]) {
        self.data = data; self.metric = metric; self.cases = cases; nR = data.readers.count
        let inT = data.treatments.indices.map { t in cases.filter { data.isRead(treatment: t, case: $0) } }
        inTreatment = inT
        positives = inT.map { $0.filter { data.truth[$0] } }; negatives = inT.map { $0.filter { !data.truth[$0] } }
    }

    func ratings(_ g: Int) -> (Int) -> Double {
        let t = g / nR, r = g % nR
        return { data.rating(treatment: t, reader: r, case: $0) }
    }

    /// ψ matrix (positives × negatives) of one group: 1 when the positive is rated higher, ½ on ties.
    func psi(_ g: Int) -> [[Double]] {
        let x = ratings(g), t = g / nR
        return positives[t].map { p in let xp = x(p); return negatives[t].map { n in let xn = x(n); return xp > xn ? 1 : (xp == xn ? 0.5 : 0) } }
    }

    /// 1 when the case is "correct" for a binary metric (called positive for sensitivity, negative
    /// for specificity), over the group's cases.
    func hits(_ g: Int) -> [Double] {
        let x = ratings(g), own = inTreatment[g / nR]
        switch metric {
        case .auc: return []
        case .sensitivity(let th): return own.map { x($0) >= th ? 1 : 0 }
        case .specificity(let th): return own.map { x($0) < th ? 1 : 0 }
        }
    }

    func value(group g: Int) -> Double {
        let t = g / nR
        switch metric {
        case .auc:
            let s = psi(g).joined().reduce(0, +)
            return s / Double(positives[t].count * negatives[t].count)
        case .sensitivity, .specificity:
            return hits(g).reduce(0, +) / Double(inTreatment[t].count)
        }
    }

    func covariance(_ method: MRMCCovariance, groups: Int) throws -> [[Double]] {
        switch method {
        case .jackknife: return jackknife(groups: groups)
        case .delong: return try deLong(groups: groups)
        case .unbiased: return try unbiased(groups: groups)
        }
    }

    /// Leave-one-case-out values θ_(i) per group over every case the metric uses (a case the group
    /// did not read leaves its figure as it is, as in MRMCaov's jackknife over all cases);
    /// cov = (n−1)/n Σ (θ_(i) − θ̄)(θ_(i) − θ̄)ᵀ.
    func jackknife(groups: Int) -> [[Double]] {
        var pseudo: [[Double]] = []   // [group][case]
        for g in 0..<groups {
            let t = g / nR
            var byCase = [Int: Double]()
            switch metric {
            case .auc:
                let m = Double(positives[t].count), n = Double(negatives[t].count)
                let s = psi(g)
                let total = s.joined().reduce(0, +)
                let rowSums = s.map { $0.reduce(0, +) }
                var colSums = [Double](repeating: 0, count: negatives[t].count)
                for row in s { for (j, v) in row.enumerated() { colSums[j] += v } }
                // Leaving out a positive removes its row; a negative, its column (exact with ties).
                for (i, c) in positives[t].enumerated() { byCase[c] = m > 1 ? (total - rowSums[i]) / ((m - 1) * n) : .nan }
                for (j, c) in negatives[t].enumerated() { byCase[c] = n > 1 ? (total - colSums[j]) / (m * (n - 1)) : .nan }
            case .sensitivity, .specificity:
                let h = hits(g), k = h.reduce(0, +), n = Double(h.count)
                for (i, c) in inTreatment[t].enumerated() { byCase[c] = n > 1 ? (k - h[i]) / (n - 1) : .nan }
            }
            let whole = value(group: g)
            pseudo.append(cases.map { byCase[$0] ?? whole })
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
        // MRMCaov refuses it too ("balanced design required for DeLong covariance method"): its
        // structural components pair every positive and negative across all groups.
        guard data.design == .factorial else {
            throw StudyError(.unsupportedDesign, "the DeLong covariance needs every case read in every treatment (a factorial design), as in MRMCaov; this design is \(data.design.rawValue): use the jackknife or unbiased covariance")
        }
        let positives = positives[0], negatives = negatives[0]
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
        guard data.design == .factorial else { return try unbiasedShared(groups: groups) }
        let positives = positives[0], negatives = negatives[0]
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
    /// The unbiased estimator when groups need not read the same cases (MRMCaov's `unbiased_default`,
    /// Gallas et al.'s general form): for groups x, y with m_x, n_x positives and negatives and the
    /// shared positives P and negatives N,
    /// δ = m_x n_x m_y n_y / (m_x n_x m_y n_y − m_x |N| m_y − n_x |P| n_y + |P||N|) and
    /// cov = ((1 − δ) S_x S_y + δ (Σ_P row_x row_y + Σ_N col_x col_y − Σ_{P×N} ψ_x ψ_y)) / (m_x n_x m_y n_y).
    /// Groups that share no case get 0.
    private func unbiasedShared(groups: Int) throws -> [[Double]] {
        for t in data.treatments.indices where positives[t].count < 2 || negatives[t].count < 2 {
            throw StudyError(.unsupportedDesign, "the unbiased covariance needs at least two positive and two negative cases in treatment '\(data.treatments[t])'")
        }
        let psis = (0..<groups).map { psi($0) }
        let totals = psis.map { $0.joined().reduce(0, +) }
        let rowSums = psis.map { s in s.map { $0.reduce(0, +) } }
        let colSums = (0..<groups).map { g -> [Double] in
            var cols = [Double](repeating: 0, count: negatives[g / nR].count)
            for row in psis[g] { for (j, v) in row.enumerated() { cols[j] += v } }
            return cols
        }
        // Row (positive) and column (negative) index of each case within each treatment.
        let rowOf = positives.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, $0) }) }
        let colOf = negatives.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, $0) }) }
        var cov = [[Double]](repeating: [Double](repeating: 0, count: groups), count: groups)
        for g in 0..<groups { for h in g..<groups {
            let tg = g / nR, th = h / nR
            let mx = Double(positives[tg].count), nx = Double(negatives[tg].count)
            let my = Double(positives[th].count), ny = Double(negatives[th].count)
            // Shared cases as (index in g, index in h).
            let sharedPos = positives[tg].compactMap { c in rowOf[th][c].flatMap { j in rowOf[tg][c].map { ($0, j) } } }
            let sharedNeg = negatives[tg].compactMap { c in colOf[th][c].flatMap { j in colOf[tg][c].map { ($0, j) } } }
            let p = Double(sharedPos.count), q = Double(sharedNeg.count)
            let nxny = mx * nx * my * ny
            let delta = nxny / (nxny - mx * q * my - nx * p * ny + p * q)
            var rows = 0.0, cols = 0.0, cells = 0.0
            for (i, j) in sharedPos { rows += rowSums[g][i] * rowSums[h][j] }
            for (i, j) in sharedNeg { cols += colSums[g][i] * colSums[h][j] }
            for (ig, ih) in sharedPos { for (jg, jh) in sharedNeg { cells += psis[g][ig][jg] * psis[h][ih][jh] } }
            let v = ((1 - delta) * totals[g] * totals[h] + delta * (rows + cols - cells)) / nxny
            cov[g][h] = v; cov[h][g] = v
        } }
        return cov
    }
}
