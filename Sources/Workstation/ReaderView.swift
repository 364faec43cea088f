import Foundation
import ECGFormats
import ReaderStudy

/// Draws reader mode. Its only inputs are the controller's `BlindedCase`, draft and mode plus the
/// study title and reader name — never a case id, file, label or (unless the stage shows them)
/// model output.
public enum ReaderView {
    public static func render(_ c: ReaderModeController, size: GridSize, theme: Theme) -> CellGrid {
        var g = CellGrid(size: size)
        guard size.width >= 20, size.height >= 8 else {
            g.write("Window too small for reader mode", x: 0, y: 0, style: theme.warning)
            return g
        }
        let full = g.bounds
        g.fill(Rect(x: 0, y: 0, width: size.width, height: 1), style: theme.header)
        let stage = c.session.stage.title
        var header = " READER STUDY · \(c.studyTitle) · \(stage)"
        if let cur = c.current { header += " · Case \(cur.ordinal) of \(cur.total)" }
        g.writeTruncated(header, x: 0, y: 0, width: size.width - 2, style: theme.header)
        g.writeRight("reader: \(c.readerName) ", rightEdge: size.width, y: 0, style: theme.headerLabel)
        var body = Rect(x: 0, y: 1, width: size.width, height: size.height - 2)

        switch c.mode {
        case .finished, .left:
            drawFinished(c, into: &g, area: body, theme: theme)
            drawStatus(c, into: &g, y: size.height - 1, theme: theme)
            return g
        default: break
        }
        guard let cur = c.current else { return g }

        // The stage asks for a minimum size so every reader sees the traces at one scale: say so
        // before the reader answers (the store refuses the answer otherwise).
        if let minimum = c.session.stage.minimumTerminal, !TerminalSize(columns: size.width, rows: size.height).isAtLeast(minimum) {
            g.fill(Rect(x: 0, y: body.y, width: size.width, height: 1), style: theme.warning.adding(.reverse))
            g.writeTruncated(" This stage must be read on a terminal of at least \(minimum) (now \(size.width)×\(size.height)): enlarge the window before answering.",
                             x: 0, y: body.y, width: size.width, style: theme.warning.adding(.reverse))
            body = body.splitTop(1).1
        }
        if let caption = cur.modelCaption {
            g.fill(Rect(x: 0, y: body.y, width: size.width, height: 1), style: theme.banner)
            g.writeTruncated(" Model: \(caption)", x: 0, y: body.y, width: size.width, style: theme.banner)
            body = body.splitTop(1).1
        }
        let questionRows = 6
        let (content, questions) = body.splitTop(max(0, body.height - questionRows))
        drawContent(cur, c, into: &g, area: content, theme: theme)
        drawQuestions(c, into: &g, area: questions, theme: theme)
        drawStatus(c, into: &g, y: size.height - 1, theme: theme)

        switch c.mode {
        case .confirmingSubmit: drawConfirm(c, into: &g, full: full, theme: theme)
        case .confirmingLeave:
            drawDialog(["Leave reader mode?",
                        "Confirmed answers are saved; you resume at case \(cur.ordinal) next time.",
                        "The answer you are writing for this case is discarded.",
                        "", "[y / Enter] leave     [n / Esc] stay"], title: "Leave", into: &g, full: full, theme: theme)
        case .help: drawHelp(into: &g, full: full, theme: theme)
        default: break
        }
        return g
    }

    static func drawContent(_ cur: BlindedCase, _ c: ReaderModeController, into g: inout CellGrid, area: Rect, theme: Theme) {
        guard !area.isEmpty else { return }
        var rest = area
        // Right column: model scores and cines when the stage shows them.
        let sideWidth = (!cur.cines.isEmpty || cur.scores != nil) ? min(max(24, area.width / 3), area.width / 2) : 0
        var side = Rect(x: area.maxX, y: area.y, width: 0, height: area.height)
        if sideWidth > 0 { (rest, side) = area.splitLeft(area.width - sideWidth) }
        if let traces = cur.traces, rest.width >= 12 {
            let record = ECGRecord(leads: zip(traces.leads, traces.millivolts).map { Lead(id: $0, millivolts: $1) },
                                   samplingRate: traces.samplingRate, metadata: ECGMetadata(),
                                   provenance: Provenance(format: .csv, path: "", sha256: ""))
            var overlay = TraceOverlay(selectedLead: c.selectedLead, cursorSeconds: c.cursorActive ? c.cursorSeconds : nil,
                                       caliperStartSeconds: c.caliperStartSeconds, viewStartSeconds: c.window.startSeconds)
            if let rel = traces.relevance {
                let leads = traces.leads, rate = traces.samplingRate
                overlay.gradCAM = { lead, t in
                    guard let li = leads.firstIndex(of: lead) else { return nil }
                    let i = Int(t * rate)
                    return i >= 0 && i < rel[li].count ? rel[li][i] : nil
                }
            }
            g.box(rest, title: traces.relevance == nil ? "12-lead ECG" : "12-lead ECG · Grad-CAM highlight", style: theme.border, titleStyle: theme.title)
            var inner = rest.inset(dx: 1, dy: 1)
            // The measuring tools' readout (scale, cursor, caliper) on the box's last row.
            if let line = c.measurementLine, inner.height > 6 {
                g.writeTruncated(" " + line, x: inner.x, y: inner.maxY - 1, width: inner.width, style: theme.dim)
                inner = Rect(x: inner.x, y: inner.y, width: inner.width, height: inner.height - 1)
            }
            TraceView.render(record: record, layout: c.zoomed ? .single(c.selectedLead) : .standard12, settings: c.paper, overlay: overlay,
                             into: &g, area: inner, theme: theme)
        }
        guard sideWidth > 0 else { return }
        var y = side.y
        if let scores = cur.scores {
            let h = min(side.height, scores.count + 2)
            let r = Rect(x: side.x, y: y, width: side.width, height: h)
            g.box(r, title: "Model scores", style: theme.border, titleStyle: theme.title)
            for (i, s) in scores.prefix(max(0, h - 2)).enumerated() {
                let pct = String(format: "%3.0f%%", s.probability * 100)
                var text = "\(s.label) \(pct)"
                if s.isWeak { text += " weak" + (s.validationAUC.map { String(format: " (AUC %.2f)", $0) } ?? "") }
                g.writeTruncated(text, x: r.x + 1, y: r.y + 1 + i, width: r.width - 2, style: s.isWeak ? theme.weak : theme.normal)
            }
            y += h
        }
        let cines = cur.cines
        guard !cines.isEmpty, y < side.maxY else { return }
        let each = (side.maxY - y) / cines.count
        for (i, cine) in cines.enumerated() {
            let r = Rect(x: side.x, y: y + i * each, width: side.width, height: each)
            guard r.height >= 4 else { continue }
            let frame = cine.frames.isEmpty ? 0 : c.frameIndex % cine.frames.count
            g.box(r, title: "\(cine.title) · frame \(frame + 1)/\(cine.frames.count)\(c.playing ? " ▶" : "")", style: theme.border, titleStyle: theme.title)
            let cells = min(r.width - 2, (r.height - 2) * 2)
            if !cine.frames.isEmpty, cells > 1 {
                CMRPane.drawHalfBlocks(cine.frames[frame], width: cine.width, height: cine.height, into: &g,
                                       x: r.x + 1 + (r.width - 2 - cells) / 2, y: r.y + 1, cells: cells, theme: theme)
            }
        }
    }

    static func drawQuestions(_ c: ReaderModeController, into g: inout CellGrid, area: Rect, theme: Theme) {
        guard area.height >= 3 else { return }
        g.box(area, title: "Your read", style: theme.border, titleStyle: theme.title)
        let x = area.x + 2, w = area.width - 4
        let d = c.draft
        let finding = d.finding.map { $0 ? "YES — present" : "NO — absent" } ?? "(y / n)"
        g.writeTruncated("\(c.session.findingQuestion)  →  \(finding)", x: x, y: area.y + 1, width: w,
                         style: d.finding == nil ? theme.normal : theme.title)
        var conf = "Confidence (1 very unsure … 5 certain):  "
        for i in 1...5 { conf += (d.confidence.map { i <= $0 } ?? false) ? "● " : "○ " }
        conf += d.confidence.map { " \($0)" } ?? " (press 1–5)"
        g.writeTruncated(conf, x: x, y: area.y + 2, width: w, style: theme.normal)
        var row = area.y + 3
        if !c.session.subtypes.isEmpty, row < area.maxY - 1 {
            let options = (["none"] + c.session.subtypes).map { o -> String in
                (o == (d.subtype ?? "none")) ? "[\(o)]" : o
            }
            g.writeTruncated("Subtype (t):  " + options.joined(separator: "  "), x: x, y: row, width: w, style: theme.normal)
            row += 1
        }
        if c.session.allowsNote, row < area.maxY - 1 {
            if case .editingNote(let buffer) = c.mode {
                g.writeTruncated("Note: \(buffer)▏  (Enter keep · Esc discard)", x: x, y: row, width: w, style: theme.selection)
            } else {
                g.writeTruncated("Note (e): " + (d.note.isEmpty ? "—" : d.note), x: x, y: row, width: w, style: theme.dim)
            }
        }
    }

    static func drawStatus(_ c: ReaderModeController, into g: inout CellGrid, y: Int, theme: Theme) {
        let style = c.messageIsError ? theme.error : theme.status
        g.fill(Rect(x: 0, y: y, width: g.width, height: 1), style: style)
        let hint: String
        switch c.mode {
        case .finished, .left: hint = "q / Enter: close"
        case .editingNote: hint = "typing a note · Enter keep · Esc discard"
        default: hint = "y/n finding · 1–5 confidence · t subtype · e note · Enter submit · ? help · q leave"
        }
        g.writeTruncated(" " + (c.message ?? hint), x: 0, y: y, width: g.width, style: style)
    }

    static func drawConfirm(_ c: ReaderModeController, into g: inout CellGrid, full: Rect, theme: Theme) {
        let d = c.draft
        var lines = ["Submit your answer for case \(c.current?.ordinal ?? 0) of \(c.current?.total ?? 0)?", "",
                     "Finding: \(d.finding == true ? "present" : "absent")   confidence \(d.confidence ?? 0)"]
        if !c.session.subtypes.isEmpty { lines.append("Subtype: \(d.subtype ?? "none")") }
        if !d.note.isEmpty { lines.append("Note: \(d.note)") }
        lines += ["", "Once confirmed it is saved and cannot be changed.", "", "[Enter / y] confirm     [Esc / n] back"]
        drawDialog(lines, title: "Confirm", into: &g, full: full, theme: theme)
    }

    static func drawHelp(into g: inout CellGrid, full: Rect, theme: Theme) {
        var lines: [String] = []
        for section in ReaderKeys.map.sections {
            lines.append(section.name)
            for b in section.bindings { lines.append("  " + b.keyLabel.padding(toLength: 12, withPad: " ", startingAt: 0) + b.summary) }
        }
        lines += ["", "any key: close"]
        drawDialog(lines, title: "Reader keys", into: &g, full: full, theme: theme)
    }

    static func drawDialog(_ lines: [String], title: String, into g: inout CellGrid, full: Rect, theme: Theme) {
        let w = min(full.width - 2, max(30, (lines.map { $0.count }.max() ?? 0) + 4))
        let h = min(full.height - 2, lines.count + 2)
        let r = Rect(x: (full.width - w) / 2, y: (full.height - h) / 2, width: w, height: h)
        g.fill(r, style: theme.commandLine)
        g.box(r, title: title, style: theme.commandLine, titleStyle: theme.title)
        for (i, line) in lines.prefix(max(0, h - 2)).enumerated() {
            g.writeTruncated(line, x: r.x + 2, y: r.y + 1 + i, width: r.width - 4, style: theme.commandLine)
        }
    }

    static func drawFinished(_ c: ReaderModeController, into g: inout CellGrid, area: Rect, theme: Theme) {
        let total = c.session.total
        let lines = c.mode == .left && !c.session.isFinished
            ? ["Session paused.", "Your confirmed answers are saved; the next session resumes at the first unanswered case."]
            : ["Stage \"\(c.session.stage.title)\" complete — thank you.", "All \(total) answers are saved.",
               "The next stage (if any) opens after its wash-out period."]
        for (i, l) in lines.enumerated() {
            g.writeTruncated(l, x: area.x + 2, y: area.y + 2 + i, width: area.width - 4, style: i == 0 ? theme.title : theme.normal)
        }
    }
}

/// Runs reader mode on any `Screen`: the ncurses one for `study run`, a `GridScreen` in tests or
/// the line-driven headless screen for scripted sessions.
public enum ReaderModeRunner {
    /// Returns when the reader leaves or finishes. `onFrame` sees every presented frame (tests).
    /// `exitWhenFinished`: scripted sessions end with the stage instead of waiting on the
    /// "stage complete" screen.
    public static func run(_ controller: ReaderModeController, on screen: Screen, theme: Theme,
                           exitWhenFinished: Bool = false,
                           endOfInput: () -> Bool = { false }, onFrame: ((CellGrid) -> Void)? = nil) {
        func draw() {
            // A scripted screen is no terminal: its answers say "headless", not its render size.
            controller.terminalSize = screen is ReaderHeadlessScreen ? .headless : TerminalSize(columns: screen.size.width, rows: screen.size.height)
            let frame = ReaderView.render(controller, size: screen.size, theme: theme)
            screen.present(frame)
            onFrame?(frame)
        }
        draw()
        while !controller.isDone, !(exitWhenFinished && controller.mode == .finished) {
            if let event = screen.nextEvent(timeoutMilliseconds: controller.playing ? 80 : 500) {
                controller.handle(event)
            } else {
                if endOfInput() { break }
                controller.tick()
            }
            draw()
        }
    }
}
