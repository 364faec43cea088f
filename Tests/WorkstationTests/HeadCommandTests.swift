import Foundation
import Testing
@testable import CardiacModels
import CaseAnalysis
@testable import Workstation

/// `:head` takes what a cardiologist types: the output id, "head.output", the label, or the short
/// form the panels show; anything else is a typed error that lists the choices. A later success
/// clears the error from the status line.
@Suite struct HeadCommandTests {
    /// The demo-v2 bundle's risk ids and labels (assets/models/demo-v2/manifest.json).
    static let demoRisks: [(String, String)] = [
        ("cad", "Coronary artery disease"), ("heart_failure", "Heart failure"), ("cardiomyopathy", "Cardiomyopathy"),
        ("pulmonary_hypertension", "Pulmonary hypertension"), ("pericarditis", "Pericarditis"),
        ("atrial_fibrillation", "Atrial fibrillation"), ("wall_motion_abnormality", "Wall-motion abnormality (CMR)"),
        ("lge", "Late gadolinium enhancement (CMR)"), ("t1_abnormal", "Native T1 ≥ 1060 ms (CMR)"),
        ("t2_abnormal", "T2 ≥ 58 ms (CMR)"), ("ecv_abnormal", "ECV ≥ 33 % (CMR)"),
    ]

    static func risks() -> [RiskScore] {
        demoRisks.map { id, label in
            RiskScore(target: HeadTarget(head: "risk", output: id), label: label, probability: 0.2, validationAUC: 0.8,
                      isWeak: false, bands: [0.3, 0.6], band: .low)
        }
    }

    @Test func namesIdsLabelsAndShortFormsResolve() {
        let risks = Self.risks()
        func index(_ name: String) -> Int? { if case .found(let i) = HeadChoice.resolve(name, among: risks) { return i }; return nil }
        #expect(index("af") == 5)
        #expect(index("AF") == 5)
        #expect(index("atrial fibrillation") == 5)
        #expect(index("atrial_fibrillation") == 5)
        #expect(index("risk.atrial_fibrillation") == 5)
        #expect(index("lge") == 7)
        #expect(index("Late gadolinium enhancement") == 7)
        #expect(index("cad") == 0)
        #expect(index("hf") == 1)
        #expect(index("wma") == 6)
        #expect(index("pericarditis") == 4)
        // Every head can be reached by every one of its listed choices.
        guard case .failed(let error) = HeadChoice.resolve("bogus", among: risks) else { Issue.record("bogus resolved"); return }
        #expect(error.requested == "bogus" && error.choices.count == risks.count)
        #expect(error.description.contains("af (atrial_fibrillation)") && error.description.lowercased().contains("lge"))
        for (i, choice) in error.choices.enumerated() {
            let name = choice.split(separator: " ").first.map(String.init) ?? choice
            #expect(index(name) == i, "\(choice)")
        }
    }

    @Test func errorThenSuccessClearsTheStatusLine() {
        let screen = GridScreen(width: 120, height: 40)
        let app = WorkstationApp(screen: screen, theme: .monochrome, cases: nil)
        app.state = stateWithRecord(model: true)
        app.state.analysis?.risks = Self.risks()
        app.runCommand("head nonsense")
        #expect(app.state.status.isError && app.state.status.text.contains("heads:"))
        app.runCommand("head lge")
        #expect(!app.state.status.isError, "\(app.state.status)")
        #expect(app.state.gradCAMTarget == HeadTarget(head: "risk", output: "lge") && app.state.gradCAMOn)
        app.renderFrame()
        #expect(!screen.text.contains("nonsense"))
        // A key after an error clears it too.
        app.runCommand("gain 7")
        #expect(app.state.status.isError)
        app.perform(.gainUp)
        #expect(!app.state.status.isError)
    }

    @Test func nothingFlaggedMeansNoDefaultHeadAndAHint() {
        let app = WorkstationApp(screen: GridScreen(width: 120, height: 40), theme: .monochrome, cases: nil)
        app.state = stateWithRecord(model: true)
        app.state.analysis?.risks = Self.risks()
        #expect(app.state.gradCAMTarget == nil)
        #expect(CaseAnalysis.defaultGradCAMTarget(app.state.analysis!) == nil)
    }
}
