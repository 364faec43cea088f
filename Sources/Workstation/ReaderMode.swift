import Foundation
import ReaderStudy

/// What a key does in reader mode. One table (`ReaderKeys.map`) drives dispatch, the help overlay
/// and the key table in docs/reader-study.md.
public enum ReaderAction: Hashable, Sendable {
    case findingYes, findingNo
    case confidence(Int)
    case nextSubtype, previousSubtype
    case editNote
    case submit
    case previousFrame, nextFrame, togglePlay
    case help
    case leave
}

public enum ReaderKeys {
    public static let map = KeyMap<ReaderAction>([
        KeyBinding([.character("y")], .findingYes, section: "Answer", "finding present"),
        KeyBinding([.character("n")], .findingNo, section: "Answer", "finding absent"),
        KeyBinding([.character("1")], .confidence(1), section: "Answer", "confidence 1 (very unsure)"),
        KeyBinding([.character("2")], .confidence(2), section: "Answer", "confidence 2"),
        KeyBinding([.character("3")], .confidence(3), section: "Answer", "confidence 3"),
        KeyBinding([.character("4")], .confidence(4), section: "Answer", "confidence 4"),
        KeyBinding([.character("5")], .confidence(5), section: "Answer", "confidence 5 (certain)"),
        KeyBinding([.character("t"), .tab], .nextSubtype, section: "Answer", "next subtype (none → each subtype)"),
        KeyBinding([.character("T"), .backTab], .previousSubtype, section: "Answer", "previous subtype"),
        KeyBinding([.character("e")], .editNote, section: "Answer", "write a note (Enter keeps it, Esc discards the edit)"),
        KeyBinding([.enter], .submit, section: "Answer", "submit — asks to confirm; the answer is final once confirmed"),
        KeyBinding([.character("["), .left], .previousFrame, section: "Review", "previous CMR frame"),
        KeyBinding([.character("]"), .right], .nextFrame, section: "Review", "next CMR frame"),
        KeyBinding([.character(" ")], .togglePlay, section: "Review", "play / pause the CMR cine"),
        KeyBinding([.character("?"), .function(1)], .help, section: "Session", "show / hide this help"),
        KeyBinding([.character("q"), .ctrl("c")], .leave, section: "Session", "leave (confirmed answers are saved; resume later)"),
    ])
}

/// Reader mode as a state machine fed key events: no terminal, no clock, no threads — so tests
/// drive it key by key and render every screen it can produce. Confirmed answers go through
/// `ReaderSession.submit`, which returns only after the answer is on disk.
public final class ReaderModeController {
    public enum Mode: Equatable, Sendable {
        case answering
        case editingNote(buffer: String)
        case confirmingSubmit
        case confirmingLeave
        case help
        case finished
        case left
    }

    public let session: ReaderSession
    public let readerName: String
    public let studyTitle: String
    public private(set) var mode: Mode
    public private(set) var draft = AnswerDraft()
    /// Message on the status line (errors in red); cleared by the next key.
    public private(set) var message: String?
    public private(set) var messageIsError = false
    /// The terminal the reader sees (the runner sets it every frame); recorded with each answer.
    public var terminalSize: TerminalSize?
    public private(set) var frameIndex = 0
    public private(set) var playing = false

    public init(session: ReaderSession, readerName: String) {
        self.session = session
        self.readerName = readerName
        studyTitle = session.store.definition.title
        mode = session.isFinished ? .finished : .answering
    }

    public var isDone: Bool { mode == .left }
    public var current: BlindedCase? { session.current }
    public var maxFrames: Int { current?.cines.map(\.frames.count).max() ?? 0 }

    /// Advances the cine when playing (the runner calls this on a timer).
    public func tick() {
        guard playing, maxFrames > 0 else { return }
        frameIndex = (frameIndex + 1) % maxFrames
    }

    public func handle(_ event: InputEvent) {
        guard case .key(let key) = event else { return }
        message = nil; messageIsError = false
        switch mode {
        case .finished, .left:
            if key == .character("q") || key == .enter || key == .escape { mode = .left }
        case .help:
            mode = .answering
        case .editingNote(let buffer):
            switch key {
            case .enter: draft.note = buffer; mode = .answering
            case .escape: mode = .answering
            case .backspace, .delete: mode = .editingNote(buffer: String(buffer.dropLast()))
            case .character(let c) where !(c.asciiValue.map { $0 < 0x20 || $0 == 0x7f } ?? false):
                if buffer.count < 500 { mode = .editingNote(buffer: buffer + String(c)) }
            default: break
            }
        case .confirmingSubmit:
            switch key {
            case .enter, .character("y"), .character("c"): commit()
            case .escape, .character("n"): mode = .answering; say("Not submitted — still on this case.")
            default: break
            }
        case .confirmingLeave:
            switch key {
            case .enter, .character("y"): session.close(); mode = .left
            case .escape, .character("n"): mode = .answering
            default: break
            }
        case .answering:
            guard let action = ReaderKeys.map.action(for: key) else { return }
            perform(action)
        }
    }

    func perform(_ action: ReaderAction) {
        switch action {
        case .findingYes: draft.finding = true
        case .findingNo: draft.finding = false
        case .confidence(let c): draft.confidence = c
        case .nextSubtype, .previousSubtype:
            let options: [String?] = [nil] + session.subtypes.map { Optional($0) }
            guard options.count > 1 else { say("This study asks no subtype."); return }
            let i = options.firstIndex(of: draft.subtype) ?? 0
            let step = action == .nextSubtype ? 1 : options.count - 1
            draft.subtype = options[(i + step) % options.count]
        case .editNote:
            guard session.allowsNote else { say("This study takes no notes."); return }
            mode = .editingNote(buffer: draft.note)
        case .submit:
            guard draft.finding != nil else { say("Answer the finding first: y (present) or n (absent).", error: true); return }
            guard draft.confidence != nil else { say("Give your confidence first: 1 (very unsure) … 5 (certain).", error: true); return }
            mode = .confirmingSubmit
        case .previousFrame: if maxFrames > 0 { frameIndex = (frameIndex + maxFrames - 1) % maxFrames; playing = false }
        case .nextFrame: if maxFrames > 0 { frameIndex = (frameIndex + 1) % maxFrames; playing = false }
        case .togglePlay: playing.toggle()
        case .help: mode = .help
        case .leave: mode = .confirmingLeave
        }
    }

    private func commit() {
        let position = session.position ?? 0
        let answeredBefore = session.answered.count
        do {
            try session.submit(draft, terminal: terminalSize)
        } catch {
            if session.answered.count > answeredBefore {
                // Saved, but the next case could not be prepared (e.g. its file vanished): stop here
                // rather than leave the answered case on screen.
                draft = AnswerDraft()
                mode = .left
                say("Case \(position) saved, but the next case cannot be shown: \(error). Please call the operator.", error: true)
                return
            }
            // Not saved: stay on the case with the draft intact.
            mode = .answering
            say("NOT SAVED: \(error). Your answer is still here; try Enter again or call the operator.", error: true)
            return
        }
        draft = AnswerDraft()
        frameIndex = 0; playing = false
        if session.isFinished {
            mode = .finished
        } else {
            mode = .answering
            say("Case \(position) saved.")
        }
    }

    private func say(_ text: String, error: Bool = false) { message = text; messageIsError = error }
}
