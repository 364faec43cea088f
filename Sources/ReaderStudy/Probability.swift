import Foundation

// Distribution functions the MRMC analysis and its power calculation need (Student t, F, χ², normal,
// and the noncentral F and χ² for power). Written from the textbook definitions — regularized
// incomplete beta by Lentz's continued fraction, regularized incomplete gamma by series/continued
// fraction — and checked in ProbabilityTests against values printed by R (pt, qt, pf, pchisq, qnorm).
// Quantiles are found by bisection on the CDF: slower than a dedicated inverse, but they are called a
// handful of times per analysis and bisection to the last bit cannot miss.

extension Distributions {
    /// Φ(x).
    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.squareRoot()) }

    /// Φ⁻¹(p) for 0 < p < 1.
    static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "normalQuantile needs 0 < p < 1")
        return bisect(lower: -40, upper: 40) { normalCDF($0) - p }
    }

    /// I_x(a, b), the regularized incomplete beta function.
    static func regularizedBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
        if x < (a + 1) / (a + b + 2) { return exp(logFront) * betaFraction(x, a, b) / a }
        return 1 - exp(logFront) * betaFraction(1 - x, b, a) / b
    }

    /// Continued fraction for I_x(a, b) (modified Lentz).
    private static func betaFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m2 = Double(2 * m), md = Double(m)
            var aa = md * (b - md) * x / ((a + m2 - 1) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; h *= d * c
            aa = -(a + md) * (a + b + md) * x / ((a + m2) * (a + m2 + 1))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return h
    }

    /// P(a, x), the regularized lower incomplete gamma function.
    static func regularizedGammaP(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        if x < a + 1 {
            var sum = 1 / a, term = sum, n = a
            for _ in 0..<100_000 {
                n += 1; term *= x / n; sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return min(1, sum * exp(-x + a * log(x) - lgamma(a)))
        }
        return 1 - regularizedGammaQFraction(a, x)
    }

    /// Q(a, x) = 1 − P(a, x), computed directly in its tail so small p-values keep their digits.
    static func regularizedGammaQ(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 1 }
        if x < a + 1 { return 1 - regularizedGammaP(a, x) }
        return regularizedGammaQFraction(a, x)
    }

    private static func regularizedGammaQFraction(_ a: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1...100_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < tiny { d = tiny }
            c = b + an / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return exp(-x + a * log(x) - lgamma(a)) * h
    }

    /// P(T ≤ t) for Student's t with `df` (real, > 0) degrees of freedom.
    static func studentTCDF(_ t: Double, df: Double) -> Double {
        let tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// Two-sided p of a t statistic: 2 P(T > |t|).
    static func studentTTwoSidedP(_ t: Double, df: Double) -> Double {
        regularizedBeta(df / (df + t * t), df / 2, 0.5)
    }

    /// The p-quantile of Student's t.
    static func studentTQuantile(_ p: Double, df: Double) -> Double {
        precondition(p > 0 && p < 1, "studentTQuantile needs 0 < p < 1")
        var hi = 1.0
        while studentTCDF(hi, df: df) < p { hi *= 2 }
        var lo = -1.0
        while studentTCDF(lo, df: df) > p { lo *= 2 }
        return bisect(lower: lo, upper: hi) { studentTCDF($0, df: df) - p }
    }

    /// P(F > f) for F(d1, d2).
    static func fUpperTail(_ f: Double, d1: Double, d2: Double) -> Double {
        if f <= 0 { return 1 }
        return regularizedBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2)
    }

    /// The p-quantile of F(d1, d2).
    static func fQuantile(_ p: Double, d1: Double, d2: Double) -> Double {
        var hi = 1.0
        while 1 - fUpperTail(hi, d1: d1, d2: d2) < p { hi *= 2 }
        return bisect(lower: 0, upper: hi) { (1 - fUpperTail($0, d1: d1, d2: d2)) - p }
    }

    /// P(X > x) for χ² with k degrees of freedom.
    static func chiSquareUpperTail(_ x: Double, k: Double) -> Double { regularizedGammaQ(k / 2, x / 2) }

    /// The p-quantile of χ²(k).
    static func chiSquareQuantile(_ p: Double, k: Double) -> Double {
        var hi = 1.0
        while 1 - chiSquareUpperTail(hi, k: k) < p { hi *= 2 }
        return bisect(lower: 0, upper: hi) { (1 - chiSquareUpperTail($0, k: k)) - p }
    }

    /// Poisson(λ/2)-weighted sum of `term(j)` over j = 0, 1, … — the series form of the noncentral
    /// F and χ² distributions — until the remaining Poisson mass is below 1e-15.
    private static func poissonMixture(ncp: Double, _ term: (Int) -> Double) -> Double {
        let mu = ncp / 2
        if mu == 0 { return term(0) }
        var total = 0.0, mass = 0.0
        var j = 0
        while j < 100_000 {
            let w = exp(-mu + Double(j) * log(mu) - lgamma(Double(j) + 1))
            total += w * term(j); mass += w
            if Double(j) > mu, 1 - mass < 1e-15 { break }
            j += 1
        }
        return total
    }

    /// P(F' > f) for the noncentral F(d1, d2, ncp) (R's `pf(f, d1, d2, ncp, lower.tail = FALSE)`).
    static func noncentralFUpperTail(_ f: Double, d1: Double, d2: Double, ncp: Double) -> Double {
        if f <= 0 { return 1 }
        let y = d1 * f / (d1 * f + d2)
        // P(F' ≤ f) = Σ_j w_j I_y(d1/2 + j, d2/2).
        return 1 - poissonMixture(ncp: ncp) { regularizedBeta(y, d1 / 2 + Double($0), d2 / 2) }
    }

    /// P(X > x) for the noncentral χ²(k, ncp).
    static func noncentralChiSquareUpperTail(_ x: Double, k: Double, ncp: Double) -> Double {
        poissonMixture(ncp: ncp) { chiSquareUpperTail(x, k: k + 2 * Double($0)) }
    }

    /// Root of an increasing function between `lower` and `upper`, to the last representable bit.
    private static func bisect(lower: Double, upper: Double, _ f: (Double) -> Double) -> Double {
        var lo = lower, hi = upper
        for _ in 0..<300 {
            let mid = (lo + hi) / 2
            if mid == lo || mid == hi { break }
            if f(mid) < 0 { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}
