import Foundation
import GRDB
import Testing
@testable import ReaderStudy

@Suite struct ReadingTerminalSizeTests {
    static func stages(minimum: String?) -> [[String: Any]] {
        var first: [String: Any] = ["id": "ecg-only", "title": "ECG only", "shows": ["traces"]]
        if let minimum { first["minimumTerminal"] = minimum }
        return [first]
    }

    @Test func stageMinimumIsEnforcedAndEverySizeIsRecordedAndReported() throws {
        let json = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 3), stages: Self.stages(minimum: "120x40"))
        let (store, dir) = try StudySupport.makeStore(json)
        #expect(store.definition.stages[0].minimumTerminal == TerminalSize(columns: 120, rows: 40))
        try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
        let session = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
        // Too small, or unknown: refused, nothing stored.
        #expect(throws: StudyError.self) { try session.submit(AnswerDraft(finding: true, confidence: 3), terminal: TerminalSize(columns: 80, rows: 24)) }
        #expect(throws: StudyError.self) { try session.submit(AnswerDraft(finding: true, confidence: 3), terminal: TerminalSize(columns: 200, rows: 30)) }
        #expect(throws: StudyError.self) { try session.submit(AnswerDraft(finding: true, confidence: 3)) }
        #expect(try store.answers(reader: "A", stage: "ecg-only").isEmpty)
        try session.submit(AnswerDraft(finding: true, confidence: 3), terminal: TerminalSize(columns: 200, rows: 60))
        try session.submit(AnswerDraft(finding: false, confidence: 2), terminal: TerminalSize(columns: 120, rows: 40))
        try session.submit(AnswerDraft(finding: false, confidence: 4), terminal: TerminalSize(columns: 200, rows: 60))
        let answers = try store.answers(reader: "A", stage: "ecg-only")
        #expect(answers.map(\.terminal) == [TerminalSize(columns: 200, rows: 60), TerminalSize(columns: 120, rows: 40), TerminalSize(columns: 200, rows: 60)])
        let report = try StudyReport.build(store: store, model: nil, resamples: 200)
        #expect(report.answersCSV.split(separator: "\n")[0].hasSuffix(",terminal_size"))
        #expect(report.answersCSV.contains(",200x60\n") && report.answersCSV.contains(",120x40\n"))
        #expect(report.markdown.contains("| A | ecg-only | ≥ 120×40 | 120×40 (1), 200×60 (2) |"))
        _ = dir
    }

    @Test func definitionRejectsAMalformedSize() throws {
        let json = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2), stages: Self.stages(minimum: "wide"))
        #expect(throws: StudyError.self) { _ = try StudySupport.makeStore(json) }
        #expect(TerminalSize(parsing: "120×40") == TerminalSize(columns: 120, rows: 40))
        #expect(TerminalSize(parsing: "0x40") == nil && TerminalSize(parsing: "120") == nil)
    }

    /// A database written before sizes were kept (no terminal columns) opens, is migrated in place,
    /// keeps its answers (size unknown) and takes new ones with sizes.
    @Test func olderDatabaseIsMigratedAndStaysReadable() throws {
        let json = StudySupport.definitionJSON(cases: StudySupport.sampleCases(count: 2), stages: Self.stages(minimum: nil))
        let (store, _) = try StudySupport.makeStore(json)
        try store.addReader(id: "A", name: "Dr A", role: "junior", operatorName: "op")
        let session = try ReaderSession(store: store, readerID: "A", presenter: OrdinalPresenter())
        try session.submit(AnswerDraft(finding: true, confidence: 3))
        let path = store.path
        // Rebuild the answers table as the previous version created it.
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE answers_old AS SELECT id, reader_id, stage_id, case_id, position, finding, confidence, subtype, note,
                  seconds_on_case, answered_at FROM answers;
                DROP TABLE answers;
                ALTER TABLE answers_old RENAME TO answers;
                """)
        }
        try queue.close()
        let reopened = try StudyStore.open(at: path)
        let old = try reopened.answers(reader: "A", stage: "ecg-only")
        #expect(old.count == 1 && old[0].terminal == nil)
        let resumed = try ReaderSession(store: reopened, readerID: "A", presenter: OrdinalPresenter())
        try resumed.submit(AnswerDraft(finding: false, confidence: 5), terminal: TerminalSize(columns: 80, rows: 24))
        #expect(try reopened.answers(reader: "A", stage: "ecg-only").map(\.terminal) == [nil, TerminalSize(columns: 80, rows: 24)])
        #expect(try StudyReport.build(store: reopened, model: nil, resamples: 200).markdown.contains("| A | ecg-only | — | 80×24 (1), unknown (1) |"))
    }
}
