import Foundation

/// Clips samples to ±`sigmas` population standard deviations: per lead around its mean
/// (`scope` lead), or around zero by the SD of all leads together (`scope` record, MMCL's clamp).
public struct SigmaClip: Sendable {
    public let sigmas: Double
    public let scope: SigmaClipScope

    public init(sigmas: Double, scope: SigmaClipScope = .lead) throws {
        guard sigmas > 0, sigmas.isFinite else {
            throw SignalError.invalidParameter(step: "sigmaClip", parameter: "sigmas", reason: "must be positive")
        }
        self.sigmas = sigmas
        self.scope = scope
    }

    /// One lead around its own mean.
    public func apply(_ x: [Double]) -> [Double] {
        let (mu, sd) = meanAndSD(x)
        let lo = mu - sigmas * sd, hi = mu + sigmas * sd
        return x.map { min(max($0, lo), hi) }
    }

    /// Lead-major leads, by `scope`.
    public func apply(_ leads: [[Double]]) -> [[Double]] {
        switch scope {
        case .lead: return leads.map { apply($0) }
        case .record:
            let sd = meanAndSD(leads.flatMap { $0 }).sd
            let bound = sigmas * sd
            return leads.map { $0.map { min(max($0, -bound), bound) } }
        }
    }
}

/// Asymmetric-least-squares baseline (Eilers & Boelens 2005), subtracted from the signal.
///
/// The baseline z minimises Σ wᵢ (yᵢ − zᵢ)² + λ Σ (Δ²z)ᵢ²: each iteration solves the
/// pentadiagonal system (W + λ DᵀD) z = W y (D the second-difference matrix) by a banded LDLᵀ
/// factorisation, then sets wᵢ = p where yᵢ > zᵢ, 1 − p where yᵢ < zᵢ and 0 where equal, starting
/// from w = 1 (the classic `baseline_als` with `spsolve`; training/ecg2cmr_train/preprocess.py).
/// Output: y − z after `iterations` solves.
public struct ALSBaselineRemoval: Sendable {
    public let lambda: Double
    public let p: Double
    public let iterations: Int

    public init(lambda: Double, p: Double, iterations: Int) throws {
        guard lambda > 0, lambda.isFinite else {
            throw SignalError.invalidParameter(step: "baselineRemoval als", parameter: "lambda", reason: "must be positive (got \(lambda))")
        }
        guard p > 0, p < 1 else {
            throw SignalError.invalidParameter(step: "baselineRemoval als", parameter: "p", reason: "must be in (0, 1) (got \(p))")
        }
        guard (1...100).contains(iterations) else {
            throw SignalError.invalidParameter(step: "baselineRemoval als", parameter: "iterations", reason: "must be 1…100 (got \(iterations))")
        }
        self.lambda = lambda
        self.p = p
        self.iterations = iterations
    }

    public func baseline(_ y: [Double]) -> [Double] {
        let n = y.count
        guard n >= 3 else { return y }
        // λ DᵀD as three diagonals (main, first and second super-diagonal), built row by row of D.
        var d0 = [Double](repeating: 0, count: n), d1 = [Double](repeating: 0, count: n), d2 = [Double](repeating: 0, count: n)
        let c = [1.0, -2.0, 1.0]
        for k in 0..<(n - 2) {
            for a in 0..<3 {
                d0[k + a] += lambda * c[a] * c[a]
                if a < 2 { d1[k + a] += lambda * c[a] * c[a + 1] }
                if a < 1 { d2[k + a] += lambda * c[a] * c[a + 2] }
            }
        }
        var w = [Double](repeating: 1, count: n)
        var z = [Double](repeating: 0, count: n)
        var diag = [Double](repeating: 0, count: n), l1 = [Double](repeating: 0, count: n), l2 = [Double](repeating: 0, count: n)
        for _ in 0..<iterations {
            // LDLᵀ of the symmetric pentadiagonal A = diag(w) + λDᵀD: A[i][i] = d0+w, A[i][i+1] = d1, A[i][i+2] = d2.
            for i in 0..<n {
                // L[i][i-2] = l2[i-2], L[i][i-1] = l1[i-1] (unit lower triangular), D = diag.
                var di = d0[i] + w[i]
                if i >= 2 {
                    l2[i - 2] = d2[i - 2] / diag[i - 2]
                    di -= l2[i - 2] * l2[i - 2] * diag[i - 2]
                }
                if i >= 1 {
                    var a = d1[i - 1]
                    if i >= 2 { a -= l2[i - 2] * diag[i - 2] * l1[i - 2] }
                    l1[i - 1] = a / diag[i - 1]
                    di -= l1[i - 1] * l1[i - 1] * diag[i - 1]
                }
                diag[i] = di
            }
            // Solve L u = W y, D v = u, Lᵀ z = v.
            for i in 0..<n {
                var u = w[i] * y[i]
                if i >= 1 { u -= l1[i - 1] * z[i - 1] }
                if i >= 2 { u -= l2[i - 2] * z[i - 2] }
                z[i] = u
            }
            for i in 0..<n { z[i] /= diag[i] }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var v = z[i]
                if i + 1 < n { v -= l1[i] * z[i + 1] }
                if i + 2 < n { v -= l2[i] * z[i + 2] }
                z[i] = v
            }
            for i in 0..<n { w[i] = y[i] > z[i] ? p : (y[i] < z[i] ? 1 - p : 0) }
        }
        return z
    }

    public func apply(_ y: [Double]) -> [Double] {
        let z = baseline(y)
        return zip(y, z).map { $0 - $1 }
    }
}
