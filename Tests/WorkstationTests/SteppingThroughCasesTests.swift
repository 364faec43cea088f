import CaseAnalysis
import CardiacModels
import Foundation
import Testing
@testable import Workstation

/// Stepping through a folder queues one case job per key press; only the case the user lands on
/// is read and analysed, so the model never works on cases already left behind (and quitting does
/// not wait for them).
@Suite(.serialized) struct SteppingThroughCasesTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let bundleURL = repoRoot.appendingPathComponent("Tests/CMRExportTests/Fixtures/bundle-tiny")

    @Test func casesLeftBehindAreNeverAnalysed() throws {
        let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: Self.bundleURL))
        let app = WorkstationApp(screen: GridScreen(width: 160, height: 48), theme: .monochrome, cases: CaseAnalysis(pipeline: pipeline))
        app.open(Self.repoRoot.appendingPathComponent("sample-data"))
        let cases = app.state.cases.count
        #expect(cases >= 10)
        // The first case is queued by open; nine more presses before any job could finish.
        for _ in 0..<9 { app.handle(.key(.character("n"))) }
        #expect(app.waitForBackgroundWork())
        #expect(app.state.caseIndex == 9)
        #expect(app.state.analysis != nil && app.state.cmr != nil, "the case landed on is analysed and shown")
        // At most the case whose job had already started when the keys came, and the last one.
        #expect(pipeline.runCounts.analyses <= 2, "analyses: \(pipeline.runCounts.analyses) for 10 queued cases")
        #expect(pipeline.runCounts.generations <= 2)
    }
}
