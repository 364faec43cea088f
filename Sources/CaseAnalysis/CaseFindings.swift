import CardiacModels

// The one serialised form of a case's scores. The export manifest lists them (each entry names its
// `target` and `label`); screening results key them by output id (target and label left out, as
// the key says it). Both are the same types, so a field added here appears in both with one name.

/// An entry's "head.output" and label where it names its output (the manifest's lists); neither
/// where the output id is its key (screening results).
private func outputName(_ target: HeadTarget, _ label: String, named: Bool) -> (target: String?, label: String?) {
    named ? (target.description, label) : (nil, nil)
}

/// One risk output as written out.
public struct RiskFinding: Codable, Sendable, Equatable {
    /// "head.output", e.g. "risk.cad"; nil where the output id is the key.
    public var target: String?
    public var label: String?
    public var probability: Double
    /// "low", "intermediate" or "high" (the bundle's cut-offs).
    public var band: String
    public var validationAUC: Double?
    /// Validation AUC below `RiskScore.weakValidationAUC`: shown, never a confident finding, never a flag.
    public var weak: Bool
    /// Why this output is not a finding for this ECG (out of distribution); nil when it stands.
    public var withheld: String?

    public init(_ risk: RiskScore, named: Bool, withheld: String? = nil) {
        self.withheld = withheld
        (target, label) = outputName(risk.target, risk.label, named: named)
        probability = risk.probability
        band = risk.band.rawValue
        validationAUC = risk.validationAUC
        weak = risk.isWeak
    }

    /// A high band on a head that is not weak, for an ECG whose outputs are not withheld: what
    /// raises a screening flag.
    public var isHighAndTrusted: Bool { band == RiskBand.high.rawValue && !weak && withheld == nil }
}

/// One CMR phenotype output as written out, de-standardised into its unit.
public struct PhenotypeFinding: Codable, Sendable, Equatable {
    public var target: String?
    public var label: String?
    public var value: Double
    public var unit: String
    /// [low, high] of the reference range, when the bundle gives one.
    public var referenceRange: [Double]?
    public var validationR: Double?
    public var outOfRange: Bool
    /// Low validation r: reported, but never raises a flag (as a weak risk head).
    public var weak: Bool?
    /// [low, high] of the calibrated 80 % interval, when the bundle's head predicts one.
    public var interval80: [Double]?
    /// The interval cell it was calibrated on ("dcm", "hcm", "pulmonary_hypertension", "prior_mi"
    /// or "none"), when the bundle calibrates by cell: an ECG that suggests a disease gets the
    /// intervals of that disease group.
    public var interval80Cell: String?
    /// Why this output is not a finding for this ECG (out of distribution); nil when it stands.
    public var withheld: String?

    public init(_ phenotype: PhenotypeValue, named: Bool, withheld: String? = nil) {
        self.withheld = withheld
        (target, label) = outputName(phenotype.target, phenotype.label, named: named)
        value = phenotype.value
        unit = phenotype.unit
        referenceRange = phenotype.referenceRange.map { [$0.lowerBound, $0.upperBound] }
        validationR = phenotype.validationR
        outOfRange = phenotype.isOutOfRange
        weak = phenotype.isWeak
        interval80 = phenotype.interval80.map { [$0.lowerBound, $0.upperBound] }
        interval80Cell = phenotype.interval80Cell
    }

    /// Out of range on a phenotype that is not weak, for an ECG whose outputs are not withheld:
    /// what raises a screening flag.
    public var isOutOfRangeAndTrusted: Bool { outOfRange && weak != true && withheld == nil }
}

/// One conditional subtype probability as written out.
public struct SubtypeFinding: Codable, Sendable, Equatable {
    public var target: String
    public var label: String
    public var probability: Double

    public init(_ subtype: SubtypeScore) {
        target = subtype.target.description
        label = subtype.label
        probability = subtype.probability
    }
}

/// A case's scores in the written-out schema.
public struct CaseFindings: Sendable, Equatable {
    public var risks: [RiskFinding]
    public var subtypes: [SubtypeFinding]
    public var phenotypes: [PhenotypeFinding]

    /// Every entry names its target and label (the export manifest's lists).
    public init(_ analysis: ECGAnalysis) {
        let withheld = analysis.withheldReason
        risks = analysis.risks.map { RiskFinding($0, named: true, withheld: withheld) }
        subtypes = analysis.subtypes.map(SubtypeFinding.init)
        phenotypes = analysis.phenotypes.map { PhenotypeFinding($0, named: true, withheld: withheld) }
    }

    /// Keyed by output id, entries without target and label (screening results).
    public static func keyed(_ analysis: ECGAnalysis)
        -> (risks: [String: RiskFinding], subtypes: [String: Double], phenotypes: [String: PhenotypeFinding]) {
        let withheld = analysis.withheldReason
        return (Dictionary(analysis.risks.map { ($0.target.output, RiskFinding($0, named: false, withheld: withheld)) },
                           uniquingKeysWith: { _, last in last }),
                Dictionary(analysis.subtypes.map { ($0.target.output, $0.probability) }, uniquingKeysWith: { first, _ in first }),
                Dictionary(analysis.phenotypes.map { ($0.target.output, PhenotypeFinding($0, named: false, withheld: withheld)) },
                           uniquingKeysWith: { _, last in last }))
    }
}
