import Foundation

// Sample size for a planned MRMC study from a pilot's OR variance components (Hillis, Obuchowski &
// Berbaum 2011, "Power estimation for multireader ROC methods: an updated and unified approach",
// Acad Radiol 18:129–142, eq. 10 and Table 2). The pilot's error variance and covariances scale with
// K*/K (pilot cases over planned cases); the treatment×reader variance does not. Checked in
// MRMCPowerTests against RJafroc's published values for the same VanDyke pilot.

public struct MRMCPowerPoint: Sendable, Equatable, Codable {
    public var readers: Int
    public var cases: Int
    public var power: Double
    /// Noncentrality of the F (or χ²) under the planned effect.
    public var noncentrality: Double
    /// Denominator df of the F test (nil for the χ² test of fixed readers).
    public var df2: Double?
}

public struct MRMCPowerTable: Sendable, Codable {
    public var effect: Double
    public var alpha: Double
    public var factors: MRMCFactors
    public var pilotCases: Int
    /// The pilot's σ²_TR as used: max(0, MS(T:R) − Var + Cov1 + max(Cov2 − Cov3, 0)).
    public var treatmentReaderVariance: Double
    public var components: ORVarianceComponents
    public var points: [MRMCPowerPoint]
}

public enum MRMCPower {
    /// Power of a two-treatment comparison with `readers` readers and `cases` cases to detect `effect`
    /// (difference of reader-averaged figures of merit) at level `alpha`.
    public static func power(readers: Int, cases: Int, effect: Double, alpha: Double = 0.05, factors: MRMCFactors = .randomReadersRandomCases,
                             components c: ORVarianceComponents, treatmentReaderVariance varTR: Double, pilotCases: Int) -> MRMCPowerPoint {
        let j = Double(readers), scale = Double(pilotCases) / Double(cases)
        let d = max(c.cov2 - c.cov3, 0)
        func point(_ power: Double, _ ncp: Double, _ df2: Double?) -> MRMCPowerPoint {
            MRMCPowerPoint(readers: readers, cases: cases, power: power, noncentrality: ncp, df2: df2)
        }
        switch factors {
        case .randomReadersRandomCases:
            let den = varTR + scale * (c.error - c.cov1 + (j - 1) * d)
            let inner = varTR + scale * (c.error - c.cov1 - d)
            let ncp = effect * effect * j / 2 / den
            guard inner > 0 else {
                // No reader-level variation left: df2 → ∞, the F test becomes the χ²(1) test.
                let critical = Distributions.chiSquareQuantile(1 - alpha, k: 1)
                return point(Distributions.noncentralChiSquareUpperTail(critical, k: 1, ncp: ncp), ncp, nil)
            }
            let df2 = den * den / (inner * inner / (j - 1))
            let critical = Distributions.fQuantile(1 - alpha, d1: 1, d2: df2)
            return point(Distributions.noncentralFUpperTail(critical, d1: 1, d2: df2, ncp: ncp), ncp, df2)
        case .fixedReaders:
            let den = scale * (c.error - c.cov1 + (j - 1) * d)
            let ncp = effect * effect * j / 2 / den
            let critical = Distributions.chiSquareQuantile(1 - alpha, k: 1)
            return point(Distributions.noncentralChiSquareUpperTail(critical, k: 1, ncp: ncp), ncp, nil)
        case .fixedCases:
            let den = varTR + scale * (c.error - c.cov1 - d)
            let df2 = j - 1
            let ncp = effect * effect * j / 2 / den
            let critical = Distributions.fQuantile(1 - alpha, d1: 1, d2: df2)
            return point(Distributions.noncentralFUpperTail(critical, d1: 1, d2: df2, ncp: ncp), ncp, df2)
        }
    }

    /// Power over a grid of readers × cases from a pilot analysis (which must carry variance
    /// components: random or fixed readers, not fixed cases).
    public static func table(pilot: MRMCResult, effect: Double, readers: [Int], cases: [Int], alpha: Double = 0.05,
                             factors: MRMCFactors = .randomReadersRandomCases) throws -> MRMCPowerTable {
        guard let c = pilot.components else {
            throw StudyError(.unsupportedDesign, "the pilot analysis has no variance components (cases were fixed): run it with random cases")
        }
        // Hillis & Obuchowski's scaling (covariances × pilot cases / planned cases, one case sample for
        // every treatment) is for a factorial pilot planning a factorial study; a nested or partially
        // paired pilot's Cov1–3 mean something else.
        guard pilot.design == .factorial else {
            throw StudyError(.unsupportedDesign, "power is computed from a factorial pilot (every reader reads every case in every treatment); this pilot is \(pilot.design.rawValue)")
        }
        guard effect != 0, effect.isFinite else { throw StudyError(.unsupportedDesign, "--effect must be a non-zero difference in the figure of merit (e.g. 0.05)") }
        guard alpha > 0, alpha < 1 else { throw StudyError(.unsupportedDesign, "alpha must be between 0 and 1") }
        guard !readers.contains(where: { $0 < 2 }) else {
            throw StudyError(.unsupportedDesign, "a planned study needs at least 2 readers (got \(readers.filter { $0 < 2 }.map(String.init).joined(separator: ", ")))")
        }
        guard !cases.contains(where: { $0 < 2 }) else { throw StudyError(.unsupportedDesign, "a planned study needs at least 2 cases") }
        let varTR = max(0, pilot.meanSquares.treatmentReader - c.error + c.cov1 + max(c.cov2 - c.cov3, 0))
        // The variance of a reader's treatment difference must be positive for any plan to have a power.
        guard c.error - c.cov1 > 0 || varTR > 0 else {
            throw StudyError(.unsupportedDesign, "the pilot shows no variance in the treatment difference (Var − Cov1 = \(MRMCAnalysis.number(c.error - c.cov1)), σ²_TR = 0): power cannot be estimated from it")
        }
        var points: [MRMCPowerPoint] = []
        for j in readers { for k in cases {
            points.append(power(readers: j, cases: k, effect: effect, alpha: alpha, factors: factors, components: c,
                                treatmentReaderVariance: varTR, pilotCases: pilot.cases))
        } }
        return MRMCPowerTable(effect: effect, alpha: alpha, factors: factors, pilotCases: pilot.cases,
                              treatmentReaderVariance: varTR, components: c, points: points)
    }
}
