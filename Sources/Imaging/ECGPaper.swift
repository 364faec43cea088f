import ECGFormats
import Foundation

/// A per-lead weight map (0…1) drawn as a tint behind the traces — Grad-CAM for one head output.
/// (Mirrors `CardiacModels.GradCAMMap` so the renderer does not depend on the engine.)
public struct ECGHighlight: Sendable {
    public var label: String
    public var leads: [LeadID]
    public var samplingRate: Double
    public var sampleCount: Int
    /// Lead-major `[leads × sampleCount]`, 0…1.
    public var values: [Float]
    /// Time in the record (seconds) of the map's sample 0 — the crop offset of the model input.
    public var recordOffsetSeconds: Double

    public init(label: String, leads: [LeadID], samplingRate: Double, sampleCount: Int, values: [Float], recordOffsetSeconds: Double) {
        self.label = label; self.leads = leads; self.samplingRate = samplingRate
        self.sampleCount = sampleCount; self.values = values; self.recordOffsetSeconds = recordOffsetSeconds
    }

    public func value(lead: LeadID, atRecordSeconds t: Double) -> Float? {
        guard let li = leads.firstIndex(of: lead), samplingRate > 0 else { return nil }
        let s = Int(((t - recordOffsetSeconds) * samplingRate).rounded(.down))
        guard s >= 0, s < sampleCount, li * sampleCount + s < values.count else { return nil }
        return values[li * sampleCount + s]
    }
}

/// Standard ECG paper: 25 mm/s, 10 mm/mV, 1 mm minor and 5 mm major pink grid, a 1 mV × 0.2 s
/// calibration pulse at the start of each row, the 12 leads in a 3×4 layout (2.5 s per column:
/// I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6) and a 10 s lead II rhythm strip.
///
/// Each trace segment is drawn around the median of its own samples (the printed baseline).
public struct ECGPaperRenderer: Sendable {
    public var pixelsPerMillimetre: Int
    public var millimetresPerSecond: Double = 25
    public var millimetresPerMillivolt: Double = 10
    public var rhythmLead: LeadID = .ii

    public init(pixelsPerMillimetre: Int = 5) { self.pixelsPerMillimetre = max(2, pixelsPerMillimetre) }

    static let layout: [[LeadID]] = [[.i, .ii, .iii], [.aVR, .aVL, .aVF], [.v1, .v2, .v3], [.v4, .v5, .v6]]
    static let leftMarginMM = 5.0, calibrationMM = 10.0, tracesMM = 250.0, rightMarginMM = 5.0
    static let headerMM = 14.0, rowMM = 35.0, footerMM = 10.0

    /// Renders `record` starting at `startSeconds` (the highlight's offset when one is given).
    public func render(_ record: ECGRecord, highlight: ECGHighlight? = nil, startSeconds: Double? = nil,
                       header: [String]) -> RGBImage {
        let ppm = Double(pixelsPerMillimetre)
        let width = Int(((Self.leftMarginMM + Self.calibrationMM + Self.tracesMM + Self.rightMarginMM) * ppm).rounded())
        let height = Int(((Self.headerMM + 4 * Self.rowMM + Self.footerMM) * ppm).rounded())
        var img = RGBImage(width: width, height: height, fill: .white)
        let gridTop = Int((Self.headerMM * ppm).rounded())
        let gridBottom = Int(((Self.headerMM + 4 * Self.rowMM) * ppm).rounded())
        drawGrid(&img, top: gridTop, bottom: gridBottom)

        let start = max(0, startSeconds ?? highlight?.recordOffsetSeconds ?? 0)
        let traceX0 = (Self.leftMarginMM + Self.calibrationMM) * ppm
        let pxPerSecond = millimetresPerSecond * ppm
        let pxPerMV = millimetresPerMillivolt * ppm
        let textScale = max(1, pixelsPerMillimetre / 3)
        let thickness = pixelsPerMillimetre >= 4 ? 2 : 1

        // Rows 0–2: the 3×4 layout; row 3: rhythm strip.
        for row in 0..<4 {
            let baseline = Int(((Self.headerMM + (Double(row) + 0.6) * Self.rowMM) * ppm).rounded())
            let bandTop = Int(((Self.headerMM + Double(row) * Self.rowMM) * ppm).rounded()) + 1
            let bandHeight = Int((Self.rowMM * ppm).rounded()) - 2
            drawCalibration(&img, baseline: baseline, pxPerMV: pxPerMV, thickness: thickness)
            let cells: [(lead: LeadID, from: Double, to: Double, x0: Double)] = row < 3
                ? (0..<4).map { col in
                    (Self.layout[col][row], start + 2.5 * Double(col), start + 2.5 * Double(col + 1), traceX0 + 2.5 * Double(col) * pxPerSecond)
                }
                : [(rhythmLead, start, start + 10, traceX0)]
            for (index, cell) in cells.enumerated() {
                let x0 = cell.x0
                let x1 = x0 + (cell.to - cell.from) * pxPerSecond
                if let highlight {
                    for px in Int(x0.rounded())..<Int(x1.rounded()) {
                        let t = cell.from + (Double(px) - x0) / pxPerSecond
                        if let w = highlight.value(lead: cell.lead, atRecordSeconds: t), w > 0 {
                            for py in bandTop..<(bandTop + bandHeight) { img.blendPixel(px, py, .gradCAM, alpha: 0.6 * Double(w)) }
                        }
                    }
                }
                if index > 0 {   // lead-change marker, as printed on standard 12-lead sheets
                    let mx = Int(x0.rounded())
                    img.drawLine(x0: mx, y0: baseline - Int(3 * ppm), x1: mx, y1: baseline + Int(3 * ppm), color: .black, thickness: 1)
                }
                let label = cell.lead.description
                let textX = Int(x0.rounded()) + 2 * pixelsPerMillimetre
                let textY = baseline - Int(9 * ppm)
                guard let lead = record.lead(cell.lead), record.samplingRate > 0 else {
                    img.drawText("\(label) (absent)", x: textX, y: textY, color: RGBColor(120, 120, 120), scale: textScale)
                    continue
                }
                img.drawText(label, x: textX, y: textY, color: .black, scale: textScale)
                let s0 = max(0, Int((cell.from * record.samplingRate).rounded(.down)))
                let s1 = min(lead.millivolts.count, Int((cell.to * record.samplingRate).rounded(.down)))
                guard s1 - s0 >= 2 else { continue }
                let segment = Array(lead.millivolts[s0..<s1])
                let centre = Double(median(segment))
                var prev: (Int, Int)?
                for (k, v) in segment.enumerated() {
                    let t = Double(s0 + k) / record.samplingRate
                    let x = Int((traceX0 + (t - start) * pxPerSecond).rounded())
                    let mv = v.isFinite ? Double(v) - centre : 0
                    let y = Int((Double(baseline) - mv * pxPerMV).rounded())
                    if let p = prev { img.drawLine(x0: p.0, y0: p.1, x1: x, y1: y, color: .black, thickness: thickness) }
                    prev = (x, y)
                }
            }
        }
        for (i, line) in header.enumerated() {
            img.drawText(line, x: Int(Self.leftMarginMM * ppm), y: pixelsPerMillimetre + i * (BitmapFont.glyphHeight + 3) * textScale,
                         color: .black, scale: textScale)
        }
        var footer = String(format: "%.0f mm/s   %.0f mm/mV   paper grid 1 mm / 5 mm", millimetresPerSecond, millimetresPerMillivolt)
        if let highlight { footer += "   orange = Grad-CAM \(highlight.label)" }
        img.drawText(footer, x: Int(Self.leftMarginMM * ppm), y: gridBottom + pixelsPerMillimetre, color: .black, scale: textScale)
        return img
    }

    private func drawGrid(_ img: inout RGBImage, top: Int, bottom: Int) {
        let ppm = Double(pixelsPerMillimetre)
        let widthMM = Int(Double(img.width) / ppm), heightMM = Int(Double(bottom - top) / ppm)
        for pass in 0..<2 {     // minor lines first so major lines stay on top
            for mm in 0...widthMM where (mm % 5 == 0) == (pass == 1) {
                let x = Int((Double(mm) * ppm).rounded())
                img.fillRect(x: x, y: top, width: 1, height: bottom - top, color: pass == 1 ? .paperMajor : .paperMinor)
            }
            for mm in 0...heightMM where (mm % 5 == 0) == (pass == 1) {
                let y = top + Int((Double(mm) * ppm).rounded())
                img.fillRect(x: 0, y: y, width: img.width, height: 1, color: pass == 1 ? .paperMajor : .paperMinor)
            }
        }
    }

    /// The 1 mV, 0.2 s standardisation pulse: 2.5 mm flat, 10 mm up for 5 mm, back down, 2.5 mm flat.
    private func drawCalibration(_ img: inout RGBImage, baseline: Int, pxPerMV: Double, thickness: Int) {
        let ppm = Double(pixelsPerMillimetre)
        let x0 = Int((Self.leftMarginMM * ppm).rounded())
        let xa = Int(((Self.leftMarginMM + 2.5) * ppm).rounded())
        let xb = Int(((Self.leftMarginMM + 2.5 + 0.2 * millimetresPerSecond) * ppm).rounded())
        let x1 = Int(((Self.leftMarginMM + Self.calibrationMM) * ppm).rounded())
        let top = baseline - Int(pxPerMV.rounded())
        for (a, b) in [((x0, baseline), (xa, baseline)), ((xa, baseline), (xa, top)), ((xa, top), (xb, top)),
                       ((xb, top), (xb, baseline)), ((xb, baseline), (x1, baseline))] {
            img.drawLine(x0: a.0, y0: a.1, x1: b.0, y1: b.1, color: .black, thickness: thickness)
        }
    }

    private func median(_ v: [Float]) -> Float {
        let finite = v.filter(\.isFinite).sorted()
        guard !finite.isEmpty else { return 0 }
        return finite[finite.count / 2]
    }
}
