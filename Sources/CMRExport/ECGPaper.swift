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

    func value(lead: LeadID, atRecordSeconds t: Double) -> Float? {
        guard let li = leads.firstIndex(of: lead), samplingRate > 0 else { return nil }
        let s = Int(((t - recordOffsetSeconds) * samplingRate).rounded(.down))
        guard s >= 0, s < sampleCount, li * sampleCount + s < values.count else { return nil }
        return values[li * sampleCount + s]
    }
}

/// The PNG ECG sheet: standard paper at 25 mm/s and 10 mm/mV on a 1 mm minor / 5 mm major pink grid,
/// a 1 mV × 0.2 s calibration pulse at the start of each row, the 12 leads in a 3×4 layout (2.5 s per
/// column: I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6) and a 10 s rhythm strip — drawn by cairo
/// (anti-aliased traces, DejaVu Sans) with the same code as the PDF report's ECG
/// (`ECGReportWriter.drawECG`), on a raster of `pixelsPerMillimetre`; grid lines are whole pixels.
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
        ECGReportWriter.drawECG(record, highlight: highlight, startSeconds: startSeconds, rhythmLead: rhythmLead, on: g, layout: L)
        let textWidth = ECGReportLayout.gridWidthMM
        for (i, line) in header.prefix(4).enumerated() {
            let colour: RGBColor = line.hasPrefix("WARNING") ? ECGReportWriter.warn : .black
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
