import Foundation
import Testing
@testable import CardiacModels
@testable import Workstation
import CaseAnalysis

/// The demo-v2 bundle's head labels (assets/models/demo-v2/manifest.json).
let demoRiskLabels = ["Coronary artery disease", "Atrial fibrillation", "Cardiomyopathy", "Pericarditis", "Heart failure",
                      "Pulmonary hypertension", "Wall-motion abnormality (CMR)", "Late gadolinium enhancement (CMR)",
                      "Native T1 ≥ 1060 ms (CMR)", "T2 ≥ 58 ms (CMR)", "ECV ≥ 33 % (CMR)"]
let demoPhenotypeLabels = ["LV end-diastolic volume", "LV end-systolic volume", "LV ejection fraction", "LV stroke volume",
                           "LV cardiac output", "LV mass", "LV mean wall thickness (ED)", "RV end-diastolic volume",
                           "RV end-systolic volume", "RV ejection fraction", "RV stroke volume", "LA maximal volume",
                           "RA maximal volume"] + (1...16).map { "Wall thickness, AHA segment \($0)" }

@Suite struct LabelFitTests {
    @Test func shortenedLabelsStayDistinctAndKeepTheirNumbers() {
        for width in 7...30 {
            for labels in [demoRiskLabels, demoPhenotypeLabels] {
                let fitted = labels.map { ClinicalLabel.fit($0, width: width) }
                #expect(Set(fitted).count == labels.count, "width \(width): \(fitted)")
                for (label, f) in zip(labels, fitted) {
                    #expect(f.unicodeScalars.count <= width)
                    if let n = label.split(separator: " ").last, Int(n) != nil { #expect(f.hasSuffix(" " + n), "\(f)") }
                }
            }
        }
        #expect(ClinicalLabel.fit("Wall thickness, AHA segment 12", width: 9) == "WT seg 12")
        #expect(ClinicalLabel.fit("Coronary artery disease", width: 9) == "CAD")
        #expect(ClinicalLabel.fit("Native T1 ≥ 1060 ms (CMR)", width: 9) == "T1≥1060ms")
        #expect(ClinicalLabel.fit("LV ejection fraction", width: 26) == "LV ejection fraction")
    }

    func analysis() -> ECGAnalysis {
        var a = syntheticAnalysis()
        a.risks = demoRiskLabels.enumerated().map { i, label in
            RiskScore(target: HeadTarget(head: "risk", output: "r\(i)"), label: label, probability: 0.3, validationAUC: 0.8,
                      isWeak: false, bands: [0.3, 0.6], band: .intermediate)
        }
        a.phenotypes = demoPhenotypeLabels.enumerated().map { i, label in
            PhenotypeValue(target: HeadTarget(head: "phenotype", output: "p\(i)"), label: label, value: 10, unit: "mm",
                           referenceRange: 5...15, validationR: 0.7, isOutOfRange: false)
        }
        return a
    }

    @Test(arguments: [GridSize(width: 80, height: 24), GridSize(width: 120, height: 40), GridSize(width: 200, height: 60), GridSize(width: 250, height: 70)])
    func noLabelLosesItsDistinguishingPart(size: GridSize) throws {
        var s = stateWithRecord(model: true)
        s.analysis = analysis()
        var texts: [String] = []
        for focus in [PaneID.risks, .phenotypes] {
            for scroll in stride(from: 0, through: 28, by: 4) {
                s.focus = focus
                s.scroll[.phenotypes] = scroll
                texts.append(WorkstationRenderer.render(s, size: size, theme: .monochrome).0.text)
            }
        }
        let all = texts.joined(separator: "\n")
        for cut in ["segme…", "Coron…", "Heart…", "Atrial…", "Pulmon…", "Native…", "probabilit…", "phenoty…"] { #expect(!all.contains(cut), "\(size): \(cut)") }
        // Every AHA segment shows with its number somewhere in the scrolled list.
        for k in 1...16 { #expect(all.contains("seg \(k) ") || all.contains("segment \(k) "), "\(size): segment \(k)") }
        for risk in ["CAD", "AF", "HF"] where !all.contains(demoRiskLabels[["CAD": 0, "AF": 1, "HF": 4][risk]!]) {
            #expect(all.contains(risk + " "), "\(size): \(risk)")
        }
    }
}
