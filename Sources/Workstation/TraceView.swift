import ECGFormats
import Foundation

/// Paper speed and gain, as on an ECG cart. Defaults are the clinical standard.
public struct PaperSettings: Sendable, Equatable {
    public var speedMillimetresPerSecond: Double = 25
    public var gainMillimetresPerMillivolt: Double = 10
    public init(speedMillimetresPerSecond: Double = 25, gainMillimetresPerMillivolt: Double = 10) {
        self.speedMillimetresPerSecond = speedMillimetresPerSecond
        self.gainMillimetresPerMillivolt = gainMillimetresPerMillivolt
    }
    public static let speeds: [Double] = [12.5, 25, 50, 100]
    public static let gains: [Double] = [2.5, 5, 10, 20, 40]

    public mutating func stepSpeed(_ direction: Int) {
        speedMillimetresPerSecond = PaperSettings.step(PaperSettings.speeds, speedMillimetresPerSecond, direction)
    }
    public mutating func stepGain(_ direction: Int) {
        gainMillimetresPerMillivolt = PaperSettings.step(PaperSettings.gains, gainMillimetresPerMillivolt, direction)
    }
    static func step(_ values: [Double], _ current: Double, _ direction: Int) -> Double {
        let i = values.firstIndex { $0 >= current } ?? (values.count - 1)
        return values[max(0, min(values.count - 1, i + direction))]
    }
    var speedLabel: String { speedMillimetresPerSecond == 12.5 ? "12.5 mm/s" : "\(Int(speedMillimetresPerSecond)) mm/s" }
    var gainLabel: String { PaperSettings.gainLabel(gainMillimetresPerMillivolt) }
    static func gainLabel(_ gain: Double) -> String { gain == 2.5 ? "2.5 mm/mV" : "\(Int(gain)) mm/mV" }
}

/// Which part of the record the traces show: the 12-lead grid and the rhythm strip share it, so
/// they stay in step while scrolling. (Windowed reading of 24-hour files hands the same value on.)
public struct RecordWindow: Sendable, Equatable {
    public var startSeconds: Double
    public var durationSeconds: Double
    public var recordSeconds: Double

    /// The window of `durationSeconds` starting at `startSeconds`, kept inside the record.
    public init(startSeconds: Double, durationSeconds: Double, recordSeconds: Double) {
        self.durationSeconds = max(0.001, durationSeconds)
        self.recordSeconds = max(0, recordSeconds)
        self.startSeconds = max(0, min(startSeconds, max(0, recordSeconds - self.durationSeconds)))
    }
    public var endSeconds: Double { startSeconds + durationSeconds }
    public func contains(_ t: Double) -> Bool { t >= startSeconds && t < endSeconds }
    /// The same length moved by `seconds` (clamped to the record).
    public func moved(by seconds: Double) -> RecordWindow {
        RecordWindow(startSeconds: startSeconds + seconds, durationSeconds: durationSeconds, recordSeconds: recordSeconds)
    }
    /// The page (whole multiple of the length) holding `t`: the window pages, it does not creep.
    public func paged(toContain t: Double) -> RecordWindow {
        contains(t) ? self : RecordWindow(startSeconds: (t / durationSeconds).rounded(.down) * durationSeconds,
                                          durationSeconds: durationSeconds, recordSeconds: recordSeconds)
    }
    /// "window 0–10 s of 1805 s".
    public var label: String {
        func f(_ x: Double) -> String { abs(x - x.rounded()) < 0.05 ? String(Int(x.rounded())) : String(format: "%.1f", x) }
        return "window \(f(startSeconds))–\(f(min(endSeconds, recordSeconds))) s of \(f(recordSeconds)) s"
    }
}

/// How paper millimetres become braille dots on this terminal. A braille dot is half a cell wide
/// and a quarter cell tall, so with the cell's pixel size one millimetre gets as many pixels up as
/// across (square paper, as printed). The width fixes the scale (250 mm = 10 s at 25 mm/s); when a
/// row is too short for the chosen gain (less than 2 mV tall), the gain shown steps down and says so.
public struct TraceGeometry: Sendable, Equatable {
    public var dotsPerMillimetreX: Double
    public var dotsPerMillimetreY: Double
    /// Height of the shortest lead row in paper millimetres.
    public var rowHeightMillimetres: Double
    public var requestedGainMillimetresPerMillivolt: Double
    public var shownGainMillimetresPerMillivolt: Double
    public var speedMillimetresPerSecond: Double

    public init(traceWidthCells: Int, rowHeightCells: Int, settings: PaperSettings, cell: CellPixelSize) {
        dotsPerMillimetreX = Double(max(1, traceWidthCells) * 2) / TraceView.paperWidthMillimetres
        // Pixels per dot: cell width / 2 across, cell height / 4 down.
        let aspect = Double(max(1, cell.width)) / 2 / (Double(max(1, cell.height)) / 4)
        dotsPerMillimetreY = dotsPerMillimetreX * aspect
        let rowMM = Double(max(1, rowHeightCells) * 4) / dotsPerMillimetreY
        rowHeightMillimetres = rowMM
        requestedGainMillimetresPerMillivolt = settings.gainMillimetresPerMillivolt
        speedMillimetresPerSecond = settings.speedMillimetresPerSecond
        let fits = PaperSettings.gains.filter { $0 <= settings.gainMillimetresPerMillivolt && $0 * TraceView.minimumRowMillivolts <= rowMM }
        shownGainMillimetresPerMillivolt = fits.max() ?? min(settings.gainMillimetresPerMillivolt, PaperSettings.gains[0])
    }

    public var isGainHonoured: Bool { shownGainMillimetresPerMillivolt == requestedGainMillimetresPerMillivolt }

    /// "25 mm/s  10 mm/mV", or "25 mm/s  5 mm/mV (10 mm/mV needs rows ≥ 20 mm; these are 13 mm)".
    public var scaleLabel: String {
        let speed = PaperSettings(speedMillimetresPerSecond: speedMillimetresPerSecond).speedLabel
        var s = "\(speed)  \(PaperSettings.gainLabel(shownGainMillimetresPerMillivolt))"
        if !isGainHonoured {
            s += String(format: " (%@ needs rows ≥ %.0f mm; these are %.0f mm)", PaperSettings.gainLabel(requestedGainMillimetresPerMillivolt),
                        requestedGainMillimetresPerMillivolt * TraceView.minimumRowMillivolts, rowHeightMillimetres)
        }
        return s
    }
}

/// What `TraceView.render` drew: lead panels for hit-testing and the scale it could honour.
public struct TraceRendering: Sendable, Equatable {
    public var regions: [LeadRegion]
    public var geometry: TraceGeometry?
}

/// How the trace area is arranged.
public enum TraceLayout: Sendable, Equatable {
    /// I II III / aVR aVL aVF / V1–V3 / V4–V6 in four 2.5 s columns, plus a 10 s rhythm strip.
    case standard12
    /// One lead across the full width.
    case single(LeadID)
}

/// A lead panel on screen, for mouse hits and the caliper.
public struct LeadRegion: Sendable, Equatable {
    public var lead: LeadID
    public var rect: Rect
    public var startSeconds: Double
    public var durationSeconds: Double
    public var isRhythmStrip: Bool
    /// Record time at screen column x (cell centre).
    public func seconds(atColumn x: Int) -> Double {
        startSeconds + durationSeconds * (Double(x - rect.x) + 0.5) / Double(max(1, rect.width))
    }
    public func column(atSeconds t: Double) -> Int? {
        guard t >= startSeconds, t < startSeconds + durationSeconds else { return nil }
        return rect.x + Int((t - startSeconds) / durationSeconds * Double(rect.width))
    }
}

/// What the trace view needs besides the record.
public struct TraceOverlay {
    public var selectedLead: LeadID?
    public var cursorSeconds: Double?
    public var caliperStartSeconds: Double?
    /// Start (s) of the window the 12-lead grid, the rhythm strip and the zoom view show.
    public var viewStartSeconds: Double = 0
    public var rhythmLead: LeadID = .ii
    /// Grad-CAM weight 0…1 for (lead, record time in seconds), nil when no map covers it.
    public var gradCAM: ((LeadID, Double) -> Float?)?
    /// Beat annotations (record time, symbol such as "N" or "V"), drawn above the rhythm strip.
    public var beatMarks: [(seconds: Double, symbol: String)] = []
    /// Cell size in pixels, for square paper millimetres (`CellPixelSize.assumed` when unknown).
    public var cell: CellPixelSize = .assumed
    /// Draws the time axis and the window indicator under the traces.
    public var showsTimeAxis = false
    /// Record time (s) of the drawn record's first sample: a long record hands over the decoded window.
    public var recordStartSeconds = 0.0
    /// The whole record's length (s) for the window indicator; nil = the drawn record's.
    public var recordSeconds: Double?
    public init(selectedLead: LeadID? = nil, cursorSeconds: Double? = nil, caliperStartSeconds: Double? = nil,
                viewStartSeconds: Double = 0, rhythmLead: LeadID = .ii, gradCAM: ((LeadID, Double) -> Float?)? = nil) {
        self.selectedLead = selectedLead; self.cursorSeconds = cursorSeconds; self.caliperStartSeconds = caliperStartSeconds
        self.viewStartSeconds = viewStartSeconds; self.rhythmLead = rhythmLead; self.gradCAM = gradCAM
    }
}

/// Draws ECG leads on ECG paper with braille dots. Geometry is in paper millimetres: the trace
/// width is 250 mm (10 s at 25 mm/s) and millimetres are square (`TraceGeometry`), so speed and
/// gain behave like on a cart (50 mm/s shows half the time; 20 mm/mV doubles the amplitude).
public enum TraceView {
    static let paperWidthMillimetres = 250.0
    /// A lead row must be at least this many millivolts tall at the shown gain (QRS plus room).
    static let minimumRowMillivolts = 2.0

    /// Renders `layout` of `record` in `area`; returns the lead regions and the scale it honoured.
    @discardableResult
    public static func render(record: ECGRecord, layout: TraceLayout, settings: PaperSettings, overlay: TraceOverlay,
                              into grid: inout CellGrid, area fullArea: Rect, theme: Theme) -> TraceRendering {
        guard fullArea.width >= 12, fullArea.height >= 2 else { return TraceRendering(regions: [], geometry: nil) }
        grid.fill(fullArea, style: theme.paper)
        // The time axis takes the bottom line when there is room for it.
        let hasAxis = overlay.showsTimeAxis && fullArea.height >= 8
        let area = hasAxis ? Rect(x: fullArea.x, y: fullArea.y, width: fullArea.width, height: fullArea.height - 1) : fullArea
        let gutter = calibrationGutter(area: area)
        let traceArea = Rect(x: area.x + gutter, y: area.y, width: area.width - gutter, height: area.height)
        let visibleSeconds = paperWidthMillimetres / settings.speedMillimetresPerSecond
        var regions: [LeadRegion] = []
        var rows: [(Rect, [(LeadID, Double, Double)], Bool)] = []  // row rect, (lead, start, duration) per column, rhythm?

        // A record that holds fewer than half of the standard 12 (Holter, MIT-BIH: MLII + V5) is
        // shown as full-width strips of the leads it has, not a 3×4 grid of mostly absent leads.
        let present = record.leads.map(\.id)
        let standardPresent = LeadID.standard12.filter { record.lead($0) != nil }.count
        switch layout {
        case .standard12 where standardPresent < 6 && !present.isEmpty:
            let strips = Array(present.prefix(max(1, area.height / 3)))
            let rowHeight = area.height / strips.count
            for (k, lead) in strips.enumerated() {
                let h = k == strips.count - 1 ? area.height - k * rowHeight : rowHeight
                let rr = Rect(x: traceArea.x, y: area.y + k * rowHeight, width: traceArea.width, height: h)
                rows.append((rr, [(lead, overlay.viewStartSeconds, visibleSeconds)], true))
            }
        case .standard12:
            // Four rows when there is room for ≥ 3 cells each, else the 3×4 block alone.
            let rowCount = area.height >= 12 ? 4 : 3
            let rowHeight = area.height / rowCount
            let columnSeconds = visibleSeconds / 4
            let columns = LeadID.standard3x4Columns
            for r in 0..<3 {
                let rr = Rect(x: traceArea.x, y: area.y + r * rowHeight, width: traceArea.width, height: rowHeight)
                // Column c shows the c-th quarter of the window, as a cart prints it: every column
                // sits above the same seconds of the rhythm strip.
                rows.append((rr, columns.enumerated().map { c, leads in (leads[r], overlay.viewStartSeconds + Double(c) * columnSeconds, columnSeconds) }, false))
            }
            if rowCount == 4 {
                let rr = Rect(x: traceArea.x, y: area.y + 3 * rowHeight, width: traceArea.width, height: area.height - 3 * rowHeight)
                rows.append((rr, [(overlay.rhythmLead, overlay.viewStartSeconds, visibleSeconds)], true))
            }
        case .single(let lead):
            rows.append((traceArea, [(lead, overlay.viewStartSeconds, visibleSeconds)], true))
        }

        let geometry = TraceGeometry(traceWidthCells: traceArea.width, rowHeightCells: rows.map(\.0.height).min() ?? 1,
                                     settings: settings, cell: overlay.cell)
        let dotsPerMMX = geometry.dotsPerMillimetreX, dotsPerMMY = geometry.dotsPerMillimetreY
        var shown = settings
        shown.gainMillimetresPerMillivolt = geometry.shownGainMillimetresPerMillivolt
        for (rowRect, panels, isRhythm) in rows {
            drawPaper(into: &grid, rect: rowRect, dotsPerMMX: dotsPerMMX, dotsPerMMY: dotsPerMMY, theme: theme)
            drawCalibration(into: &grid, rowRect: rowRect, gutterX: area.x, gutter: gutter, dotsPerMMX: dotsPerMMX,
                            dotsPerMMY: dotsPerMMY, settings: shown, theme: theme)
            let panelWidth = rowRect.width / panels.count
            for (c, (lead, start, duration)) in panels.enumerated() {
                let w = c == panels.count - 1 ? rowRect.width - c * panelWidth : panelWidth
                let rect = Rect(x: rowRect.x + c * panelWidth, y: rowRect.y, width: w, height: rowRect.height)
                let seconds = duration * Double(w) / Double(panelWidth)
                let region = LeadRegion(lead: lead, rect: rect, startSeconds: start, durationSeconds: seconds, isRhythmStrip: isRhythm)
                regions.append(region)
                drawLead(record: record, region: region, dotsPerMMY: dotsPerMMY, settings: shown, overlay: overlay,
                         into: &grid, theme: theme)
            }
        }
        if hasAxis {
            drawTimeAxis(into: &grid, y: fullArea.maxY - 1, area: fullArea, traceArea: traceArea,
                         window: RecordWindow(startSeconds: overlay.viewStartSeconds, durationSeconds: visibleSeconds,
                                              recordSeconds: overlay.recordSeconds ?? record.durationSeconds), theme: theme)
        }
        return TraceRendering(regions: regions, geometry: geometry)
    }

    /// Seconds of record time under the traces (ticks at whole seconds, thinned so labels never
    /// touch) and, at the right, which part of the record is shown.
    static func drawTimeAxis(into grid: inout CellGrid, y: Int, area: Rect, traceArea: Rect, window: RecordWindow, theme: Theme) {
        grid.fill(Rect(x: area.x, y: y, width: area.width, height: 1), style: theme.normal)
        let indicator = " " + window.label
        let cellsPerSecond = Double(traceArea.width) / window.durationSeconds
        let widest = "\(Int(window.endSeconds.rounded(.up))) s".count + 2
        let step = [1.0, 2, 5, 10, 30, 60].first { $0 * cellsPerSecond >= Double(widest) } ?? 60
        var t = (window.startSeconds / step).rounded(.up) * step
        let rightLimit = area.maxX - indicator.count
        while t < window.endSeconds {
            let x = traceArea.x + Int(((t - window.startSeconds) * cellsPerSecond).rounded())
            let text = "\(Int(t.rounded())) s"
            if x + 1 + text.count <= rightLimit {
                grid.put("╵", x: x, y: y, style: theme.dim)
                grid.write(text, x: x + 1, y: y, style: theme.dim)
            }
            t += step
        }
        grid.writeRight(indicator, rightEdge: area.maxX, y: y, style: theme.leadLabel)
    }

    static func calibrationGutter(area: Rect) -> Int {
        let dotsPerMMX = Double(area.width * 2) / paperWidthMillimetres
        return max(3, Int((7 * dotsPerMMX / 2).rounded(.up)))
    }

    /// Major divisions (5 mm) as tinted cells with "·" at crossings; thinned to 25 mm / 10 mm when
    /// the terminal is too coarse; minor (1 mm) crossings only when ≥ 2 cells apart.
    static func drawPaper(into grid: inout CellGrid, rect: Rect, dotsPerMMX: Double, dotsPerMMY: Double, theme: Theme) {
        let cellMMX = 2 / dotsPerMMX, cellMMY = 4 / dotsPerMMY
        let majorX = 5 / cellMMX >= 2 ? 5.0 : 25.0
        let majorY = 5 / cellMMY >= 1.5 ? 5.0 : 10.0
        let minorVisible = 1 / cellMMX >= 2 && 1 / cellMMY >= 2
        let centreMM = Double(rect.height) * cellMMY / 2
        func crosses(_ start: Double, _ width: Double, _ pitch: Double) -> Bool {
            (start / pitch).rounded(.down) != ((start + width) / pitch).rounded(.down) || start.truncatingRemainder(dividingBy: pitch) == 0
        }
        var majorColumns = [Bool](repeating: false, count: rect.width)
        var minorColumns = [Bool](repeating: false, count: rect.width)
        for cx in 0..<rect.width {
            majorColumns[cx] = crosses(Double(cx) * cellMMX, cellMMX, majorX)
            minorColumns[cx] = minorVisible && crosses(Double(cx) * cellMMX, cellMMX, 1)
        }
        for cy in 0..<rect.height {
            // Horizontal lines measured from the row's baseline, so 0 mV sits on a major line.
            let top = Double(cy) * cellMMY - centreMM
            let majorRow = crosses(top, cellMMY, majorY)
            let minorRow = minorVisible && crosses(top, cellMMY, 1)
            for cx in 0..<rect.width {
                let x = rect.x + cx, y = rect.y + cy
                if majorRow && majorColumns[cx] {
                    // Crossings get a dot only where they stay sparse (every major at fine scales, each second otherwise).
                    let dotted = 5 / cellMMX >= 4 || crosses(Double(cx) * cellMMX, cellMMX, 25)
                    grid.put(dotted ? "·" : " ", x: x, y: y, style: theme.gridMajor)
                } else if majorRow || majorColumns[cx] {
                    grid.put(" ", x: x, y: y, style: theme.gridMajor)
                } else if minorRow && minorColumns[cx] {
                    grid.put("·", x: x, y: y, style: theme.gridMinor)
                }
            }
        }
    }

    /// The 1 mV × 200 ms standardisation pulse at the left of each row, drawn at the current gain.
    static func drawCalibration(into grid: inout CellGrid, rowRect: Rect, gutterX: Int, gutter: Int, dotsPerMMX: Double,
                                dotsPerMMY: Double, settings: PaperSettings, theme: Theme) {
        var canvas = BrailleCanvas(widthCells: gutter, heightCells: rowRect.height)
        let base = canvas.heightDots / 2 + Int(Double(canvas.heightDots) * 0.15)
        let height = Int((settings.gainMillimetresPerMillivolt * dotsPerMMY).rounded())
        let width = max(2, Int((0.2 * settings.speedMillimetresPerSecond * dotsPerMMX).rounded()))
        let x0 = max(0, (canvas.widthDots - width) / 2 - 1)
        let top = base - height
        canvas.line(x0: 0, y0: base, x1: x0, y1: base)
        canvas.verticalSpan(x: x0, y0: base, y1: top)
        canvas.line(x0: x0, y0: top, x1: min(canvas.widthDots - 1, x0 + width), y1: top)
        canvas.verticalSpan(x: min(canvas.widthDots - 1, x0 + width), y0: top, y1: base)
        canvas.line(x0: min(canvas.widthDots - 1, x0 + width), y0: base, x1: canvas.widthDots - 1, y1: base)
        grid.fill(Rect(x: gutterX, y: rowRect.y, width: gutter, height: rowRect.height), style: theme.paper)
        canvas.draw(into: &grid, x: gutterX, y: rowRect.y) { _, _, _ in theme.calibration }
    }

    static func drawLead(record: ECGRecord, region: LeadRegion, dotsPerMMY: Double, settings: PaperSettings,
                         overlay: TraceOverlay, into grid: inout CellGrid, theme: Theme) {
        let rect = region.rect
        let selected = overlay.selectedLead == region.lead
        let label = region.isRhythmStrip ? "\(region.lead) rhythm" : region.lead.description
        guard let lead = record.lead(region.lead), record.samplingRate > 0 else {
            grid.write(label + " (absent)", x: rect.x, y: rect.y, style: theme.leadLabel, maxWidth: rect.width)
            return
        }
        let samples = lead.millivolts
        let fs = record.samplingRate
        var canvas = BrailleCanvas(widthCells: rect.width, heightCells: rect.height)
        let dotsPerSecond = Double(canvas.widthDots) / region.durationSeconds
        let first = max(0, Int((region.startSeconds - overlay.recordStartSeconds) * fs))
        let last = min(samples.count, Int(((region.startSeconds - overlay.recordStartSeconds + region.durationSeconds) * fs).rounded(.up)))
        // Baseline: mean of the shown window's finite samples, so each panel sits on its row like a
        // cart's isoelectric line. NaN is a missing sample (a gap in the file): it is left out here and
        // drawn as a break in the trace.
        var baseline = 0.0, finiteCount = 0
        if last > first {
            for i in first..<last where samples[i].isFinite { baseline += Double(samples[i]); finiteCount += 1 }
            if finiteCount > 0 { baseline /= Double(finiteCount) }
        }
        if !baseline.isFinite { baseline = 0 }
        let centre = Double(canvas.heightDots) / 2
        let dotsPerMillivolt = settings.gainMillimetresPerMillivolt * dotsPerMMY
        // Far off-panel values (a 3.4e38 sample) are pinned just outside the canvas, which clips them,
        // so the conversion to Int can never trap.
        let limit = Double(canvas.heightDots + 4)
        func yDot(_ mv: Float) -> Int {
            let y = centre - (Double(mv) - baseline) * dotsPerMillivolt
            return Int(min(limit, max(-limit, y.isFinite ? y : (y > 0 ? limit : -limit))).rounded())
        }
        var previousY: Int? = nil
        if last > first {
            // Per dot column: min…max of its samples, joined to the previous column (no gaps on QRS
            // slopes); a missing sample ends the line, so the next finite one starts afresh.
            var i = first
            for dx in 0..<canvas.widthDots {
                let end = min(last, first + Int(min(Double(last), (Double(dx + 1) / dotsPerSecond * fs).rounded())))
                if i >= end { if let p = previousY { canvas.set(x: dx, y: p) }; continue }
                var lo = Float.infinity, hi = -Float.infinity
                var firstY: Int? = nil, lastY: Int? = nil, gapBefore = false
                while i < end {
                    let v = samples[i]
                    i += 1
                    guard !v.isNaN else { if firstY == nil { gapBefore = true } else { lastY = nil }; continue }
                    let y = yDot(v)
                    if firstY == nil { firstY = y }
                    lastY = y
                    lo = min(lo, v); hi = max(hi, v)
                }
                guard let fy = firstY else { previousY = nil; continue }
                canvas.verticalSpan(x: dx, y0: yDot(lo), y1: yDot(hi))
                if let p = previousY, !gapBefore { canvas.verticalSpan(x: dx, y0: p, y1: fy) }
                previousY = lastY
            }
        }
        // Grad-CAM: the background of each cell column shows the strongest weight in its time span.
        var camStyles: [CellStyle?] = Array(repeating: nil, count: rect.width)
        if let cam = overlay.gradCAM {
            for cx in 0..<rect.width {
                let t0 = region.startSeconds + Double(cx) / Double(rect.width) * region.durationSeconds
                let t1 = t0 + region.durationSeconds / Double(rect.width)
                var w: Float = -1
                var t = t0
                let step = max(1 / fs, (t1 - t0) / 4)
                while t < t1 { if let v = cam(region.lead, t) { w = max(w, v) }; t += step }
                if w >= 0 {
                    camStyles[cx] = theme.gradCAM(w)
                    let style = theme.gradCAM(w), onLine = theme.gradCAMOnGridLine(w)
                    // Major grid lines get a lighter tint, so the 5 mm grid still reads under the map.
                    for cy in 0..<rect.height {
                        grid.restyle(x: rect.x + cx, y: rect.y + cy) {
                            $0.background = $0.background == theme.gridMajor.background ? onLine.background : style.background
                        }
                    }
                }
            }
        }
        let base = selected ? theme.traceSelected : theme.trace
        canvas.draw(into: &grid, x: rect.x, y: rect.y) { cx, _, under in
            var s = base
            s.background = under.background
            if theme.isMonochrome, let cam = camStyles[cx] { s.attributes.formUnion(cam.attributes) }
            return s
        }
        // Cursor and caliper columns.
        if let t = overlay.cursorSeconds, selected || region.isRhythmStrip, let x = region.column(atSeconds: t) {
            for cy in 0..<rect.height {
                grid.restyle(x: x, y: rect.y + cy) { $0 = theme.caliper.with(background: theme.isMonochrome ? .default : .rgb(0, 90, 110)).adding(theme.isMonochrome ? .reverse : []) }
                if grid[x, rect.y + cy].scalar == " " || grid[x, rect.y + cy].scalar == "·" { grid.put("│", x: x, y: rect.y + cy, style: grid[x, rect.y + cy].style) }
            }
        }
        if let t = overlay.caliperStartSeconds, selected || region.isRhythmStrip, let x = region.column(atSeconds: t) {
            for cy in 0..<rect.height where grid[x, rect.y + cy].scalar == " " || grid[x, rect.y + cy].scalar == "·" {
                grid.put("┊", x: x, y: rect.y + cy, style: theme.caliper)
            }
        }
        // Reference beat labels (WFDB .atr) above the rhythm strip, at the annotated sample.
        if region.isRhythmStrip {
            for mark in overlay.beatMarks {
                guard let x = region.column(atSeconds: mark.seconds) else { continue }
                grid.write(mark.symbol, x: x, y: rect.y, style: theme.caliper, maxWidth: rect.maxX - x)
            }
        }
        // Label last so it is always legible; separator tick at the panel's left edge.
        let labelStyle = selected ? theme.selection : theme.leadLabel
        grid.write(selected ? "▸" + label : label, x: rect.x, y: rect.y, style: labelStyle, maxWidth: rect.width)
        if !region.isRhythmStrip, rect.x > 0 {
            grid.put("╎", x: rect.x, y: rect.y + rect.height - 1, style: theme.leadLabel)
        }
    }

    /// Amplitude of `lead` at `seconds` (nearest sample), in mV.
    public static func amplitude(record: ECGRecord, lead: LeadID, seconds: Double) -> Float? {
        guard let l = record.lead(lead), record.samplingRate > 0 else { return nil }
        let i = Int((seconds * record.samplingRate).rounded())
        guard i >= 0, i < l.millivolts.count else { return nil }
        return l.millivolts[i]
    }
}
