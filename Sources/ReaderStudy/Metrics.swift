import CommonKit
import Foundation

// Diagnostic-accuracy statistics for reader studies. Every formula here is cross-checked against
// scikit-learn / scipy / statsmodels by training/tests/test_study_metrics.py (reference fixture in
// Tests/ReaderStudyTests/Fixtures/metrics-reference.json).

/// A two-sided confidence interval.
public struct ConfidenceInterval: Sendable, Equatable, Codable {
    public var lower: Double
    public var upper: Double
    public init(lower: Double, upper: Double) { self.lower = lower; self.upper = upper }
}

/// k of n with its Wilson score interval (nil value when n = 0: undefined, not zero).
public struct Proportion: Sendable, Equatable, Codable {
    public var successes: Int
    public var total: Int
    public var value: Double? { total > 0 ? Double(successes) / Double(total) : nil }
    public var wilson95: ConfidenceInterval? { Wilson.interval(successes: successes, total: total) }
    public init(successes: Int, total: Int) { self.successes = successes; self.total = total }
}

public enum Wilson {
    /// z for a two-sided 95 % interval (scipy.stats.norm.isf(0.025)).
    public static let z95 = 1.959963984540054

    /// Wilson score interval, as statsmodels `proportion_confint(method="wilson")`.
    public static func interval(successes: Int, total: Int, z: Double = z95) -> ConfidenceInterval? {
        guard total > 0, successes >= 0, successes <= total else { return nil }
        let n = Double(total), p = Double(successes) / n, q = 1 - p
        let z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z * (p * q / n + z2 / (4 * n * n)).squareRoot() / denominator
        return ConfidenceInterval(lower: centre - half, upper: centre + half)
    }
}

/// 2×2 table of a binary decision against the truth.
public struct ConfusionCounts: Sendable, Equatable, Codable {
    public var truePositives = 0, falsePositives = 0, trueNegatives = 0, falseNegatives = 0

    public init(decisions: [Bool], truth: [Bool]) {
        for (d, t) in zip(decisions, truth) {
            switch (d, t) {
            case (true, true): truePositives += 1
            case (true, false): falsePositives += 1
            case (false, false): trueNegatives += 1
            case (false, true): falseNegatives += 1
            }
        }
    }

    public var total: Int { truePositives + falsePositives + trueNegatives + falseNegatives }
    public var accuracy: Proportion { Proportion(successes: truePositives + trueNegatives, total: total) }
    public var sensitivity: Proportion { Proportion(successes: truePositives, total: truePositives + falseNegatives) }
    public var specificity: Proportion { Proportion(successes: trueNegatives, total: trueNegatives + falsePositives) }
    public var positivePredictiveValue: Proportion { Proportion(successes: truePositives, total: truePositives + falsePositives) }
    public var negativePredictiveValue: Proportion { Proportion(successes: trueNegatives, total: trueNegatives + falseNegatives) }
}

/// One operating point of an ROC curve.
public struct ROCPoint: Sendable, Equatable, Codable {
    public var falsePositiveRate: Double
    public var truePositiveRate: Double
    /// Cases with score ≥ threshold are called positive (+∞ for the origin).
    public var threshold: Double
}

public enum ROC {
    /// Area under the ROC curve = P(score of a positive > score of a negative) + ½ P(tie)
    /// (Mann–Whitney form; equals sklearn `roc_auc_score`). Nil when one class is absent.
    public static func auc(scores: [Double], truth: [Bool]) -> Double? {
        let positives = zip(scores, truth).filter { $0.1 }.map(\.0)
        let negatives = zip(scores, truth).filter { !$0.1 }.map(\.0)
        guard !positives.isEmpty, !negatives.isEmpty else { return nil }
        // Rank-sum with mid-ranks: O(n log n).
        let ranks = midRanks(positives + negatives)
        let rankSum = ranks.prefix(positives.count).reduce(0, +)
        let m = Double(positives.count), n = Double(negatives.count)
        return (rankSum - m * (m + 1) / 2) / (m * n)
    }

    /// Mid-ranks (1-based; ties share the mean rank), in the order of `values`.
    static func midRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, values[order[j + 1]] == values[order[i]] { j += 1 }
            let mean = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = mean }
            i = j + 1
        }
        return ranks
    }

    /// Every distinct threshold from high to low, starting at (0, 0) — sklearn
    /// `roc_curve(drop_intermediate=False)`.
    public static func curve(scores: [Double], truth: [Bool]) -> [ROCPoint] {
        let p = Double(truth.filter { $0 }.count), n = Double(truth.count) - p
        guard p > 0, n > 0 else { return [] }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points = [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0, threshold: .infinity)]
        var tp = 0.0, fp = 0.0, i = 0
        while i < order.count {
            let threshold = scores[order[i]]
            while i < order.count, scores[order[i]] == threshold {
                if truth[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            points.append(ROCPoint(falsePositiveRate: fp / n, truePositiveRate: tp / p, threshold: threshold))
        }
        return points
    }
}

public struct BootstrapResult: Sendable, Equatable, Codable {
    public var interval: ConfidenceInterval
    /// Resamples that contained both classes (the others are skipped: AUC undefined).
    public var validResamples: Int
    public var requestedResamples: Int
}

/// The AUC's 95 % interval where a class is too small for the bootstrap: with fewer than
/// `minimumClassSize` positive or negative cases, resampling mostly redraws the same few cases and a
/// perfect separation gives "1.000 (1.000–1.000)". Instead: the wider of DeLong's interval
/// (AUC ± 1.96 SE from the structural components, clipped to [0, 1]) and an exact Clopper–Pearson
/// interval that counts the AUC as a proportion of the smaller class (conservative: never narrower
/// than the smaller class allows, never degenerate — 3 positives all ranked first give 0.292–1).
public struct SmallSampleAUC: Sendable, Equatable, Codable {
    public var positives: Int
    public var negatives: Int
    public var interval: ConfidenceInterval
    public static let minimumClassSize = 10
    public static let method = "small class: wider of DeLong and exact (Clopper–Pearson on the smaller class)"

    /// nil when both classes have at least `minimumClassSize` cases (then the bootstrap is used), or
    /// when a class is empty (no AUC).
    public static func interval(scores: [Double], truth: [Bool]) -> SmallSampleAUC? {
        let m = truth.filter { $0 }.count, n = truth.count - m
        guard m > 0, n > 0, min(m, n) < minimumClassSize, let auc = ROC.auc(scores: scores, truth: truth) else { return nil }
        let k = min(m, n)
        let exact = ClopperPearson.interval(successes: Int((auc * Double(k)).rounded()), total: k)
        var lower = exact.lower, upper = exact.upper
        if let d = DeLong.test(first: scores, second: scores, truth: truth), d.varianceFirst > 0 {
            let half = Wilson.z95 * d.varianceFirst.squareRoot()
            lower = min(lower, max(0, auc - half)); upper = max(upper, min(1, auc + half))
        }
        // The interval holds the estimate itself (the exact one is centred on the rounded count).
        return SmallSampleAUC(positives: m, negatives: n, interval: ConfidenceInterval(lower: min(lower, auc), upper: max(upper, auc)))
    }
}

public enum ClopperPearson {
    /// Exact two-sided 95 % binomial interval (statsmodels `proportion_confint(method="beta")`),
    /// from the regularised incomplete beta function by bisection.
    public static func interval(successes x: Int, total n: Int, level: Double = 0.95) -> ConfidenceInterval {
        let alpha = (1 - level) / 2
        func solve(_ f: (Double) -> Double, target: Double) -> Double {
            var lo = 0.0, hi = 1.0
            for _ in 0..<100 { let mid = (lo + hi) / 2; if f(mid) < target { lo = mid } else { hi = mid } }
            return (lo + hi) / 2
        }
        // Lower: Beta(α/2; x, n−x+1) quantile; upper: Beta(1−α/2; x+1, n−x) quantile.
        let lower = x == 0 ? 0 : solve({ Distributions.regularizedBeta($0, Double(x), Double(n - x + 1)) }, target: alpha)
        let upper = x == n ? 1 : solve({ Distributions.regularizedBeta($0, Double(x + 1), Double(n - x)) }, target: 1 - alpha)
        return ConfidenceInterval(lower: lower, upper: upper)
    }
}

public enum Bootstrap {
    /// Percentile bootstrap 95 % CI of the AUC: `resamples` draws of n cases with replacement
    /// (SplitMix64 from `seed`, index = next() mod n), single-class draws skipped, percentiles by
    /// linear interpolation (numpy's default).
    public static func aucInterval(scores: [Double], truth: [Bool], resamples: Int = 10_000, seed: UInt64,
                                   level: Double = 0.95) -> BootstrapResult? {
        let n = scores.count
        guard n > 1, resamples > 0 else { return nil }
        var rng = SplitMix64(seed: seed)
        var aucs: [Double] = []
        aucs.reserveCapacity(resamples)
        // Sort once; a resample is then just a count per case, and its AUC one pass over the
        // tie groups (Mann–Whitney with ½ for ties) — O(n) per resample instead of O(n log n).
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var groups: [[Int]] = []
        for i in order {
            if let last = groups.last?.last, scores[last] == scores[i] { groups[groups.count - 1].append(i) } else { groups.append([i]) }
        }
        var counts = [Int](repeating: 0, count: n)
        for _ in 0..<resamples {
            for k in 0..<n { counts[k] = 0 }
            for _ in 0..<n { counts[rng.index(below: n)] += 1 }
            var negativesBelow = 0.0, pairs = 0.0, positives = 0.0, negatives = 0.0
            for g in groups {
                var p = 0.0, q = 0.0
                for i in g { if truth[i] { p += Double(counts[i]) } else { q += Double(counts[i]) } }
                pairs += p * negativesBelow + 0.5 * p * q
                negativesBelow += q; positives += p; negatives += q
            }
            if positives > 0, negatives > 0 { aucs.append(pairs / (positives * negatives)) }
        }
        guard !aucs.isEmpty else { return nil }
        aucs.sort()
        let alpha = (1 - level) / 2
        return BootstrapResult(interval: ConfidenceInterval(lower: percentile(aucs, alpha * 100),
                                                            upper: percentile(aucs, (1 - alpha) * 100)),
                               validResamples: aucs.count, requestedResamples: resamples)
    }

    /// numpy.percentile(method="linear") of already sorted values.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q / 100 * Double(sorted.count - 1)
        let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let fraction = position - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * fraction
    }
}

/// McNemar's test on paired binary outcomes (e.g. correct in stage 1 vs correct in stage 2).
public struct McNemarResult: Sendable, Equatable, Codable {
    /// Discordant pairs: b = yes→no, c = no→yes.
    public var b: Int
    public var c: Int
    /// statsmodels `mcnemar(exact=True)`: min(b, c), two-sided binomial p.
    public var exactP: Double
    /// statsmodels `mcnemar(exact=False, correction=True)`: (|b−c|−1)²/(b+c), χ²(1); nil when b+c = 0.
    public var chiSquare: Double?
    public var continuityP: Double?
}

public enum McNemar {
    public static func test(first: [Bool], second: [Bool]) -> McNemarResult {
        var b = 0, c = 0
        for (x, y) in zip(first, second) { if x && !y { b += 1 } else if !x && y { c += 1 } }
        return test(b: b, c: c)
    }

    public static func test(b: Int, c: Int) -> McNemarResult {
        let n = b + c
        let exact = min(1, 2 * Distributions.binomialCDF(k: min(b, c), n: n, p: 0.5))
        guard n > 0 else { return McNemarResult(b: b, c: c, exactP: exact, chiSquare: nil, continuityP: nil) }
        let stat = pow(Double(abs(b - c)) - 1, 2) / Double(n)
        return McNemarResult(b: b, c: c, exactP: exact, chiSquare: stat, continuityP: Distributions.chiSquare1SF(stat))
    }
}

/// DeLong's test for two correlated AUCs measured on the same cases.
public struct DeLongResult: Sendable, Equatable, Codable {
    public var aucFirst: Double
    public var aucSecond: Double
    public var varianceFirst: Double
    public var varianceSecond: Double
    public var covariance: Double
    /// nil when the difference has zero variance (identical ratings).
    public var z: Double?
    public var p: Double?
}

public enum DeLong {
    /// DeLong, DeLong & Clarke-Pearson (1988): structural components V10 (per positive) and V01
    /// (per negative), their sample covariances, z = ΔAUC / SE, two-sided normal p.
    public static func test(first: [Double], second: [Double], truth: [Bool]) -> DeLongResult? {
        guard first.count == truth.count, second.count == truth.count else { return nil }
        let pos = truth.indices.filter { truth[$0] }, neg = truth.indices.filter { !truth[$0] }
        let m = pos.count, n = neg.count
        guard m > 1, n > 1 else { return nil }
        func psi(_ x: Double, _ y: Double) -> Double { x > y ? 1 : (x == y ? 0.5 : 0) }
        func components(_ s: [Double]) -> (v10: [Double], v01: [Double]) {
            var v10 = [Double](repeating: 0, count: m), v01 = [Double](repeating: 0, count: n)
            for (a, i) in pos.enumerated() {
                for (b, j) in neg.enumerated() {
                    let v = psi(s[i], s[j]); v10[a] += v; v01[b] += v
                }
            }
            return (v10.map { $0 / Double(n) }, v01.map { $0 / Double(m) })
        }
        let c1 = components(first), c2 = components(second)
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        func cov(_ a: [Double], _ b: [Double]) -> Double {
            let ma = mean(a), mb = mean(b)
            return zip(a, b).reduce(0) { $0 + ($1.0 - ma) * ($1.1 - mb) } / Double(a.count - 1)
        }
        let auc1 = mean(c1.v10), auc2 = mean(c2.v10)
        let var1 = cov(c1.v10, c1.v10) / Double(m) + cov(c1.v01, c1.v01) / Double(n)
        let var2 = cov(c2.v10, c2.v10) / Double(m) + cov(c2.v01, c2.v01) / Double(n)
        let cov12 = cov(c1.v10, c2.v10) / Double(m) + cov(c1.v01, c2.v01) / Double(n)
        let varDiff = var1 + var2 - 2 * cov12
        var z: Double? = nil, p: Double? = nil
        if varDiff > 1e-15 {
            z = (auc1 - auc2) / varDiff.squareRoot()
            p = Distributions.normalTwoSidedP(z!)
        }
        return DeLongResult(aucFirst: auc1, aucSecond: auc2, varianceFirst: var1, varianceSecond: var2,
                            covariance: cov12, z: z, p: p)
    }
}

public enum Agreement {
    /// Share of cases with the same decision in both stages.
    public static func identical(_ a: [Bool], _ b: [Bool]) -> Proportion {
        Proportion(successes: zip(a, b).filter { $0.0 == $0.1 }.count, total: min(a.count, b.count))
    }

    /// Cohen's κ for two binary ratings (sklearn `cohen_kappa_score`); nil when chance agreement is 1.
    public static func cohenKappa(_ a: [Bool], _ b: [Bool]) -> Double? {
        let n = Double(min(a.count, b.count))
        guard n > 0 else { return nil }
        let observed = Double(zip(a, b).filter { $0.0 == $0.1 }.count) / n
        let pa = Double(a.prefix(Int(n)).filter { $0 }.count) / n, pb = Double(b.prefix(Int(n)).filter { $0 }.count) / n
        let expected = pa * pb + (1 - pa) * (1 - pb)
        guard expected < 1 else { return nil }
        return (observed - expected) / (1 - expected)
    }
}

extension Agreement {
    /// Fleiss' κ for many raters: `counts[i][j]` = raters who put subject i in category j; every
    /// subject rated by the same number of raters (≥ 2). Nil when undefined (fewer than two raters,
    /// or chance agreement 1 — everyone used one category).
    public static func fleissKappa(_ counts: [[Int]]) -> Double? {
        guard let first = counts.first else { return nil }
        let n = first.reduce(0, +)
        guard n >= 2, counts.allSatisfy({ $0.reduce(0, +) == n && $0.count == first.count }) else { return nil }
        let subjects = Double(counts.count), raters = Double(n)
        let agreement = counts.map { row in (row.reduce(0.0) { $0 + Double($1 * $1) } - raters) / (raters * (raters - 1)) }.reduce(0, +) / subjects
        let shares = first.indices.map { j in Double(counts.reduce(0) { $0 + $1[j] }) / (subjects * raters) }
        let chance = shares.reduce(0) { $0 + $1 * $1 }
        guard chance < 1 else { return nil }
        return (agreement - chance) / (1 - chance)
    }
}

/// Median and interquartile range (numpy's linear percentiles).
public struct MedianIQR: Sendable, Equatable, Codable {
    public var count: Int
    public var median: Double
    public var lowerQuartile: Double
    public var upperQuartile: Double

    public init?(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return nil }
        count = v.count
        median = Bootstrap.percentile(v, 50); lowerQuartile = Bootstrap.percentile(v, 25); upperQuartile = Bootstrap.percentile(v, 75)
    }
}

enum Distributions {
    /// P(X ≤ k) for X ~ Binomial(n, p), summed in log space (exact enough for any study size).
    static func binomialCDF(k: Int, n: Int, p: Double) -> Double {
        guard n > 0 else { return 1 }
        guard k >= 0 else { return 0 }
        if k >= n { return 1 }
        func logGamma(_ x: Double) -> Double { lgamma(x) as Double }
        let logP = log(p), logQ = log(1 - p), lgN = logGamma(Double(n) + 1)
        var total = 0.0
        for i in 0...k {
            total += exp(lgN - logGamma(Double(i) + 1) - logGamma(Double(n - i) + 1) + Double(i) * logP + Double(n - i) * logQ)
        }
        return min(1, total)
    }

    /// Survival function of χ² with one degree of freedom.
    static func chiSquare1SF(_ x: Double) -> Double { x <= 0 ? 1 : erfc((x / 2).squareRoot()) }

    /// 2 · (1 − Φ(|z|)).
    static func normalTwoSidedP(_ z: Double) -> Double { erfc(abs(z) / 2.squareRoot()) }
}

/// Turns a binary call plus 1–5 confidence into a 10-level rating for ROC analysis:
/// "absent, very sure" = 1 … "absent, unsure" = 5, "present, unsure" = 6 … "present, very sure" = 10.
public func confidenceRating(finding: Bool, confidence: Int) -> Double {
    let c = Double(min(5, max(1, confidence)))
    return finding ? 5 + c : 6 - c
}
