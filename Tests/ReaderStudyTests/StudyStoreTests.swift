import Foundation
import Testing
@testable import ReaderStudy

@Test func databaseIsOwnerOnlyWALAndFullSync() throws {
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 4)))
    let mode = try #require(try FileManager.default.attributesOfItem(atPath: store.path)[.posixPermissions] as? Int)
    #expect(mode & 0o777 == 0o600, "database mode \(String(mode, radix: 8))")
    let p = try store.pragmas()
    #expect(p.journalMode == "wal")
    #expect(p.synchronous == 2, "synchronous must be FULL (2)")
    // The WAL file SQLite created next to it inherits owner-only permissions.
    if let walMode = try? FileManager.default.attributesOfItem(atPath: store.path + "-wal")[.posixPermissions] as? Int {
        #expect(walMode & 0o077 == 0)
    }
    // Never clobbers an existing study.
    #expect(throws: StudyError.self) {
        _ = try StudyStore.create(at: store.path, definition: store.definition, definitionSource: "x", operatorName: "op")
    }
}

@Test func caseOrdersAreRecordedReproducibleAndDifferPerReaderAndStage() throws {
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 12)))
    let a = try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
    try store.addReader(id: "B", name: "Dr B", role: "senior", operatorName: "op")
    let a1 = try store.caseOrder(reader: "A", stage: "ecg-only"), a2 = try store.caseOrder(reader: "A", stage: "ecg+real-cmr")
    let b1 = try store.caseOrder(reader: "B", stage: "ecg-only")
    #expect(Set(a1) == Set(store.definition.cases.map(\.id)) && a1.count == 12)
    #expect(a1 != a2 && a1 != b1, "orders should be reshuffled per stage and reader")
    #expect(a1 == StudyStore.caseOrder(caseIDs: store.definition.cases.map(\.id), readerSeed: a.orderSeed, stageIndex: 0))
    #expect(throws: StudyError.self) { try store.addReader(id: "A", name: "again", role: "junior", operatorName: "op") }
    #expect(throws: StudyError.self) { try store.addReader(id: "C", name: "x", role: "professor", operatorName: "op") }
}

@Test func answersAreFinalResumeAtFirstUnansweredAndWashoutNeedsLoggedOverride() throws {
    let clock = StudySupport.Clock()
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 3)), clock: clock)
    try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
    var session = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
    #expect(session.stage.id == "ecg-only" && session.position == 1)
    try session.submit(AnswerDraft(finding: true, confidence: 4, subtype: "HCM", note: "thick septum"))
    #expect(throws: StudyError.self) { try session.submit(AnswerDraft(finding: true)) }  // no confidence
    // A new session (as after a crash) resumes at case 2; re-answering case 1 is refused.
    session = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
    #expect(session.position == 2 && session.current?.ordinal == 2)
    let first = try store.caseOrder(reader: "A", stage: "ecg-only")[0]
    #expect(throws: StudyError.self) {
        try store.recordAnswer(reader: "A", stage: "ecg-only", caseID: first, finding: false, confidence: 1, subtype: nil, note: nil, secondsOnCase: 1)
    }
    try session.submit(AnswerDraft(finding: false, confidence: 2))
    try session.submit(AnswerDraft(finding: true, confidence: 5, subtype: "DCM"))
    #expect(session.isFinished)
    #expect(try store.answers(reader: "A", stage: "ecg-only").count == 3)

    // Stage 2 is locked for 28 days …
    clock.now += 27 * 86_400
    #expect(throws: StudyError.self) { _ = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter()) }
    if case .washout = try store.availability(reader: "A") {} else { Issue.record("expected wash-out") }
    // … unless the operator overrides, which is stored and audited.
    let s2 = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter(),
                               washoutOverride: (operatorName: "Dr Op", reason: "reader leaves the hospital"))
    #expect(s2.stage.id == "ecg+real-cmr")
    #expect(try store.stageSessions(reader: "A")["ecg+real-cmr"]?.overrideReason == "reader leaves the hospital")
    let log = try store.auditLog()
    #expect(log.contains { $0.action == "washout-override" && $0.actor == "Dr Op" })
    #expect(log.filter { $0.action == "answer" }.count == 3)
    #expect(log.contains { $0.action == "complete-stage" && $0.stage == "ecg-only" })
    #expect(log.first?.action == "study-init")
}

@Test func washoutElapsesWithoutOverride() throws {
    let clock = StudySupport.Clock()
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 1)), clock: clock)
    try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
    let s = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
    try s.submit(AnswerDraft(finding: true, confidence: 3))
    clock.now += 28 * 86_400 + 1
    let s2 = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
    #expect(s2.stage.id == "ecg+real-cmr")
    #expect(try store.stageSessions(reader: "A")["ecg+real-cmr"]?.overrideBy == nil)
}

@Test func badDefinitionsNameTheProblem() throws {
    let dir = try StudySupport.tempDir()
    func expectError(_ json: [String: Any], contains text: String) throws {
        let url = try StudySupport.writeDefinition(json, in: dir)
        do { _ = try StudyDefinition.load(from: url); Issue.record("accepted a bad definition (\(text))") } catch let e as StudyError {
            #expect(e.description.contains(text), "\(e)")
            #expect(e.file == url.path)
        }
    }
    var missing = StudySupport.sampleCases(count: 2)
    missing[1]["ecg"] = "/nonexistent/ecg.csv"
    try expectError(StudySupport.definitionJSON(cases: missing), contains: "does not exist")
    var dup = StudySupport.sampleCases(count: 2)
    dup[1]["id"] = "C1"
    try expectError(StudySupport.definitionJSON(cases: dup), contains: "repeated")
    try expectError(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2),
                                                stages: [["id": "g", "shows": ["traces", "generated-cmr"]]]), contains: "model")
    var j = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2))
    j["format"] = "other/2"
    try expectError(j, contains: "format")
    j = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2))
    j.removeValue(forKey: "questions")
    try expectError(j, contains: "questions")
    let bad = dir.appendingPathComponent("broken.json")
    try Data("{ not json".utf8).write(to: bad)
    #expect(throws: StudyError.self) { _ = try StudyDefinition.load(from: bad) }
}

@Test func demoStudyOverSampleDataIsValid() throws {
    let url = StudySupport.sampleData.appendingPathComponent("studies/demo-cardiomyopathy.json")
    let def = try StudyDefinition.load(from: url)
    #expect(def.stages.map(\.id) == ["ecg-only", "ecg+generated-cmr", "ecg+real-cmr"])
    #expect(def.cases.count >= 10 && def.cases.contains { $0.truth.finding } && def.cases.contains { !$0.truth.finding })
}

// MARK: issue 15 — `study --db` touches nothing foreign; answers.csv neutralises formulas

@Test func openRefusesForeignFilesWithoutTouchingThem() throws {
    let dir = try StudySupport.tempDir()
    let empty = dir.appendingPathComponent("empty.db").path
    FileManager.default.createFile(atPath: empty, contents: Data(), attributes: [.posixPermissions: 0o644])
    let text = dir.appendingPathComponent("notes.db").path
    FileManager.default.createFile(atPath: text, contents: Data(String(repeating: "notes ", count: 40).utf8), attributes: [.posixPermissions: 0o644])
    let target = dir.appendingPathComponent("target.txt").path
    FileManager.default.createFile(atPath: target, contents: Data("precious".utf8), attributes: [.posixPermissions: 0o644])
    let link = dir.appendingPathComponent("link.db").path
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    for path in [empty, text, link] {
        #expect { try StudyStore.open(at: path) } throws: { ($0 as? StudyError)?.kind == .notAStudyDatabase }
    }
    for path in [empty, text, target] {
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o644, "\(path) was chmod-ed")
    }
    #expect(try FileManager.default.attributesOfItem(atPath: empty)[.size] as? Int == 0)
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["empty.db", "link.db", "notes.db", "target.txt"])
    // A real study opens, through the same checks.
    let (store, _) = try StudySupport.makeStore(StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2)))
    _ = try StudyStore.open(at: store.path)
}

@Test func csvFieldsNeutraliseSpreadsheetFormulas() {
    #expect(StudyReport.csvField("=HYPERLINK(\"http://evil\",\"x\")").hasPrefix("\"'=HYPERLINK"))
    #expect(StudyReport.csvField("+cmd") == "'+cmd")
    #expect(StudyReport.csvField("-0.5") == "-0.5")
    #expect(StudyReport.csvField("plain note") == "plain note")
}
