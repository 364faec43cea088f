import Foundation
import Testing
@testable import CardiacModels
import ECGFormats
@testable import Workstation

/// A deterministic 10 s, 500 Hz 12-lead ECG at 75 bpm built from Gaussian P/QRS/T waves, so
/// snapshots do not depend on sample files that other tools regenerate.
func syntheticRecord(patientID: String = "TEST-001", bpm: Double = 75, path: String = "/data/TEST-001.csv") -> ECGRecord {
    let fs = 500.0, n = 5000
    let rr = 60 / bpm
    // Per-lead amplitude of (P, R, S, T): negative R in aVR, deep S in V1/V2.
    let shape: [LeadID: (Double, Double, Double, Double)] = [
        .i: (0.10, 0.9, -0.1, 0.25), .ii: (0.15, 1.3, -0.15, 0.35), .iii: (0.05, 0.5, -0.1, 0.12),
        .aVR: (-0.12, -1.0, 0.1, -0.3), .aVL: (0.04, 0.3, -0.05, 0.1), .aVF: (0.1, 0.9, -0.1, 0.22),
        .v1: (0.08, 0.3, -1.1, 0.1), .v2: (0.1, 0.6, -1.4, 0.45), .v3: (0.1, 1.0, -0.8, 0.5),
        .v4: (0.1, 1.6, -0.4, 0.5), .v5: (0.1, 1.5, -0.2, 0.4), .v6: (0.1, 1.1, -0.1, 0.3),
    ]
    let leads = LeadID.standard12.map { id -> Lead in
        let (p, r, s, t) = shape[id]!
        let mv = (0..<n).map { i -> Float in
            let ph = (Double(i) / fs).truncatingRemainder(dividingBy: rr)
            func g(_ c: Double, _ w: Double) -> Double { exp(-((ph - c) / w) * ((ph - c) / w)) }
            return Float(p * g(0.1, 0.025) + r * g(0.24, 0.01) + s * g(0.265, 0.012) + t * g(0.5, 0.05))
        }
        return Lead(id: id, millivolts: mv)
    }
    let meta = ECGMetadata(patientID: patientID, ageYears: 61, sex: .male,
                           acquisitionTime: Date(timeIntervalSince1970: 1_767_225_600), device: "synthetic")
    return ECGRecord(leads: leads, samplingRate: fs, metadata: meta,
                     provenance: Provenance(format: .csv, path: path, sha256: String(repeating: "0", count: 64)))
}

/// Model output as CardiacModels would produce it, with one weak tissue head.
func syntheticAnalysis() -> ECGAnalysis {
    func risk(_ output: String, _ label: String, _ p: Double, _ auc: Double) -> RiskScore {
        let band: RiskBand = p >= 0.6 ? .high : p >= 0.3 ? .intermediate : .low
        return RiskScore(target: HeadTarget(head: "risk", output: output), label: label, probability: p,
                         validationAUC: auc, isWeak: auc < 0.65, bands: [0.3, 0.6], band: band)
    }
    func pheno(_ output: String, _ label: String, _ v: Double, _ unit: String, _ lo: Double, _ hi: Double, _ r: Double) -> PhenotypeValue {
        PhenotypeValue(target: HeadTarget(head: "phenotype", output: output), label: label, value: v, unit: unit,
                       referenceRange: lo...hi, validationR: r, isOutOfRange: v < lo || v > hi)
    }
    return ECGAnalysis(
        modelID: "demo-test", isSynthetic: true, embedding: [Float](repeating: 0.1, count: 8),
        risks: [risk("cad", "Coronary artery disease", 0.72, 0.81), risk("af", "Atrial fibrillation", 0.12, 0.88),
                risk("hf", "Heart failure", 0.41, 0.79), risk("t1", "Native T1 ≥ 1060 ms", 0.55, 0.58)],
        subtypes: [SubtypeScore(target: HeadTarget(head: "cm_subtype", output: "dcm"), label: "DCM", probability: 0.6),
                   SubtypeScore(target: HeadTarget(head: "cm_subtype", output: "hcm"), label: "HCM", probability: 0.3),
                   SubtypeScore(target: HeadTarget(head: "cm_subtype", output: "rcm"), label: "RCM", probability: 0.1)],
        phenotypes: [pheno("lvef", "LV ejection fraction", 41.5, "%", 52, 72, 0.71),
                     pheno("lvedv", "LV end-diastolic volume", 165, "mL", 100, 200, 0.66),
                     pheno("lvm", "LV mass", 201, "g", 60, 150, 0.62)],
        rawHeads: [:])
}

/// A Grad-CAM map peaking on V2 between 5.5 and 6.0 s (V2's column shows 5–7.5 s).
func syntheticGradCAM(target: HeadTarget) -> GradCAMMap {
    let fs = 250.0, n = 2500
    var values = [Float](repeating: 0.05, count: 12 * n)
    let v2 = LeadID.standard12.firstIndex(of: .v2)!
    for i in Int(5.5 * fs)..<Int(6.0 * fs) { values[v2 * n + i] = 0.95 }
    let ii = LeadID.standard12.firstIndex(of: .ii)!
    for i in Int(1.0 * fs)..<Int(1.5 * fs) { values[ii * n + i] = 0.6 }
    return GradCAMMap(target: target, leads: LeadID.standard12, samplingRate: fs, sampleCount: n, values: values, patchSamples: 125)
}

func stateWithRecord(model: Bool) -> WorkstationState {
    var s = WorkstationState()
    s.cases = [URL(fileURLWithPath: "/data/TEST-001.csv")]
    s.current = LoadedCase(url: s.cases[0], record: syntheticRecord())
    if model {
        s.model = .loaded(id: "demo-test", isSynthetic: true, disclaimer: "synthetic")
        s.analysis = syntheticAnalysis()
    }
    return s
}

/// Compares with Fixtures/<name>.txt; UPDATE_SNAPSHOTS=1 rewrites the fixture in the source tree.
func expectSnapshot(_ text: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    let file = fixtures.appendingPathComponent(name + ".txt")
    if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1" {
        try (text + "\n").write(to: file, atomically: true, encoding: .utf8)
        return
    }
    // Read from the source tree (not the copied bundle) so a fixture update is seen at once.
    guard FileManager.default.fileExists(atPath: file.path) else {
        Issue.record("missing snapshot fixture \(name).txt (run with UPDATE_SNAPSHOTS=1)", sourceLocation: sourceLocation)
        return
    }
    let url = file
    let expected = try String(contentsOf: url, encoding: .utf8)
    #expect(text + "\n" == expected, "screen differs from Fixtures/\(name).txt", sourceLocation: sourceLocation)
}

func repoRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
