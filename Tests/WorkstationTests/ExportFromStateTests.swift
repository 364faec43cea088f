import CardiacModels
import CaseAnalysis
import CMRExport
import ECGFormats
import Foundation
import Testing
@testable import Workstation

/// The TUI's export writes the case already in state (scores, Grad-CAM and cines the reader saw):
/// the model runs once, and the files are those `ecg2cmr export` writes for the same case.
@Suite(.serialized) struct ExportFromStateTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let bundleURL = repoRoot.appendingPathComponent("Tests/CMRExportTests/Fixtures/bundle-tiny")
    static let recordURL = repoRoot.appendingPathComponent("tests/records/cinc2021/E07500.hea")

    @Test func tuiExportRunsTheModelOnceAndWritesTheCLIFiles() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tui-export-\(UUID())")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let tuiFolder = tmp.appendingPathComponent("tui"), cliFolder = tmp.appendingPathComponent("cli")

        let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: Self.bundleURL))
        let app = WorkstationApp(screen: GridScreen(width: 160, height: 48), theme: .monochrome, pipeline: pipeline)
        app.open(Self.recordURL)
        #expect(app.waitForBackgroundWork())
        app.handle(.key(.character("g")))          // the reader looks at the Grad-CAM before exporting
        #expect(app.waitForBackgroundWork())
        #expect(app.state.gradCAM?.target == app.state.gradCAMTarget)
        let shown = pipeline.runCounts
        #expect(shown == ModelRunCounts(analyses: 1, gradCAMPasses: 1, generations: 1))

        app.runCommand("export \(tuiFolder.path)")
        #expect(app.waitForBackgroundWork())
        let tuiCase = try #require(app.state.lastExportPath.map { URL(fileURLWithPath: $0) }, "status: \(app.state.status.text)")
        #expect(pipeline.runCounts == shown, "the export reused the analysis, Grad-CAM and cines in state")

        // `ecg2cmr export E07500.hea --seed 1 --gradcam-head <the TUI's head>` in a fresh process.
        let cli = try CaseExporter(pipeline: try CardiacPipeline(bundle: ModelBundle.load(from: Self.bundleURL)),
                                   options: ExportOptions(seed: app.state.cmrSeed, gradCAMTarget: app.state.gradCAMTarget?.description))
            .export(record: try ECGFileReader.read(url: Self.recordURL), into: cliFolder)
        #expect(cli.caseDirectory.lastPathComponent == tuiCase.lastPathComponent)

        var tuiManifest = try ExportManifest.load(from: tuiCase.appendingPathComponent(ExportManifest.fileName))
        tuiManifest.createdAt = cli.manifest.createdAt
        #expect(tuiManifest == cli.manifest)
        #expect(cli.manifest.files.count > 60)
        for f in cli.manifest.files {
            #expect(try Data(contentsOf: tuiCase.appendingPathComponent(f.path)) == Data(contentsOf: cli.caseDirectory.appendingPathComponent(f.path)), "\(f.path)")
        }
    }
}
