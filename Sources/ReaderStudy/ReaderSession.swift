import Foundation

/// What the reader has entered for the case on screen (not yet confirmed).
public struct AnswerDraft: Sendable, Equatable {
    public var finding: Bool?
    public var confidence: Int?
    public var subtype: String?
    public var note: String = ""
    public init(finding: Bool? = nil, confidence: Int? = nil, subtype: String? = nil, note: String = "") {
        self.finding = finding; self.confidence = confidence; self.subtype = subtype; self.note = note
    }
    /// The finding and its confidence are required; subtype and note are optional.
    public var isComplete: Bool { finding != nil && confidence != nil }
}

/// One reader working through one stage: the recorded case order, the first unanswered case, and
/// durable submission. The UI shows `current` and calls `submit`; nothing else reaches the screen.
public final class ReaderSession {
    public let store: StudyStore
    public let readerID: String
    public let stage: StudyDefinition.Stage
    public let order: [String]
    private let presenter: CasePresenter
    public private(set) var answered: Set<String>
    public private(set) var current: BlindedCase?
    private var shownAt: Date
    /// Called after an answer is durably committed, with the case's position (1-based). The
    /// headless runner prints it; the kill -9 test relies on "printed ⇒ on disk".
    public var onCommitted: ((Int) -> Void)?

    /// Opens the reader's current stage (respecting wash-out unless overridden) at the first
    /// unanswered case.
    public init(store: StudyStore, readerID: String, stageID: String? = nil, presenter: CasePresenter,
                washoutOverride: (operatorName: String, reason: String)? = nil) throws {
        self.store = store
        self.readerID = readerID
        let stageID = try store.beginStage(reader: readerID, stage: stageID, washoutOverride: washoutOverride)
        guard let stage = store.definition.stage(stageID) else { throw StudyError(.unknownStage, "no stage '\(stageID)'") }
        self.stage = stage
        self.presenter = presenter
        order = try store.caseOrder(reader: readerID, stage: stageID)
        answered = Set(try store.answers(reader: readerID, stage: stageID).map(\.caseID))
        shownAt = store.now()
        try loadCurrent()
    }

    /// 1-based position of the case on screen; nil when the stage is finished.
    public var position: Int? { order.firstIndex { !answered.contains($0) }.map { $0 + 1 } }
    public var total: Int { order.count }
    public var isFinished: Bool { position == nil }
    public var subtypes: [String] { store.definition.questions.subtypes }
    public var findingQuestion: String { store.definition.questions.finding }
    public var allowsNote: Bool { store.definition.questions.note }

    private func loadCurrent() throws {
        guard let p = position else { current = nil; return }
        current = try presenter.present(caseID: order[p - 1], stage: stage, ordinal: p, total: order.count)
        shownAt = store.now()
        try store.audit(actor: readerID, action: "show-case", reader: readerID, stage: stage.id, caseID: order[p - 1], detail: "position \(p)")
    }

    /// Commits the answer for the case on screen, then moves to the next one. The next case is
    /// loaded only after the commit returned.
    public func submit(_ draft: AnswerDraft, terminal: TerminalSize? = nil) throws {
        guard let p = position else { throw StudyError(.stageFinished, "stage '\(stage.id)' is finished") }
        guard let finding = draft.finding, let confidence = draft.confidence else {
            throw StudyError(.answerInvalid, "answer the finding and its confidence first")
        }
        let caseID = order[p - 1]
        let note = draft.note.trimmingCharacters(in: .whitespacesAndNewlines)
        try store.recordAnswer(reader: readerID, stage: stage.id, caseID: caseID, finding: finding, confidence: confidence,
                               subtype: draft.subtype, note: note.isEmpty ? nil : note,
                               secondsOnCase: max(0, store.now().timeIntervalSince(shownAt)), terminal: terminal)
        answered.insert(caseID)
        onCommitted?(p)
        current = nil  // never leave the answered case on screen, even if the next one fails to load
        try loadCurrent()
    }

    /// Logs that the reader left (answers so far are already on disk).
    public func close() { try? store.audit(actor: readerID, action: "leave", reader: readerID, stage: stage.id, detail: position.map { "at position \($0)" } ?? "stage finished") }
}
