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
    var gainLabel: String { gainMillimetresPerMillivolt == 2.5 ? "2.5 mm/mV" : "\(Int(gainMillimetresPerMillivolt)) mm/mV" }
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
    /// Rhythm strip / zoom view start (s) when the speed shows less than the whole record.
    public var viewStartSeconds: Double = 0
    public var rhythmLead: LeadID = .ii
    /// Grad-CAM weight 0…1 for (lead, record time in seconds), nil when no map covers it.
    public var gradCAM: ((LeadID, Double) -> Float?)?
    public init(selectedLead: LeadID? = nil, cursorSeconds: Double? = nil, caliperStartSeconds: Double? = nil,
                viewStartSeconds: Double = 0, rhythmLead: LeadID = .ii, gradCAM: ((LeadID, Double) -> Float?)? = nil) {
        self.selectedLead = selectedLead; self.cursorSeconds = cursorSeconds; self.caliperStartSeconds = caliperStartSeconds
        self.viewStartSeconds = viewStartSeconds; self.rhythmLead = rhythmLead; self.gradCAM = gradCAM
    }
}

/// Draws ECG leads on ECG paper with braille dots. Geometry is in paper millimetres: the trace
/// width is 250 mm (10 s at 25 mm/s) and each row 30 mm tall, so speed and gain behave like on a
/// cart (50 mm/s shows half the time; 20 mm/mV doubles the amplitude).
public enum TraceView {
    static let paperWidthMillimetres = 250.0
    static let rowHeightMillimetres = 30.0

    /// Renders `layout` of `record` in `area`; returns the lead regions for hit-testing.
    @discardableResult
    public static func render(record: ECGRecord, layout: TraceLayout, settings: PaperSettings, overlay: TraceOverlay,
                              into grid: inout CellGrid, area: Rect, theme: Theme) -> [LeadRegion] {
        guard area.width >= 12, area.height >= 2 else { return [] }
        grid.fill(area, style: theme.paper)
        let gutter = calibrationGutter(area: area)
        let traceArea = Rect(x: area.x + gutter, y: area.y, width: area.width - gutter, height: area.height)
        let dotsPerMMX = Double(traceArea.width * 2) / paperWidthMillimetres
        let visibleSeconds = paperWidthMillimetres / settings.speedMillimetresPerSecond
        var regions: [LeadRegion] = []
        var rows: [(Rect, [(LeadID, Double, Double)], Bool)] = []  // row rect, (lead, start, duration) per column, rhythm?

        switch layout {
        case .standard12:
            // Four rows when there is room for ≥ 3 cells each, else the 3×4 block alone.
            let rowCount = area.height >= 12 ? 4 : 3
            let rowHeight = area.height / rowCount
            let columnSeconds = visibleSeconds / 4
            let columns: [[LeadID]] = [[.i, .ii, .iii], [.aVR, .aVL, .aVF], [.v1, .v2, .v3], [.v4, .v5, .v6]]
            for r in 0..<3 {
                let rr = Rect(x: traceArea.x, y: area.y + r * rowHeight, width: traceArea.width, height: rowHeight)
                // Column c shows the c-th quarter of the record at 25 mm/s, as a cart prints it.
                rows.append((rr, columns.enumerated().map { c, leads in (leads[r], Double(c) * 2.5, columnSeconds) }, false))
            }
            if rowCount == 4 {
                let rr = Rect(x: traceArea.x, y: area.y + 3 * rowHeight, width: traceArea.width, height: area.height - 3 * rowHeight)
                rows.append((rr, [(overlay.rhythmLead, overlay.viewStartSeconds, visibleSeconds)], true))
            }
        case .single(let lead):
            rows.append((traceArea, [(lead, overlay.viewStartSeconds, visibleSeconds)], true))
        }

        for (rowRect, panels, isRhythm) in rows {
            let dotsPerMMY = Double(rowRect.height * 4) / (isRhythm && rows.count == 1 ? max(rowHeightMillimetres, Double(rowRect.height) * 2) : rowHeightMillimetres)
            drawPaper(into: &grid, rect: rowRect, dotsPerMMX: dotsPerMMX, dotsPerMMY: dotsPerMMY, theme: theme)
            drawCalibration(into: &grid, rowRect: rowRect, gutterX: area.x, gutter: gutter, dotsPerMMX: dotsPerMMX,
                            dotsPerMMY: dotsPerMMY, settings: settings, theme: theme)
            let panelWidth = rowRect.width / panels.count
            for (c, (lead, start, duration)) in panels.enumerated() {
                let w = c == panels.count - 1 ? rowRect.width - c * panelWidth : panelWidth
                let rect = Rect(x: rowRect.x + c * panelWidth, y: rowRect.y, width: w, height: rowRect.height)
                let seconds = duration * Double(w) / Double(panelWidth)
                let region = LeadRegion(lead: lead, rect: rect, startSeconds: start, durationSeconds: seconds, isRhythmStrip: isRhythm)
                regions.append(region)
                drawLead(record: record, region: region, dotsPerMMY: dotsPerMMY, settings: settings, overlay: overlay,
                         into: &grid, theme: theme)
            }
        }
        return regions
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
        let first = max(0, Int(region.startSeconds * fs))
        let last = min(samples.count, Int(((region.startSeconds + region.durationSeconds) * fs).rounded(.up)))
        // Baseline: mean of the shown window, so each panel sits on its row like a cart's isoelectric line.
        var baseline = 0.0
        if last > first { for i in first..<last { baseline += Double(samples[i]) }; baseline /= Double(last - first) }
        let centre = Double(canvas.heightDots) / 2
        let dotsPerMillivolt = settings.gainMillimetresPerMillivolt * dotsPerMMY
        func yDot(_ mv: Float) -> Int { Int((centre - (Double(mv) - baseline) * dotsPerMillivolt).rounded()) }
        var previousY: Int? = nil
        if last > first {
            // Per dot column: min…max of its samples, joined to the previous column (no gaps on QRS slopes).
            var i = first
            for dx in 0..<canvas.widthDots {
                let end = min(last, first + Int((Double(dx + 1) / dotsPerSecond * fs).rounded()))
                if i >= end { if let p = previousY { canvas.set(x: dx, y: p) }; continue }
                var lo = samples[i], hi = samples[i]
                let firstY = yDot(samples[i])
                while i < end { lo = min(lo, samples[i]); hi = max(hi, samples[i]); i += 1 }
                let lastY = yDot(samples[end - 1])
                canvas.verticalSpan(x: dx, y0: yDot(lo), y1: yDot(hi))
                if let p = previousY { canvas.verticalSpan(x: dx, y0: p, y1: firstY) }
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
                    let style = theme.gradCAM(w)
                    for cy in 0..<rect.height { grid.restyle(x: rect.x + cx, y: rect.y + cy) { $0.background = style.background } }
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
