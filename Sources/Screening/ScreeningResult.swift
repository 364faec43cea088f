import CaseAnalysis
import ECGFormats
import Foundation
import SignalKit

/// One line of a screening output: everything a clinic needs to triage one ECG, or why it failed.
public struct ScreeningResult: Codable, Sendable, Equatable {
    public struct Failure: Codable, Sendable, Equatable {
        public var kind: String
        public var message: String
        public var location: String?
    }

    /// The scores in the shared schema of CaseAnalysis (the export manifest writes the same types,
    /// there with target and label; here the output id is the key).
    public typealias Risk = RiskFinding
    public typealias Phenotype = PhenotypeFinding

    public var file: String
    public var status: String              // "ok", "not-applicable" (read and measured; the model does not apply) or "error"
    public var error: Failure?
    /// With status "not-applicable": why the model does not apply (e.g. the leads it needs are absent).
    public var notApplicable: String?
    public var format: String?
    public var inputSHA256: String?
    /// Which bytes `inputSHA256` covers when not the whole file(s) (`Provenance.sha256Scope`).
    public var inputSHA256Scope: String?
    public var leads: [String]?
    public var samplingRate: Double?
    public var durationSeconds: Double?
    /// For records longer than 60 s: the 10 s window heart rate, quality, measurements and the model saw.
    public var analysedWindow: RecordSummary.AnalysedWindow?
    public var heartRateBpm: Double?
    public var rhythm: String?
    /// Lead name → quality problems found in it (absent leads are clean).
    public var qualityFlags: [String: [String]]?
    /// ecg2cmr's global measurements (PR, QRS, QT, QTc, axes, heart rate); values null when not measurable.
    public var measurements: IntervalMeasurements?
    /// The device's own measurements when the file carries them (MUSE 12SL, aECG annotations).
    public var deviceMeasurements: IntervalMeasurements?
    public var modelID: String?
    public var syntheticModel: Bool?
    public var risks: [String: Risk]?
    public var subtypes: [String: Double]?
    public var phenotypes: [String: Phenotype]?
    /// True when the ECG lies outside what the model was trained on (its scores should not be
    /// trusted); nil when the model has no such check.
    public var outOfDistribution: Bool?
    /// The out-of-distribution score (≤ 1 inside, > 1 outside).
    public var outOfDistributionScore: Double?
    /// Why the model's outputs are not findings for this ECG (out of distribution): no `high:` or
    /// `out-of-range:` flag is raised, and each risk / phenotype carries the same reason.
    public var withheld: String?
    /// True when any non-weak risk is in its high band, any non-weak phenotype is out of range, or
    /// the ECG is out of distribution.
    public var flagged: Bool?
    public var flags: [String]?
    public var cmrExport: String?
    /// The ECG embedding (`screen --embeddings`): the model's aligned embedding, or its pooled
    /// vector when the bundle has no projection.
    public var embedding: [Float]?

    /// The status of a record the model cannot read (see `notApplicable`).
    public static let notApplicableStatus = "not-applicable"

    public static func failure(file: String, kind: String, message: String, location: String? = nil) -> ScreeningResult {
        ScreeningResult(file: file, status: "error",
                        error: Failure(kind: kind, message: message, location: location))
    }

    /// A later step's failure for a record that was read: its format and digest stay on the line.
    func failed(kind: String, message: String) -> ScreeningResult {
        var f = Self.failure(file: file, kind: kind, message: message)
        f.format = format
        f.inputSHA256 = inputSHA256
        return f
    }

    public init(file: String, status: String, error: Failure? = nil) {
        self.file = file
        self.status = status
        self.error = error
    }

    /// Flat (column, value) pairs in a stable order for the CSV output.
    func flattened() -> [(String, String)] {
        func number(_ value: Double?) -> String { value.map { String(format: "%.4g", $0) } ?? "" }
        var row: [(String, String)] = [
            ("file", file), ("status", status),
            ("error", error.map { [$0.kind, $0.message, $0.location].compactMap { $0 }.joined(separator: ": ") } ?? ""),
            ("format", format ?? ""), ("input_sha256", inputSHA256 ?? ""),
            ("sampling_rate_hz", number(samplingRate)), ("duration_s", number(durationSeconds)),
            ("analysed_window", analysedWindow?.text ?? ""),
            ("heart_rate_bpm", number(heartRateBpm)), ("rhythm", rhythm ?? ""),
            ("quality_flags", (qualityFlags ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key):\($0.value.joined(separator: "+"))" }.joined(separator: " ")),
            ("model_id", modelID ?? ""),
            ("out_of_distribution", outOfDistribution.map { $0 ? "1" : "0" } ?? ""),
            ("ood_score", number(outOfDistributionScore)),
            ("flagged", flagged.map { $0 ? "1" : "0" } ?? ""),
            ("flags", (flags ?? []).joined(separator: " ")),
            ("withheld", withheld ?? ""),
            ("not_applicable", notApplicable ?? ""),
        ]
        for (id, risk) in (risks ?? [:]).sorted(by: { $0.key < $1.key }) {
            row.append(("risk_\(id)", String(format: "%.4f", risk.probability)))
        }
        for (id, p) in (subtypes ?? [:]).sorted(by: { $0.key < $1.key }) {
            row.append(("subtype_\(id)", String(format: "%.4f", p)))
        }
        for (id, value) in (phenotypes ?? [:]).sorted(by: { $0.key < $1.key }) {
            row.append(("phenotype_\(id)", number(value.value)))
        }
        row.append(("cmr_export", cmrExport ?? ""))
        for (i, v) in (embedding ?? []).enumerated() { row.append(("emb_\(i)", String(format: "%.7g", Double(v)))) }
        return row
    }
}
