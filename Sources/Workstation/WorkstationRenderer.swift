import CaseAnalysis
import ECGFormats
import SignalKit
import Foundation

/// Where things are on the last frame, for mouse clicks.
public struct HitMap: Sendable {
    public var leads: [LeadRegion] = []
    /// The scale the traces were drawn at (nil when no traces are on screen).
    public var traceGeometry: TraceGeometry?
    /// Risk rows: rect → index into `gradCAMTargets`.
    public var heads: [(Rect, Int)] = []
    public var tabs: [(Rect, PaneID)] = []
    public init() {}
}

/// Screen layout by size: 80×24 shows one pane at a time (Tab cycles); ≥ 120 columns puts the
/// panels beside the traces; ≥ 40 rows stacks every panel; ≥ 200 columns adds room for the cine.
public struct WorkstationLayout: Sendable, Equatable {
    public var header: Rect
    public var banner: Rect?
    public var main: Rect
    public var side: Rect?
    public var caliperLine: Rect
    public var statusLine: Rect
    /// True when panels sit beside the traces.
    public var isWide: Bool { side != nil }

    public static let minimumSize = GridSize(width: 80, height: 24)

    public init(size: GridSize, hasBanner: Bool) {
        let w = size.width, h = size.height
        header = Rect(x: 0, y: 0, width: w, height: 1)
        var top = 1
        if hasBanner { banner = Rect(x: 0, y: 1, width: w, height: 1); top = 2 } else { banner = nil }
        statusLine = Rect(x: 0, y: h - 1, width: w, height: 1)
        caliperLine = Rect(x: 0, y: h - 2, width: w, height: 1)
        let middle = Rect(x: 0, y: top, width: w, height: max(0, h - 2 - top))
        if w >= 120 {
            let sideWidth = min(90, max(44, w * 36 / 100))
            let (left, right) = middle.splitLeft(w - sideWidth)
            main = left; side = right
        } else {
            main = middle; side = nil
        }
    }
}

public enum WorkstationRenderer {
    static let spinner: [Unicode.Scalar] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

    /// `inlineImages`: the screen confirmed kitty graphics or sixel, so the CMR pane places images
    /// (`CellGrid.images`) instead of drawing half blocks.
    public static func render(_ state: WorkstationState, size: GridSize, theme: Theme,
                              keyMap: KeyMap<WorkstationAction> = WorkstationAction.keyMap,
                              inlineImages: Bool = false, cell: CellPixelSize = .assumed) -> (CellGrid, HitMap) {
        var grid = CellGrid(size: size)
        var hits = HitMap()
        guard size.width >= 20, size.height >= 6 else {
            grid.write("ecg2cmr needs ≥ 80×24 (now \(size))", x: 0, y: 0, style: theme.warning)
            return (grid, hits)
        }
        let synthetic: Bool
        if case .loaded(_, let s, _) = state.model { synthetic = s } else { synthetic = false }
        let layout = WorkstationLayout(size: size, hasBanner: synthetic)
        drawHeader(state, into: &grid, rect: layout.header, theme: theme)
        if let banner = layout.banner {
            // Out of distribution first, so a narrow terminal never cuts the warning off.
            let ood = state.analysis?.outOfDistribution
            let style = ood?.isOutside == true ? theme.warning : theme.banner
            grid.fill(banner, style: style)
            var modelID: String?
            if case .loaded(let id, _, _) = state.model { modelID = id }
            grid.writeTruncated(bannerText(outside: ood?.isOutside == true ? ood?.score : nil, modelID: modelID, width: banner.width - 2),
                                x: 1, y: banner.y, width: banner.width - 2, style: style)
        }

        if let side = layout.side {
            drawTraces(state, into: &grid, rect: layout.main, theme: theme, hits: &hits, cell: cell)
            drawSidePanels(state, into: &grid, rect: side, theme: theme, hits: &hits, inlineImages: inlineImages)
        } else {
            // Narrow: a tab bar, then the focused pane full width.
            let (bar, body) = layout.main.splitTop(1)
            drawTabs(state, panes: PaneID.allCases, into: &grid, rect: bar, theme: theme, hits: &hits)
            if state.focus == .traces {
                drawTraces(state, into: &grid, rect: body, theme: theme, hits: &hits, cell: cell)
            } else {
                drawPane(state.focus, state, into: &grid, rect: body, theme: theme, hits: &hits, inlineImages: inlineImages)
            }
        }
        drawCaliperLine(state, geometry: hits.traceGeometry, into: &grid, rect: layout.caliperLine, theme: theme)
        drawStatusLine(state, into: &grid, rect: layout.statusLine, theme: theme)
        if size.width < WorkstationLayout.minimumSize.width || size.height < WorkstationLayout.minimumSize.height {
            grid.writeRight(" small terminal \(size) < 80×24 ", rightEdge: size.width, y: layout.header.y, style: theme.warning)
        }
        if state.showHelp {
            // Below the header and the model banner: the overlay never hides the demo-model banner.
            let top = layout.banner.map { $0.maxY } ?? 1
            let w = min(size.width - 4, 110), h = min(size.height - top - 1, 40)
            let area = Rect(x: (size.width - w) / 2, y: max(top, (size.height - h) / 2), width: w, height: h)
            let title = ["ecg2cmr keys — Esc or ? closes · :help lists commands", "keys — Esc or ? closes", "keys"]
                .first { $0.unicodeScalars.count + 6 <= w } ?? "keys"
            let pages = HelpOverlay.render(keyMap, title: title, page: state.helpPage, into: &grid, area: area, theme: theme)
            _ = pages
            // Images sit above the text layer: one under the overlay would hide it.
            grid.images.removeAll { $0.rect.intersects(area) }
        }
        return (grid, hits)
    }

    /// The banner's text: the longest of its fixed forms that fits `width` cells, so it is never
    /// cut. Every form keeps "demo model", and for an out-of-distribution ECG "out of distribution"
    /// (first, so it is the last thing a narrow terminal could lose). `outside`: the OOD score when
    /// the ECG is outside, else nil.
    static func bannerText(outside score: Double?, modelID: String?, width: Int) -> String {
        var forms: [String] = []
        let model = modelID.map { " · scores from \($0), trained on synthetic data" } ?? ""
        if let score {
            let s = String(format: "%.1f", score)
            forms = ["⚠ OUT OF DISTRIBUTION (score \(s)): ECG unlike the training data — findings withheld · SYNTHETIC DEMO MODEL — not for clinical use" + model,
                     "⚠ OUT OF DISTRIBUTION (score \(s)): ECG unlike the training data — findings withheld · SYNTHETIC DEMO MODEL — not for clinical use",
                     "⚠ OUT OF DISTRIBUTION (score \(s)): findings withheld · SYNTHETIC DEMO MODEL, not for clinical use",
                     "⚠ OUT OF DISTRIBUTION (score \(s)): findings withheld · DEMO MODEL, not clinical",
                     "⚠ OUT OF DISTRIBUTION: findings withheld · DEMO MODEL",
                     "⚠ out of distribution: findings withheld · demo model, not clinical",
                     "⚠ out of distribution · demo model",
                     "out of distribution·demo model"]
        } else {
            forms = ["SYNTHETIC DEMO MODEL — not for clinical use" + model,
                     "SYNTHETIC DEMO MODEL — not for clinical use",
                     "demo model, not clinical",
                     "demo model"]
        }
        return forms.first { $0.unicodeScalars.count <= width } ?? forms[forms.count - 1]
    }

    // MARK: header / footer

    static func drawHeader(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        grid.fill(rect, style: theme.header)
        var parts: [String] = []
        let position = state.cases.isEmpty ? "" : " \(state.caseIndex + 1)/\(state.cases.count)"
        // Below 110 columns the header is compacted (no app name, tight separators, compact
        // measurements) so the measurements do not push rate, rhythm and quality off an 80-column line.
        let narrow = rect.width < 110
        parts.append(narrow ? String(position.dropFirst()) : "ecg2cmr\(position)")
        parts.append(state.caseName)
        // Most useful first: narrow terminals cut from the right.
        if let c = state.current {
            let m = c.record.metadata
            parts.append(c.heartRateBpm.map { "HR \(NumberText.whole($0)) bpm" } ?? "HR –")
            if let r = c.rhythm { parts.append(r.rawValue) }
            if let m = c.measurements { parts.append(headerMeasurements(m, compact: narrow)) }
            if let m = c.measurements, let gaps = headerGaps(m, compact: narrow) { parts.append(gaps) }
            if let m = c.measurements, let device = c.record.metadata.deviceMeasurements {
                // Where the file carries the device's own values: say whether they agree, and which do not.
                let differ = m.summary.disagreements(with: device)
                parts.append(differ.isEmpty ? (narrow ? "=dev" : "= device")
                             : (narrow ? "≠dev " : "≠ device: ") + differ.map(\.label).joined(separator: ","))
            }
            parts.append(c.qualityNotes.isEmpty ? "quality ok" : "quality: " + c.qualityNotes.joined(separator: "; "))
            if let id = m.patientID, !id.isEmpty { parts.append("pt \(id)") }
            var demo: [String] = []
            if let age = m.ageYears { demo.append("\(NumberText.whole(age.rounded(.down))) y") }
            if let sex = m.sex, sex != .unknown { demo.append(sex == .male ? "M" : "F") }
            if !demo.isEmpty { parts.append(demo.joined(separator: " ")) }
            if let t = m.acquisitionTime { parts.append(formatDate(t)) }
        }
        switch state.model {
        case .none: parts.append("no model loaded")
        case .loaded(let id, _, _): parts.append("model \(id)")
        }
        // Whole parts are dropped from the right (least useful last) rather than one cut in the middle.
        var kept = parts.filter { !$0.isEmpty }
        func line() -> String { " " + kept.joined(separator: narrow ? "│" : " │ ") }
        while kept.count > 1, line().unicodeScalars.count > rect.width { kept.removeLast() }
        grid.writeTruncated(line(), x: rect.x, y: rect.y, width: rect.width, style: theme.header)
    }

    /// "PR 160 QRS 92 QT/QTc 380/410 ax 45/60/40": intervals in ms (QTc Bazett), P/QRS/T axes in degrees,
    /// "–" where not measurable. Short enough that the rate, rhythm and quality still fit at 80 columns.
    static func headerMeasurements(_ m: GlobalMeasurements, compact: Bool = false) -> String {
        func v(_ x: Double?) -> String { NumberText.whole(x) }
        if compact {
            return "PR\(v(m.prMs)) QRS\(v(m.qrsMs)) QT\(v(m.qtMs))/\(v(m.qtcBazettMs)) ax\(v(m.pAxisDeg))/\(v(m.qrsAxisDeg))/\(v(m.tAxisDeg))"
        }
        return "PR \(v(m.prMs)) QRS \(v(m.qrsMs)) QT/QTc \(v(m.qtMs))/\(v(m.qtcBazettMs)) ax \(v(m.pAxisDeg))/\(v(m.qrsAxisDeg))/\(v(m.tAxisDeg))"
    }

    /// "measured around gap: V2" (compact "gap V2"): the measurements skipped missing samples in
    /// these leads (`GlobalMeasurements.gaps`; the full statement is in `info` and the report).
    static func headerGaps(_ m: GlobalMeasurements, compact: Bool = false) -> String? {
        guard !m.gaps.isEmpty else { return nil }
        var leads: [String] = []
        for g in m.gaps where !leads.contains(g.lead) { leads.append(g.lead) }
        let shown = leads.count > 3 ? "\(leads.count) leads" : leads.joined(separator: ",")
        return (compact ? "gap " : "measured around gap: ") + shown
    }

    static func formatDate(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: date)
    }

    /// Scale and filter first (what the strip is drawn at, always shown), then the cursor and caliper.
    static func drawCaliperLine(_ state: WorkstationState, geometry: TraceGeometry?, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        grid.fill(rect, style: theme.normal)
        var parts = [(geometry?.scaleLabel ?? "\(state.paper.speedLabel)  \(state.paper.gainLabel)") + "  " + state.displayFilter.label]
        let t = state.cursorSeconds
        let segmentStart = state.current?.segmentStartSeconds ?? 0
        parts.append(String(format: "cursor %.3f s", t) + (state.cursorLandmark.map { " (\($0))" } ?? ""))
        if let rec = state.shownRecord, let mv = TraceView.amplitude(record: rec, lead: state.selectedLead, seconds: t - segmentStart) {
            parts.append(String(format: "%@ %+.2f mV", state.selectedLead.description, mv))
            if let start = state.caliperStartSeconds {
                let dt = (t - start) * 1000
                var s = String(format: "Δt %.0f ms", dt)
                // A rate only for spans that can be an RR interval (≤ 240 bpm), not for PR or QRS.
                if abs(dt) >= 250 { s += String(format: " (%.0f bpm)", 60_000 / abs(dt)) }
                if let mv0 = TraceView.amplitude(record: rec, lead: state.selectedLead, seconds: start - segmentStart) {
                    s += String(format: "  ΔV %+.2f mV", mv - mv0)
                }
                parts.append(s)
            }
        }
        if state.gradCAMOn, let target = state.gradCAMTarget { parts.append("Grad-CAM \(target.output)") }
        grid.writeTruncated(" " + parts.joined(separator: " │ "), x: rect.x, y: rect.y, width: rect.width, style: theme.normal)
    }

    static func drawStatusLine(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        if let command = state.commandText {
            grid.fill(rect, style: theme.commandLine)
            grid.write(":" + command, x: rect.x, y: rect.y, style: theme.commandLine)
            grid.put("█", x: rect.x + 1 + command.unicodeScalars.count, y: rect.y, style: theme.commandLine)
            return
        }
        let style = state.status.isError ? theme.error : theme.status
        grid.fill(rect, style: style)
        var x = rect.x
        if !state.busy.isEmpty {
            let glyph = spinner[state.spinnerPhase % spinner.count]
            let text = "\(glyph) \(state.busy.joined(separator: ", "))… "
            x += grid.write(text, x: x, y: rect.y, style: theme.status.adding(.bold))
        }
        if let p = state.exportProgress {
            x += grid.write("export \(p.done)/\(p.total) ", x: x, y: rect.y, style: theme.status.adding(.bold))
        }
        grid.writeTruncated(state.status.isError ? "error: " + state.status.text : state.status.text,
                            x: x, y: rect.y, width: rect.maxX - x, style: style)
    }

    static func drawTabs(_ state: WorkstationState, panes: [PaneID], into grid: inout CellGrid, rect: Rect, theme: Theme, hits: inout HitMap) {
        grid.fill(rect, style: theme.normal)
        var x = rect.x
        for pane in panes {
            let label = " \(pane.title) "
            let w = label.unicodeScalars.count
            if x + w > rect.maxX { break }
            grid.write(label, x: x, y: rect.y, style: pane == state.focus ? theme.selection : theme.dim)
            hits.tabs.append((Rect(x: x, y: rect.y, width: w, height: 1), pane))
            x += w + 1
        }
    }

    // MARK: traces

    static func drawTraces(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme, hits: inout HitMap,
                           cell: CellPixelSize = .assumed) {
        guard let c = state.current, let record = state.shownRecord else {
            grid.fill(rect, style: theme.normal)
            let message = state.loadError.map { "Cannot show this ECG: \($0)" } ?? (state.busy.isEmpty ? "No ECG loaded. :open PATH" : "Loading…")
            grid.writeTruncated(message, x: rect.x + 2, y: rect.y + rect.height / 2, width: rect.width - 4,
                                style: state.loadError == nil ? theme.dim : theme.warning)
            return
        }
        if state.medianBeatShown {
            MedianBeatView.render(c, lead: state.selectedLead, into: &grid, rect: rect, theme: theme)
            return
        }
        var overlay = TraceOverlay(selectedLead: state.selectedLead, cursorSeconds: state.cursorSeconds,
                                   caliperStartSeconds: state.caliperStartSeconds, viewStartSeconds: state.viewStartSeconds,
                                   rhythmLead: state.rhythmLead)
        overlay.cell = cell
        overlay.showsTimeAxis = true
        overlay.beatMarks = c.beatMarks
        overlay.recordStartSeconds = c.segmentStartSeconds
        overlay.recordSeconds = c.totalSeconds
        if state.gradCAMOn, let map = state.gradCAM {
            // Map time is the analysed window's; screen time is the whole record's.
            let offset = state.gradCAMOffsetSeconds + (c.window?.startSeconds ?? 0)
            var index: [LeadID: Int] = [:]
            for (i, l) in map.leads.enumerated() { index[l] = i }
            overlay.gradCAM = { lead, seconds in
                guard let li = index[lead] else { return nil }
                let s = Int(((seconds - offset) * map.samplingRate).rounded(.down))
                guard s >= 0, s < map.sampleCount else { return nil }
                return map.value(lead: li, sample: s)
            }
        }
        let layout: TraceLayout = state.zoomed ? .single(state.selectedLead) : .standard12
        let drawn = TraceView.render(record: record, layout: layout, settings: state.paper, overlay: overlay,
                                     into: &grid, area: rect, theme: theme)
        hits.leads = drawn.regions
        hits.traceGeometry = drawn.geometry
    }

    // MARK: side panels

    static func drawSidePanels(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme, hits: inout HitMap, inlineImages: Bool = false) {
        grid.fill(rect, style: theme.normal)
        let panes: [PaneID] = [.risks, .phenotypes, .gradCAM, .cmr]
        let wanted: [(PaneID, Int)] = panes.map { ($0, preferredHeight($0, state, width: rect.width)) }
        // Risks, Grad-CAM and CMR get what they ask for; phenotypes (the long list) scroll in the rest.
        let fixed = wanted.filter { $0.0 != .phenotypes }.reduce(0) { $0 + $1.1 }
        let phenotypeRows = min(wanted[1].1, rect.height - fixed)
        if phenotypeRows >= 6 {
            var y = rect.y
            for (i, (pane, wantedHeight)) in wanted.enumerated() {
                let h = pane == .phenotypes ? phenotypeRows : wantedHeight
                let height = i == wanted.count - 1 ? rect.maxY - y : h
                drawPane(pane, state, into: &grid, rect: Rect(x: rect.x, y: y, width: rect.width, height: height), theme: theme, hits: &hits, inlineImages: inlineImages)
                y += h
            }
        } else {
            // Not enough rows: risks always visible (they are what the user came for), the rest tabbed.
            let riskHeight = min(wanted[0].1, rect.height / 2)
            let (riskRect, rest) = rect.splitTop(riskHeight)
            drawPane(.risks, state, into: &grid, rect: riskRect, theme: theme, hits: &hits)
            let (bar, body) = rest.splitTop(1)
            var focus = state.focus
            if focus == .traces || focus == .risks { focus = .phenotypes }
            var s = state; s.focus = focus
            drawTabs(s, panes: [.phenotypes, .gradCAM, .cmr], into: &grid, rect: bar, theme: theme, hits: &hits)
            drawPane(focus, state, into: &grid, rect: body, theme: theme, hits: &hits, inlineImages: inlineImages)
        }
    }

    static func preferredHeight(_ pane: PaneID, _ state: WorkstationState, width: Int) -> Int {
        switch pane {
        case .traces: return 0
        case .risks:
            guard let a = state.analysis else { return 4 }
            guard !a.subtypes.isEmpty else { return 3 + a.risks.count }
            // The conditional subtype line takes a second row when it does not fit (never cut off).
            let line = 19 + a.subtypes.reduce(0) { $0 + $1.target.output.count + 7 }
            return 3 + a.risks.count + (line <= width - 2 ? 2 : 3)
        case .phenotypes: return 3 + min(24, state.analysis?.phenotypes.count ?? 1)
        case .gradCAM: return state.gradCAMOn ? 9 : 3
        case .cmr: return 4 + cmrCellHeight(width: width)
        }
    }

    static func cmrCellHeight(width: Int) -> Int { max(6, (width - 4) / 2 / 2) }

    static func drawPane(_ pane: PaneID, _ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme, hits: inout HitMap, inlineImages: Bool = false) {
        guard rect.height >= 2, rect.width >= 10 else { return }
        grid.fill(rect, style: theme.normal)
        let focused = state.focus == pane
        grid.box(rect, title: pane.title + (focused ? " ◂" : ""), style: focused ? theme.title : theme.border, titleStyle: theme.title)
        let inner = rect.inset(dx: 1, dy: 1)
        switch pane {
        case .traces: break
        case .risks: RiskPanel.render(state, into: &grid, rect: inner, theme: theme, hits: &hits)
        case .phenotypes: PhenotypePanel.render(state, into: &grid, rect: inner, theme: theme)
        case .gradCAM: GradCAMPanel.render(state, into: &grid, rect: inner, theme: theme)
        case .cmr: CMRPane.render(state, into: &grid, rect: inner, theme: theme, inlineImages: inlineImages)
        }
    }

    /// The message panels show when there is nothing to score.
    static func modelPlaceholder(_ state: WorkstationState) -> String? {
        if case .none(let reason) = state.model { return reason }
        if let reason = state.modelNotApplicable { return "model not applied: \(reason)" }
        if let e = state.analysisError { return "model error: \(e)" }
        if state.current == nil { return state.loadError == nil ? "no ECG" : "no scores (file not readable)" }
        if state.analysis == nil { return "running model…" }
        return nil
    }
}
