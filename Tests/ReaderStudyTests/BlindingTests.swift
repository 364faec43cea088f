import CaseAnalysis
import Foundation
import Testing
import ECGFormats
import CardiacModels
@testable import ReaderStudy
@testable import Workstation

// Blinding: every reader-mode screen, rendered headlessly, for stages that hide labels and scores.
// Two studies hold the same ECG and CMR content under different file names, case ids, folder names
// and opposite labels; driven by the same keys, every frame must be identical cell for cell — so
// nothing on screen depends on a label, id or file name — and no such string may appear in any frame.

private struct Twin {
    var store: StudyStore
    var forbidden: [String]
}

private func makeTwin(tag: String, invert: Bool, count: Int, stages: [[String: Any]], model: [String: Any]?) throws -> Twin {
    let dir = try StudySupport.tempDir()
    var cases: [[String: Any]] = []
    var forbidden: [String] = []
    for i in 0..<count {
        let source = StudySupport.sampleData.appendingPathComponent(StudySupport.singleFileECGs[i % StudySupport.singleFileECGs.count])
        let patient = source.deletingLastPathComponent()
        let folder = dir.appendingPathComponent("\(tag)-PATIENT-FOLDER-\(i)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let ecgName = "\(tag)-ecgfile-\(i).\(source.pathExtension)"
        try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent(ecgName))
        for view in ["sax.npy", "lax.npy"] {
            try FileManager.default.copyItem(at: patient.appendingPathComponent(view), to: folder.appendingPathComponent(view))
        }
        let positive = (i % 2 == 0) != invert
        let id = "\(tag)-CASE-ID-\(i)"
        let truth: [String: Any] = positive ? ["finding": true, "subtype": invert ? "DCM" : "RCM"] : ["finding": false]
        var c: [String: Any] = [:]
        c["id"] = id
        c["ecg"] = folder.appendingPathComponent(ecgName).path
        c["realCMR"] = folder.path
        c["truth"] = truth
        cases.append(c)
        forbidden += [id, ecgName, folder.lastPathComponent, source.lastPathComponent, patient.lastPathComponent]
        let record = try ECGFileReader.read(url: source)
        if let pid = record.metadata.patientID, !pid.isEmpty { forbidden.append(pid) }
    }
    var json = StudySupport.definitionJSON(cases: cases, stages: stages, model: model)
    json["id"] = "blinding"
    let url = try StudySupport.writeDefinition(json, in: dir)
    let def = try StudyDefinition.load(from: url)
    let store = try StudyStore.create(at: dir.appendingPathComponent("s.db").path, definition: def,
                                      definitionSource: url.path, operatorName: "op")
    try store.addReader(id: "R1", name: "Reader One", role: "junior", operatorName: "op")
    forbidden += [dir.path, "truth", "label"]
    return Twin(store: store, forbidden: forbidden)
}

/// Every frame of a full pass through one stage, driven by a fixed key script.
private func frames(_ store: StudyStore, stage: String, pipeline: CardiacPipeline?, override: Bool) throws -> [CellGrid] {
    let presenter = StudyCasePresenter(definition: store.definition, cases: pipeline.map(CaseAnalysis.init), frameCount: 6)
    let session = try ReaderSession(store: store, readerID: "R1", stageID: stage, presenter: presenter,
                                    washoutOverride: override ? (operatorName: "op", reason: "test") : nil)
    let controller = ReaderModeController(session: session, readerName: "Reader One")
    let screen = GridScreen(width: 120, height: 40)
    screen.send(keys: [.character("q"), .character("n")])                // leave dialog, stay
    for k in 0..<session.total {
        if k == 0 {
            screen.send(keys: [.character("?"), .character("x"),           // help overlay and back
                               .enter,                                     // submit too early → error line
                               .character("y"), .enter,                    // still no confidence → error line
                               .character("3"), .character("t"), .character("t"), .character("e")])
            screen.type("ok")
            screen.send(keys: [.enter, .character("]"), .character(" "), .character(" "), .enter, .escape])
        } else {
            if k == 1 {                                                    // the measuring tools
                screen.send(keys: [.character("+"), .character(">"), .character("j"), .character("z"), .character("c"),
                                   .character("L"), .character("L"), .character("l"), .character("z"), .character("0")])
            }
            screen.send(keys: [k % 2 == 0 ? .character("y") : .character("n"), .character("4"), .character("t")])
        }
        screen.send(keys: [.enter, .enter])                                 // submit → confirm dialog → saved
    }
    screen.send(keys: [.character("q")])
    var out: [CellGrid] = []
    ReaderModeRunner.run(controller, on: screen, theme: .monochrome, endOfInput: { !screen.hasPendingEvents }) { out.append($0) }
    #expect(session.isFinished, "the key script should answer every case")
    return out
}

private func checkBlinded(stages: [[String: Any]], model: [String: Any]?, pipeline: CardiacPipeline?) throws {
    let a = try makeTwin(tag: "ALPHA", invert: false, count: 4, stages: stages, model: model)
    let b = try makeTwin(tag: "BRAVO", invert: true, count: 4, stages: stages, model: model)
    var scores: [String] = []
    if let pipeline {
        for c in a.store.definition.cases {
            let analysis = pipeline.analyse(try pipeline.prepare(try ECGFileReader.read(url: URL(fileURLWithPath: c.ecg))))
            for r in analysis.risks {
                scores += [String(format: "%.0f%%", r.probability * 100), String(format: "%.2f", r.probability), String(format: "%.3f", r.probability)]
            }
        }
    }
    for (k, stage) in a.store.definition.stages.enumerated() {
        let fa = try frames(a.store, stage: stage.id, pipeline: pipeline, override: k > 0)
        let fb = try frames(b.store, stage: stage.id, pipeline: pipeline, override: k > 0)
        #expect(fa.count == fb.count && fa.count > 20, "stage \(stage.id): \(fa.count) frames")
        for (i, (x, y)) in zip(fa, fb).enumerated() where x != y {
            Issue.record("stage \(stage.id) frame \(i) differs between studies with different labels/ids/files:\n\(x.text)\n----\n\(y.text)")
            break
        }
        let forbidden = (a.forbidden + b.forbidden).map { $0.lowercased() }
        for frame in fa + fb {
            let text = frame.text, lower = text.lowercased()
            for s in forbidden where lower.contains(s) {
                Issue.record("stage \(stage.id): '\(s)' is on a reader screen:\n\(text)")
            }
            for s in scores where text.contains(s) { Issue.record("stage \(stage.id): model score '\(s)' is on screen:\n\(text)") }
            #expect(!text.contains("Model scores") && !text.contains("%"), "stage \(stage.id) shows scores")
        }
        // The screens did show the case: traces and, where the stage says so, cines.
        let all = fa.map(\.text).joined(separator: "\n")
        #expect(all.contains("Case 1 of 4") && all.contains("Case 4 of 4") && all.contains("12-lead ECG"))
        #expect(all.contains("Confirm") && all.contains("Reader keys") && all.contains("Answer the finding first"))
        if stage.shows(.realCMR) { #expect(all.contains("Real SAX") && all.contains("Real LAX")) }
        if stage.shows(.generatedCMR) { #expect(all.contains("Generated SAX")) }
        if stage.shows(.gradCAM) { #expect(all.contains("Grad-CAM")) }
    }
}

@Test func readerScreensWithoutModelRevealNoLabelIdOrFileName() throws {
    try checkBlinded(stages: [["id": "ecg-only", "title": "ECG only", "shows": ["traces"]],
                              ["id": "ecg+real-cmr", "title": "ECG + real CMR", "shows": ["traces", "real-cmr"], "washoutDays": 28]],
                     model: nil, pipeline: nil)
}

@Test func readerScreensWithGeneratedCMRAndGradCAMRevealNoScores() throws {
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: StudySupport.tinyBundle))
    try checkBlinded(stages: [["id": "ecg+generated-cmr", "title": "ECG + generated CMR", "shows": ["traces", "generated-cmr", "grad-cam"]]],
                     model: ["head": "risk", "output": "cm", "generatorSeed": 3], pipeline: pipeline)
}

@Test func aStageThatShowsScoresDoesShowThem() throws {
    // Positive control for the checks above: the same renderer puts scores on screen when allowed.
    let pipeline = try CardiacPipeline(bundle: ModelBundle.load(from: StudySupport.tinyBundle))
    let twin = try makeTwin(tag: "SCORE", invert: false, count: 1,
                            stages: [["id": "scores", "title": "ECG + model", "shows": ["traces", "model-scores"]]],
                            model: ["head": "risk", "output": "cm"])
    let presenter = StudyCasePresenter(definition: twin.store.definition, cases: CaseAnalysis(pipeline: pipeline))
    let session = try ReaderSession(store: twin.store, readerID: "R1", presenter: presenter)
    let text = ReaderView.render(ReaderModeController(session: session, readerName: "R"), size: GridSize(width: 150, height: 48), theme: .monochrome).text
    #expect(text.contains("Model scores") && text.contains("%") && text.contains("Cardiomyopathy"))
    #expect(text.contains("random-tiny") || text.contains("Model:"))
}

@Test func confirmIsRequiredAndEscapeKeepsTheCase() throws {
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2)))
    try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
    let session = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
    let c = ReaderModeController(session: session, readerName: "Dr A")
    for k in [Key.character("n"), .character("5"), .enter] { c.handle(.key(k)) }
    #expect(c.mode == .confirmingSubmit)
    c.handle(.key(.escape))
    #expect(c.mode == .answering && c.draft.finding == false && session.position == 1)
    #expect(try store.answers(reader: "A", stage: "ecg-only").isEmpty)
    c.handle(.key(.enter)); c.handle(.key(.enter))
    #expect(session.position == 2 && c.draft == AnswerDraft())
    #expect(try store.answers(reader: "A", stage: "ecg-only").map(\.confidence) == [5])
}

@Test func operatorGuideListsTheReaderKeyMap() throws {
    // docs/reader-study.md carries the table generated from ReaderKeys.map (no hand-kept key list).
    let guide = try String(contentsOf: StudySupport.repoRoot.appendingPathComponent("docs/reader-study.md"), encoding: .utf8)
    let table = ReaderKeys.map.markdownTable
    #expect(guide.contains(table), "update docs/reader-study.md with:\n\(table)")
}

@Test func readerModeDrawsAtSmallTerminalSizes() throws {
    let twin = try makeTwin(tag: "SMALL", invert: false, count: 1,
                            stages: [["id": "real", "title": "ECG + real CMR", "shows": ["traces", "real-cmr"]]], model: nil)
    let session = try ReaderSession(store: twin.store, readerID: "R1", presenter: StudyCasePresenter(definition: twin.store.definition, cases: nil))
    let c = ReaderModeController(session: session, readerName: "R")
    for size in [GridSize(width: 80, height: 24), GridSize(width: 40, height: 12), GridSize(width: 10, height: 4)] {
        for keys in [[Key](), [.character("?")], [.character("x"), .character("y"), .character("2"), .enter]] {
            for k in keys { c.handle(.key(k)) }
            let text = ReaderView.render(c, size: size, theme: .standard).text
            #expect(!text.isEmpty)
            if size.width >= 80 { #expect(text.contains("Case 1 of 1")) }
        }
        c.handle(.key(.escape))
    }
}

@Test func readerToolsMeasureAndGoToTheAuditLog() throws {
    let twin = try makeTwin(tag: "TOOLS", invert: false, count: 2,
                            stages: [["id": "ecg", "title": "ECG only", "shows": ["traces"]],
                                     ["id": "cmr", "title": "Real CMR only", "shows": ["real-cmr"]]], model: nil)
    let session = try ReaderSession(store: twin.store, readerID: "R1", presenter: StudyCasePresenter(definition: twin.store.definition, cases: nil))
    let c = ReaderModeController(session: session, readerName: "R")
    let size = GridSize(width: 160, height: 50)
    #expect(ReaderView.render(c, size: size, theme: .monochrome).text.contains("25 mm/s  10 mm/mV │ h/l cursor"))
    // Gain up, speed up, lead III selected and zoomed, caliper over 25 cursor steps of 4 ms = 100 ms.
    for k: Key in [.character("+"), .character(">"), .character("j"), .character("z"), .character("c")] { c.handle(.key(k)) }
    for _ in 0..<25 { c.handle(.key(.character("l"))) }
    #expect(c.paper == PaperSettings(speedMillimetresPerSecond: 50, gainMillimetresPerMillivolt: 20))
    #expect(c.zoomed && c.selectedLead == .iii && abs(c.cursorSeconds - 1.1) < 1e-9 && c.caliperStartSeconds == 1.0)
    let screen = ReaderView.render(c, size: size, theme: .monochrome).text
    #expect(screen.contains("50 mm/s  20 mm/mV  zoom III") && screen.contains("cursor 1.100 s") && screen.contains("Δt 100 ms"))
    // The answer commits; the tool use lands in the audit log for that case, and the caliper resets.
    let caseID = session.order[0]
    for k: Key in [.character("y"), .character("4"), .enter, .enter] { c.handle(.key(k)) }
    #expect(try twin.store.answers(reader: "R1", stage: "ecg").count == 1)
    let entry = try #require(try twin.store.auditLog().last { $0.action == "reader-tools" })
    #expect(entry.reader == "R1" && entry.stage == "ecg" && entry.caseID == caseID)
    let detail = try #require(entry.detail)
    #expect(detail.contains("gain 20 mm/mV") && detail.contains("speed 50 mm/s") && detail.contains("zoom III") && detail.contains("caliper III Δt 100 ms (open)"))
    #expect(c.caliperStartSeconds == nil && !c.cursorActive && c.paper.gainMillimetresPerMillivolt == 20, "paper carries over, the caliper does not")
    // A case answered without touching the tools adds no audit line.
    let before = try twin.store.auditLog().filter { $0.action == "reader-tools" }.count
    for k: Key in [.character("n"), .character("2"), .enter, .enter] { c.handle(.key(k)) }
    #expect(try twin.store.auditLog().filter { $0.action == "reader-tools" }.count == before)
    // A stage without traces has nothing to measure, and says so.
    let cmrOnly = try ReaderSession(store: twin.store, readerID: "R1", stageID: "cmr", presenter: StudyCasePresenter(definition: twin.store.definition, cases: nil),
                                    washoutOverride: (operatorName: "op", reason: "test"))
    let d = ReaderModeController(session: cmrOnly, readerName: "R")
    d.handle(.key(.character("+")))
    #expect(d.message == "This stage shows no traces to measure." && d.paper == PaperSettings())
}
