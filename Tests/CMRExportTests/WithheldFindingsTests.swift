import CaseAnalysis
@testable import CardiacModels
import ECGFormats
import Foundation
import TestSupport
import Testing
@testable import CMRExport

/// An out-of-distribution ECG's outputs are withheld as findings: the report states why instead of
/// drawing them (or greys them all with --show-unreliable), the export manifest marks each one,
/// and — with the demo-v2 bundle — every real 12-lead record in tests/records gets such a page.
@Suite struct WithheldFindingsTests {
    @Test(.enabled(if: ECGReportTests.pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func outOfDistributionPageDrawsNoFinding() throws {
        let content = ECGReportTests.content(outside: true)
        #expect(content.withheld == OutOfDistributionVerdict.withheldReason)
        guard case .withheld = ECGReportWriter.modelPanels(content) else { Issue.record("not withheld"); return }
        let text = try ECGReportTests.text(try ECGReportWriter.pdf(content))
        #expect(text.contains("Model outputs withheld"))
        #expect(text.contains("out of distribution"))
        // No risk or phenotype row at all: nothing on the page can read as a finding.
        for label in ["Coronary artery disease", "Cardiac amyloidosis", "LV ejection fraction", "Native T1"] {
            #expect(!text.contains(label), "\(label) drawn on a withheld page")
        }
        #expect(!text.contains("↓") && !text.contains("↑"))

        // Inside the distribution the same outputs are findings (the test can fail).
        let inside = try ECGReportTests.text(try ECGReportWriter.pdf(ECGReportTests.content(outside: false)))
        #expect(inside.contains("Coronary artery disease") && inside.contains("↓"))
    }

    @Test(.enabled(if: ECGReportTests.pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func showUnreliableGreysEveryRow() throws {
        var content = ECGReportTests.content(outside: true)
        content.showUnreliable = true
        #expect(ECGReportWriter.modelPanels(content) == .results(unreliable: true))
        let a = try #require(content.analysis)
        #expect(a.risks.allSatisfy { ECGReportWriter.riskStyle($0, unreliable: true) == .weak })
        #expect(a.phenotypes.allSatisfy { ECGReportWriter.phenotypeStyle($0, unreliable: true) == .weak })
        #expect(a.risks.contains { ECGReportWriter.riskStyle($0, unreliable: false) == .flagged })
        let text = try ECGReportTests.text(try ECGReportWriter.pdf(content))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(text.contains(OutOfDistributionVerdict.unreliableLabel))
        let cad = try #require(lines.first { $0.contains("Coronary artery disease") })
        #expect(cad.contains("unreliable") && !cad.contains("high"))
        let lvef = try #require(lines.first { $0.contains("LV ejection fraction") })
        #expect(!lvef.contains("↓"))
    }

    @Test func findingsCarryTheWithheldReason() {
        let outside = CaseFindings(ECGReportTests.analysis(outside: true))
        #expect(outside.risks.allSatisfy { $0.withheld == OutOfDistributionVerdict.withheldReason && !$0.isHighAndTrusted })
        #expect(outside.phenotypes.allSatisfy { $0.withheld != nil && !$0.isOutOfRangeAndTrusted })
        let inside = CaseFindings(ECGReportTests.analysis(outside: false))
        #expect(inside.risks.allSatisfy { $0.withheld == nil })
        #expect(inside.risks.contains { $0.isHighAndTrusted })
        #expect(inside.phenotypes.contains { $0.isOutOfRangeAndTrusted })
    }

    /// The manifest's `outOfDistribution` is the verdict's own fields, flat beside `outside`,
    /// `warning` and `withheld` (the layout manifests have always had: tests/ood reads it), unset
    /// optionals left out; it reads back to the same value.
    @Test func manifestOutOfDistributionKeepsItsLayout() throws {
        let verdict = OutOfDistributionVerdict(score: 1.5, embeddingDistance: 3, inputDistance: 2, embeddingThreshold: 2, inputThreshold: 4,
                                               leadStatistics: [0.5, 1.25], leadThresholds: [1, 1])
        let entry = ExportManifest.OutOfDistribution(verdict, withheld: OutOfDistributionVerdict.withheldReason)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(entry), as: UTF8.self)
        #expect(json == #"{"embeddingDistance":3,"embeddingThreshold":2,"inputDistance":2,"inputThreshold":4,"leadStatistics":[0.5,1.25],"#
                     + #""leadThresholds":[1,1],"outside":true,"score":1.5,"warning":"\#(OutOfDistributionVerdict.warning)","#
                     + #""withheld":"\#(OutOfDistributionVerdict.withheldReason)"}"#)
        #expect(try JSONDecoder().decode(ExportManifest.OutOfDistribution.self, from: Data(json.utf8)) == entry)

        let inside = ExportManifest.OutOfDistribution(OutOfDistributionVerdict(score: 0.5, embeddingDistance: 1, inputDistance: 1,
                                                                               embeddingThreshold: 2, inputThreshold: 2), withheld: nil)
        #expect(!inside.outside && inside.warning == nil)
        #expect(String(decoding: try encoder.encode(inside), as: UTF8.self)
                == #"{"embeddingDistance":1,"embeddingThreshold":2,"inputDistance":1,"inputThreshold":2,"outside":false,"score":0.5}"#)
    }

    // MARK: real records with the demo-v2 bundle

    static let demoV2 = TestEnvironment.repositoryRoot.appendingPathComponent("assets/models/demo-v2")
    static let records = TestEnvironment.repositoryRoot.appendingPathComponent("tests/records")
    static var haveDemoV2: Bool { FileManager.default.fileExists(atPath: demoV2.appendingPathComponent("manifest.json").path) }

    /// Every real 12-lead ECG in tests/records: CinC 2021, HL7 aECG, GE MUSE, DICOM, PTB s0010_re.
    static func realTwelveLeadRecords() -> [URL] {
        let cinc = ((try? FileManager.default.contentsOfDirectory(atPath: records.appendingPathComponent("cinc2021").path)) ?? [])
            .filter { $0.hasSuffix(".hea") }.sorted().map { records.appendingPathComponent("cinc2021/" + $0) }
        return cinc + ["example-aecg.xml", "example-muse.xml", "example-ecgtoolkit.dcm", "s0010_re.hea"].map { records.appendingPathComponent($0) }
    }

    /// The report of every real 12-lead record: the model runs (encoder, out-of-distribution check)
    /// and the page's model panels are the withheld statement — no risk or phenotype drawn. The
    /// generator is not run here (it does not decide what the panels show); tests/ood/run.sh renders
    /// a real PDF through the binary.
    ///
    /// With the detector of rule v3 (docs/MODEL_CARD.md, "Out-of-distribution rule") every one of the
    /// 20 is flagged, so no page draws a finding for a real record.
    @Test(.enabled(if: haveDemoV2, "needs assets/models/demo-v2"))
    func realRecordReportsWithholdFindings() throws {
        let cases = try CaseAnalysis.load(bundleAt: Self.demoV2)
        let urls = Self.realTwelveLeadRecords()
        #expect(urls.count >= 20)
        var drawn: [String] = []
        var flagged = 0
        for url in urls {
            let record = try ECGFileReader.read(url: url)
            #expect(cases.notApplicableReason(record) == nil, "\(url.lastPathComponent)")
            let analysis = try cases.run(record, options: CaseOptions(parts: .findings)).analysis
            var content = ECGReportTests.content(outside: false)
            content.record = record
            content.analysis = analysis
            let withheld: Bool
            if case .withheld = ECGReportWriter.modelPanels(content) { withheld = true } else { withheld = false }
            if analysis.outOfDistribution?.isOutside == true {
                flagged += 1
                #expect(withheld, "\(url.lastPathComponent): flagged out of distribution but its report draws findings")
            } else {
                drawn.append("\(url.lastPathComponent) (score \(analysis.outOfDistribution.map { String(format: "%.2f", $0.score) } ?? "none"))")
            }
        }
        #expect(flagged == urls.count, "real records not flagged out of distribution: \(drawn)")
        #expect(drawn.isEmpty, "reports drawing findings for real records: \(drawn)")
    }
}
