import ECGFormats
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
    /// The workstation's measuring tools, in stages that show traces.
    case gainUp, gainDown, speedUp, speedDown, resetPaper
    case nextLead, previousLead, toggleZoom
    case cursorLeft, cursorRight, cursorLeftFast, cursorRightFast, toggleCaliper
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
        KeyBinding([.character("+"), .character("=")], .gainUp, section: "Measure", "gain up (mm/mV)"),
        KeyBinding([.character("-")], .gainDown, section: "Measure", "gain down"),
        KeyBinding([.character(">")], .speedUp, section: "Measure", "paper speed up (mm/s)"),
        KeyBinding([.character("<")], .speedDown, section: "Measure", "paper speed down"),
        KeyBinding([.character("0")], .resetPaper, section: "Measure", "25 mm/s, 10 mm/mV"),
        KeyBinding([.character("j"), .down], .nextLead, section: "Measure", "select next lead"),
        KeyBinding([.character("k"), .up], .previousLead, section: "Measure", "select previous lead"),
        KeyBinding([.character("z")], .toggleZoom, section: "Measure", "zoom the selected lead full width / back"),
        KeyBinding([.character("h")], .cursorLeft, section: "Measure", "cursor left 4 ms"),
        KeyBinding([.character("l")], .cursorRight, section: "Measure", "cursor right 4 ms"),
        KeyBinding([.character("H")], .cursorLeftFast, section: "Measure", "cursor left 40 ms (1 mm at 25 mm/s)"),
        KeyBinding([.character("L")], .cursorRightFast, section: "Measure", "cursor right 40 ms"),
        KeyBinding([.character("c")], .toggleCaliper, section: "Measure", "set / clear the caliper at the cursor (interval)"),
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
    /// The workstation's tools on the traces. Paper settings and zoom carry over to the next case
    /// (as on a cart); the cursor and caliper start afresh.
    public private(set) var paper = PaperSettings()
    public private(set) var selectedLead: LeadID = .ii
    public private(set) var zoomed = false
    public private(set) var cursorSeconds = 1.0
    /// The cursor is drawn once the reader has moved it (no line over the traces before that).
    public private(set) var cursorActive = false
    public private(set) var caliperStartSeconds: Double?
    public private(set) var windowStartSeconds = 0.0
    /// What the reader did with the tools on this case; written to the audit log with the answer.
    public private(set) var toolUse: [String] = []

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
            case .enter, .character("y"):
                let p = session.position ?? 0
                auditToolUse(caseID: p > 0 && p <= session.order.count ? session.order[p - 1] : nil)
                session.close(); mode = .left
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
        case .gainUp, .gainDown, .speedUp, .speedDown, .resetPaper, .nextLead, .previousLead, .toggleZoom,
             .cursorLeft, .cursorRight, .cursorLeftFast, .cursorRightFast, .toggleCaliper:
            measure(action)
        case .help: mode = .help
        case .leave: mode = .confirmingLeave
        }
    }

    /// Seconds of trace on screen at the current paper speed (250 mm of paper).
    public var windowSeconds: Double { TraceView.paperWidthMillimetres / paper.speedMillimetresPerSecond }
    public var window: RecordWindow {
        RecordWindow(startSeconds: windowStartSeconds, durationSeconds: windowSeconds, recordSeconds: current?.traces?.durationSeconds ?? windowSeconds)
    }

    /// The caliper readout: cursor time, amplitude in the selected lead, and the interval to the caliper.
    public var measurementLine: String? {
        guard let traces = current?.traces else { return nil }
        var parts = [paper.speedLabel + "  " + paper.gainLabel + (zoomed ? "  zoom \(selectedLead.description)" : "")]
        guard cursorActive else { return parts[0] + " │ h/l cursor, c caliper, +/- gain, </> speed, z zoom" }
        parts.append(String(format: "cursor %.3f s", cursorSeconds))
        let i = Int((cursorSeconds * traces.samplingRate).rounded(.down))
        func mv(_ index: Int) -> Float? {
            guard let li = traces.leads.firstIndex(of: selectedLead), index >= 0, index < traces.millivolts[li].count else { return nil }
            let v = traces.millivolts[li][index]
            return v.isFinite ? v : nil
        }
        if let v = mv(i) { parts.append(String(format: "%@ %+.2f mV", selectedLead.description, Double(v))) }
        if let start = caliperStartSeconds {
            let dt = (cursorSeconds - start) * 1000
            var text = String(format: "Δt %.0f ms", dt)
            // A rate only for spans that can be an RR interval (≤ 240 bpm), as in the workstation.
            if abs(dt) >= 250 { text += String(format: " (%.0f bpm)", 60_000 / abs(dt)) }
            if let v = mv(i), let v0 = mv(Int((start * traces.samplingRate).rounded(.down))) { text += String(format: "  ΔV %+.2f mV", Double(v - v0)) }
            parts.append(text)
        }
        return parts.joined(separator: " │ ")
    }

    private func measure(_ action: ReaderAction) {
        guard let traces = current?.traces else { say("This stage shows no traces to measure."); return }
        let leads = traces.leads
        switch action {
        case .gainUp, .gainDown:
            paper.stepGain(action == .gainUp ? 1 : -1); log("gain \(paper.gainLabel)")
        case .speedUp, .speedDown:
            paper.stepSpeed(action == .speedUp ? 1 : -1); moveCursor(to: cursorSeconds); log("speed \(paper.speedLabel)")
        case .resetPaper:
            paper = PaperSettings(); moveCursor(to: cursorSeconds); log("paper reset (25 mm/s, 10 mm/mV)")
        case .nextLead, .previousLead:
            guard !leads.isEmpty else { return }
            let i = leads.firstIndex(of: selectedLead) ?? 0
            selectedLead = leads[(i + (action == .nextLead ? 1 : leads.count - 1)) % leads.count]
            log("lead \(selectedLead.description)")
        case .toggleZoom:
            zoomed.toggle(); log(zoomed ? "zoom \(selectedLead.description)" : "zoom off")
        case .cursorLeft, .cursorRight, .cursorLeftFast, .cursorRightFast:
            let step: Double = action == .cursorLeft ? -0.004 : action == .cursorRight ? 0.004 : action == .cursorLeftFast ? -0.04 : 0.04
            moveCursor(to: cursorSeconds + step)
            if toolUse.last?.hasPrefix("cursor") != true { log("cursor") }
        case .toggleCaliper:
            if let start = caliperStartSeconds {
                log(String(format: "caliper %@ Δt %.0f ms", selectedLead.description, (cursorSeconds - start) * 1000))
                caliperStartSeconds = nil; say("Caliper cleared.")
            } else {
                caliperStartSeconds = cursorSeconds; cursorActive = true; say("Caliper set — move the cursor (h/l, H/L) to measure; c clears.")
            }
        default: break
        }
    }

    private func moveCursor(to t: Double) {
        cursorActive = cursorActive || t != cursorSeconds || caliperStartSeconds != nil
        let duration = current?.traces?.durationSeconds ?? 0
        cursorSeconds = max(0, min(t, max(0, duration - 0.001)))
        windowStartSeconds = window.paged(toContain: cursorSeconds).startSeconds
    }

    private func log(_ event: String) {
        // Keep the log short: a repeated setting replaces its previous entry.
        let kind = event.split(separator: " ").first.map(String.init) ?? event
        if let last = toolUse.last, last.split(separator: " ").first.map(String.init) == kind, kind != "caliper" { toolUse.removeLast() }
        toolUse.append(event)
    }

    /// One audit line per answered case on which the tools were used (who, stage, case, what).
    private func auditToolUse(caseID: String?) {
        var events = toolUse
        if let start = caliperStartSeconds { events.append(String(format: "caliper %@ Δt %.0f ms (open)", selectedLead.description, (cursorSeconds - start) * 1000)) }
        guard !events.isEmpty else { return }
        // Best effort: the answer is already committed; a failed audit write must not undo or block it.
        try? session.store.audit(actor: session.readerID, action: "reader-tools", reader: session.readerID, stage: session.stage.id,
                                 caseID: caseID, detail: events.joined(separator: "; "))
    }

    private func commit() {
        let position = session.position ?? 0
        let caseID = position > 0 && position <= session.order.count ? session.order[position - 1] : nil
        let answeredBefore = session.answered.count
        do {
            try session.submit(draft, terminal: terminalSize)
        } catch {
            if session.answered.count > answeredBefore {
                auditToolUse(caseID: caseID)
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
        auditToolUse(caseID: caseID)
        draft = AnswerDraft()
        frameIndex = 0; playing = false
        toolUse = []; caliperStartSeconds = nil; cursorSeconds = 1.0; cursorActive = false; windowStartSeconds = 0
        if session.isFinished {
            mode = .finished
        } else {
            mode = .answering
            say("Case \(position) saved.")
        }
    }

    private func say(_ text: String, error: Bool = false) { message = text; messageIsError = error }
}
