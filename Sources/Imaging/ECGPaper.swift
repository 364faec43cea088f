import ECGFormats
import Foundation

/// A per-lead weight map (0…1) over record time, drawn as a tint behind the traces: Grad-CAM for
/// one head output. A protocol so that the renderer draws the engine's own map
/// (`CardiacModels.GradCAMMap` conforms in CMRExport) without depending on the engine.
public protocol ECGHighlightMap: Sendable {
    /// Leads the map covers.
    var leads: [LeadID] { get }
    /// Samples per second of the map (the model input's rate).
    var samplingRate: Double { get }
    /// Time in the record (seconds) of the map's sample 0 — the crop offset of the model input.
    var recordOffsetSeconds: Double { get }
    /// The weight at record time `t`, nil outside the map.
    func value(lead: LeadID, atRecordSeconds t: Double) -> Float?
}

/// A highlight as drawn: the map and what its legend says.
public struct ECGHighlight: Sendable {
    public var label: String
    public var map: any ECGHighlightMap
    public init(label: String, map: any ECGHighlightMap) { self.label = label; self.map = map }
}

/// Where the ECG grid sits on a page, in millimetres from the top-left corner: the PDF report's page
/// (`init(paper:)` in CMRExport) or the PNG sheet (exposed for tests, documented in docs/export.md).
public struct ECGReportLayout: Sendable, Equatable {
    public static let millimetresPerSecond = 25.0
    public static let millimetresPerMillivolt = 10.0
    public static let calibrationMM = 10.0
    public static let tracesMM = 250.0
    public static let rowMM = 25.0
    public static let rows = 4
    public static let gridWidthMM = calibrationMM + tracesMM

    public var pageWidthMM: Double
    public var pageHeightMM: Double
    /// Top-left corner of the ECG grid (the calibration pulses start here; traces at + calibrationMM).
    public var gridLeftMM: Double
    public var gridTopMM: Double
    /// Height of one of the four rows: `rowMM` on the report page, taller on the PNG ECG sheet.
    public var rowHeightMM: Double = ECGReportLayout.rowMM
    /// Stroke width of the traces (the PNG sheet draws them a little heavier for screens).
    public var traceWidthMM = 0.22

    /// A free-standing ECG grid (the PNG sheet): page size, grid corner and row height in millimetres.
    public init(pageWidthMM: Double, pageHeightMM: Double, gridLeftMM: Double, gridTopMM: Double, rowHeightMM: Double) {
        self.pageWidthMM = pageWidthMM; self.pageHeightMM = pageHeightMM
        self.gridLeftMM = gridLeftMM; self.gridTopMM = gridTopMM; self.rowHeightMM = rowHeightMM
    }

    public var gridHeightMM: Double { Double(Self.rows) * rowHeightMM }
    public var gridBottomMM: Double { gridTopMM + gridHeightMM }
    public var tracesLeftMM: Double { gridLeftMM + Self.calibrationMM }
    /// Baseline (0 mV) of row `row` (0–2: the 3×4 layout, 3: rhythm strip).
    public func baselineMM(row: Int) -> Double { gridTopMM + (Double(row) + 0.6) * rowHeightMM }
}

/// The one drawing of the 12-lead on cairo, for the PDF report's page (CMRExport) and the PNG sheet.
public enum ECGPaperDrawing {
    /// Columns of the standard 3×4 layout (2.5 s each): I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6.
    public static let layout = LeadID.standard3x4Columns
    public static let rhythmLead: LeadID = .ii
    static let grey = RGBColor(120, 120, 120)

    /// Grid, calibration pulses, Grad-CAM tint, traces and lead labels — the one drawing of the
    /// 12-lead for the PDF page and the PNG sheet (`ECGPaperRenderer`). Starts at `startSeconds`,
    /// else at the highlight's offset (the model's input window), else at 0.
    public static func drawECG(_ record: ECGRecord, highlight: ECGHighlight?, startSeconds: Double? = nil, rhythmLead: LeadID = rhythmLead,
                        on g: CairoCanvas, layout L: ECGReportLayout) {
        let left = L.gridLeftMM, top = L.gridTopMM
        let right = left + ECGReportLayout.gridWidthMM, bottom = L.gridBottomMM
        let mmPerS = ECGReportLayout.millimetresPerSecond, mmPerMV = ECGReportLayout.millimetresPerMillivolt

        // 1 mm minor lines, then 5 mm major lines on top.
        let nx = Int(ECGReportLayout.gridWidthMM.rounded()), ny = Int(L.gridHeightMM.rounded())
        g.gridLines(xs: (0...nx).filter { $0 % 5 != 0 }.map { left + Double($0) }, ys: (0...ny).filter { $0 % 5 != 0 }.map { top + Double($0) },
                    left: left, top: top, right: right, bottom: bottom, color: .paperMinor, width: 0.1)
        g.gridLines(xs: stride(from: 0, through: nx, by: 5).map { left + Double($0) }, ys: stride(from: 0, through: ny, by: 5).map { top + Double($0) },
                    left: left, top: top, right: right, bottom: bottom, color: .paperMajor, width: 0.2)

        let start = max(0, startSeconds ?? highlight?.map.recordOffsetSeconds ?? 0)
        let traceX0 = L.tracesLeftMM
        g.clip(x: left, y: top, width: right - left, height: bottom - top)
        defer { g.unclip() }
        for row in 0..<ECGReportLayout.rows {
            let baseline = L.baselineMM(row: row)
            // 1 mV × 0.2 s standardisation pulse: 2.5 mm flat, 10 mm up for 5 mm, down, 2.5 mm flat.
            let xa = left + 2.5, xb = xa + 0.2 * mmPerS
            g.polyline([(left + 0.5, baseline), (xa, baseline), (xa, baseline - mmPerMV), (xb, baseline - mmPerMV), (xb, baseline),
                        (left + ECGReportLayout.calibrationMM, baseline)], color: .black, width: 0.25)
            let cells: [(lead: LeadID, from: Double, to: Double)] = row < 3
                ? (0..<4).map { col in (layout[col][row], start + 2.5 * Double(col), start + 2.5 * Double(col + 1)) }
                : [(rhythmLead, start, start + 10)]
            let bandTop = top + Double(row) * L.rowHeightMM
            for (index, cell) in cells.enumerated() {
                let cx0 = traceX0 + (cell.from - start) * mmPerS
                if let highlight {
                    drawHighlight(highlight, lead: cell.lead, from: cell.from, to: cell.to, x0: cx0, top: bandTop, height: L.rowHeightMM, on: g)
                }
                if index > 0 { g.line(cx0, baseline - 3, cx0, baseline + 3, color: .black, width: 0.25) }   // lead-change marker
                let labelY = bandTop + 3.6
                guard let lead = record.lead(cell.lead), record.samplingRate > 0 else {
                    g.text("\(cell.lead) (absent)", x: cx0 + 1.5, y: labelY, size: 2.6, color: grey)
                    continue
                }
                g.text(cell.lead.description, x: cx0 + 1.5, y: labelY, size: 2.8, color: .black, weight: .bold)
                let s0 = max(0, Int((cell.from * record.samplingRate).rounded(.down)))
                let s1 = min(lead.millivolts.count, Int((cell.to * record.samplingRate).rounded(.down)))
                guard s1 - s0 >= 2 else { continue }
                let segment = Array(lead.millivolts[s0..<s1])
                let centre = Double(median(segment))
                // A missing sample (NaN) is a gap in the trace, not a 0 mV line: one polyline per
                // run of finite samples. Far off-scale values are pinned to ±1 m off the sheet.
                var run: [(Double, Double)] = []
                for (k, v) in segment.enumerated() {
                    guard v.isFinite else {
                        if run.count >= 2 { g.polyline(run, color: .black, width: L.traceWidthMM) }
                        run.removeAll(keepingCapacity: true)
                        continue
                    }
                    let t = Double(s0 + k) / record.samplingRate
                    let y = min(1000, max(-1000, baseline - (Double(v) - centre) * mmPerMV))
                    run.append((traceX0 + (t - start) * mmPerS, y))
                }
                if run.count >= 2 { g.polyline(run, color: .black, width: L.traceWidthMM) }
            }
        }
    }

    /// The Grad-CAM map as orange bands behind one cell (weights quantised to 1/20 and merged into runs).
    /// Weights below `highlightFloor` are not drawn and the strongest band stays at most 45 % opaque,
    /// so the highlight marks where the model looked without shading the whole tracing, and the
    /// black trace over it keeps its contrast.
    static let highlightFloor = 5, highlightMaxAlpha = 0.45
    static func drawHighlight(_ highlight: ECGHighlight, lead: LeadID, from: Double, to: Double, x0: Double, top: Double, height: Double,
                              on g: CairoCanvas) {
        let h = highlight.map
        guard h.leads.contains(lead), h.samplingRate > 0 else { return }
        let mmPerS = ECGReportLayout.millimetresPerSecond
        let step = 1 / h.samplingRate
        var runStart: Double?, runLevel = 0
        func flush(_ t: Double) {
            if let s = runStart, runLevel >= highlightFloor {
                g.fill(x: x0 + (s - from) * mmPerS, y: top + 0.3, width: (t - s) * mmPerS, height: height - 0.6,
                       color: .gradCAM, alpha: highlightMaxAlpha * Double(runLevel) / 20)
            }
            runStart = nil
        }
        var t = from
        while t < to {
            let level = Int(checked: (Double(h.value(lead: lead, atRecordSeconds: t) ?? 0) * 20).rounded()).map { max(0, min(20, $0)) } ?? 0
            if level != runLevel || runStart == nil { flush(t); runStart = t; runLevel = level }
            t += step
        }
        flush(to)
    }

    static func median(_ v: [Float]) -> Float {
        let finite = v.filter(\.isFinite).sorted()
        guard !finite.isEmpty else { return 0 }
        return finite[finite.count / 2]
    }
}

/// The PNG ECG sheet: standard paper at 25 mm/s and 10 mm/mV on a 1 mm minor / 5 mm major pink grid,
/// a 1 mV × 0.2 s calibration pulse at the start of each row, the 12 leads in a 3×4 layout (2.5 s per
/// column: I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6) and a 10 s rhythm strip — drawn by cairo
/// (anti-aliased traces, DejaVu Sans) with the same code as the PDF report's ECG
/// (`ECGPaperDrawing.drawECG`), on a raster of `pixelsPerMillimetre`; grid lines are whole pixels.
///
/// Each trace segment is drawn around the median of its own samples (the printed baseline).
public struct ECGPaperRenderer: Sendable {
    public var pixelsPerMillimetre: Int
    public var rhythmLead: LeadID = .ii

    public init(pixelsPerMillimetre: Int = 5) { self.pixelsPerMillimetre = max(2, pixelsPerMillimetre) }

    static let leftMarginMM = 5.0, rightMarginMM = 5.0
    static let headerMM = 14.0, rowMM = 35.0, footerMM = 10.0
    static let widthMM = leftMarginMM + ECGReportLayout.gridWidthMM + rightMarginMM
    static let heightMM = headerMM + Double(ECGReportLayout.rows) * rowMM + footerMM
    static let textMM = 2.6

    /// The sheet's millimetre layout (grid corner, row height) in the report's terms.
    static var layout: ECGReportLayout {
        var L = ECGReportLayout(pageWidthMM: widthMM, pageHeightMM: heightMM, gridLeftMM: leftMarginMM, gridTopMM: headerMM, rowHeightMM: rowMM)
        L.traceWidthMM = 0.3
        return L
    }

    /// Renders `record` starting at `startSeconds` (the highlight's offset when one is given).
    public func render(_ record: ECGRecord, highlight: ECGHighlight? = nil, startSeconds: Double? = nil,
                       header: [String]) throws -> RGBImage {
        let L = Self.layout
        let g = try CairoCanvas(rasterWidthMM: Self.widthMM, heightMM: Self.heightMM, pixelsPerMillimetre: Double(pixelsPerMillimetre))
        g.fill(x: 0, y: 0, width: Self.widthMM, height: Self.heightMM, color: .white)
        ECGPaperDrawing.drawECG(record, highlight: highlight, startSeconds: startSeconds, rhythmLead: rhythmLead, on: g, layout: L)
        let textWidth = ECGReportLayout.gridWidthMM
        for (i, line) in header.prefix(4).enumerated() {
            let colour: RGBColor = line.hasPrefix("WARNING") ? .warning : .black
            g.text(g.fitted(line, width: textWidth, size: Self.textMM), x: Self.leftMarginMM, y: 3.4 + Double(i) * 3.2,
                   size: Self.textMM, color: colour)
        }
        var footer = String(format: "%.0f mm/s   %.0f mm/mV   paper grid 1 mm / 5 mm",
                            ECGReportLayout.millimetresPerSecond, ECGReportLayout.millimetresPerMillivolt)
        if let highlight { footer += "   orange = Grad-CAM \(highlight.label)" }
        g.text(g.fitted(footer, width: textWidth, size: Self.textMM), x: Self.leftMarginMM, y: L.gridBottomMM + 4.5,
               size: Self.textMM, color: .black)
        return try g.rgbImage()
    }
}
