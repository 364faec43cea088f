import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
import SignalKit

/// Paper of the one-page PDF report (always landscape: the 10 s of a 12-lead at 25 mm/s is 250 mm).
public enum PaperSize: String, Sendable, Codable, CaseIterable {
    case a4, letter
    /// Landscape width × height in millimetres.
    public var millimetres: (width: Double, height: Double) {
        switch self {
        case .a4: return (297, 210)
        case .letter: return (279.4, 215.9)
        }
    }
}

/// Everything one report page shows. Built by `CaseExporter.reportContent`; drawn by `ECGReportWriter`.
public struct ECGReportContent: Sendable {
    public var record: ECGRecord
    /// The model's outputs; nil on an ECG-only page (`modelNotApplicable` says why).
    public var analysis: ECGAnalysis?
    public var highlight: ECGHighlight?
    public var sax: CineLoop?
    public var lax: CineLoop?
    public var phases: CardiacPhases?
    /// Why the model was not applied (e.g. a 2-lead Holter lacks the leads it needs): the page then
    /// shows the ECG and the measurements only, and says this in place of the model's panels.
    public var modelNotApplicable: String?
    /// ecg2cmr's own global measurements (nil with `measurementNote` when they failed).
    public var measurements: IntervalMeasurements?
    public var measurementNote: String?
    public var modelID: String
    public var modelDisplayName: String
    public var modelFormatVersion: Int
    public var weightsSHA256: String
    public var isSynthetic: Bool
    public var disclaimer: String
    public var softwareVersion: String
    public var seed: UInt64
    public var includePHI: Bool
    public var generatorStatement: String?
    /// How the generated heart's anatomy was chosen; a draw within the intervals is labelled on the page.
    public var anatomy: AnatomyMode = .pointEstimate
    /// For an ECG whose outputs are withheld (out of distribution): list them anyway, all grey and
    /// labelled unreliable (`--show-unreliable`). Without it the page states why they are withheld.
    public var showUnreliable = false
    /// Why the model's outputs are not findings on this page (nil when they stand).
    public var withheld: String? { analysis?.withheldReason }

    public init(record: ECGRecord, analysis: ECGAnalysis, highlight: ECGHighlight?, sax: CineLoop, lax: CineLoop,
                phases: CardiacPhases, measurements: IntervalMeasurements?, measurementNote: String?, modelID: String,
                modelDisplayName: String, modelFormatVersion: Int, weightsSHA256: String, isSynthetic: Bool, disclaimer: String,
                softwareVersion: String, seed: UInt64, includePHI: Bool, generatorStatement: String? = nil) {
        self.record = record; self.analysis = analysis; self.highlight = highlight; self.sax = sax; self.lax = lax
        self.phases = phases; self.measurements = measurements; self.measurementNote = measurementNote; self.modelID = modelID
        self.modelDisplayName = modelDisplayName; self.modelFormatVersion = modelFormatVersion; self.weightsSHA256 = weightsSHA256
        self.isSynthetic = isSynthetic; self.disclaimer = disclaimer; self.softwareVersion = softwareVersion; self.seed = seed
        self.includePHI = includePHI; self.generatorStatement = generatorStatement
    }

    /// An ECG-only page: traces and measurements, no model outputs, and the reason printed.
    public init(ecgOnly record: ECGRecord, measurements: IntervalMeasurements?, measurementNote: String?, notApplicable reason: String,
                modelID: String, modelDisplayName: String, modelFormatVersion: Int, weightsSHA256: String, isSynthetic: Bool,
                disclaimer: String, softwareVersion: String, seed: UInt64, includePHI: Bool) {
        self.record = record; self.analysis = nil; self.highlight = nil; self.sax = nil; self.lax = nil; self.phases = nil
        self.modelNotApplicable = reason
        self.measurements = measurements; self.measurementNote = measurementNote; self.modelID = modelID
        self.modelDisplayName = modelDisplayName; self.modelFormatVersion = modelFormatVersion; self.weightsSHA256 = weightsSHA256
        self.isSynthetic = isSynthetic; self.disclaimer = disclaimer; self.softwareVersion = softwareVersion; self.seed = seed
        self.includePHI = includePHI; self.generatorStatement = nil
    }
}

extension ECGReportLayout {
    /// The report page: the grid centred across the page (whole millimetres), its top 33 mm down.
    public init(paper: PaperSize) {
        let p = paper.millimetres
        self.init(pageWidthMM: p.width, pageHeightMM: p.height, gridLeftMM: ((p.width - Self.gridWidthMM) / 2).rounded(),
                  gridTopMM: 33, rowHeightMM: Self.rowMM)
    }
}

/// Draws the one-page PDF report with cairo (vector traces and grid, real fonts).
public enum ECGReportWriter {
    /// Columns of the standard 3×4 layout (2.5 s each): I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6.
    public static let layout = ECGPaperDrawing.layout
    public static let rhythmLead = ECGPaperDrawing.rhythmLead
    public static let generatedLabel = "generated, not acquired"
    public static let syntheticModelNotice = ModelIdentity.syntheticWarning

    static let dark = RGBColor(20, 20, 20)
    static let grey = RGBColor(120, 120, 120)
    static let warn = RGBColor.warning
    static let body = 2.4, small = 2.0, heading = 2.8, leading = 3.05

    public static func pdf(_ c: ECGReportContent, paper: PaperSize = .a4, filter: DisplayFilter = .diagnostic) throws -> Data {
        let L = ECGReportLayout(paper: paper)
        let canvas = try CairoCanvas(pdfWidthMM: L.pageWidthMM, heightMM: L.pageHeightMM,
                                     title: "ecg2cmr report — \(CaseExporter.caseStem(for: c.record))",
                                     creationDate: creationDate(c))
        draw(c, on: canvas, layout: L, filter: filter)
        return try canvas.pdfData()
    }

    /// The PDF's /CreationDate: the ECG's acquisition time with --include-phi, else a fixed date, so a
    /// report is a pure function of its input, model and options (byte-identical on re-export).
    static func creationDate(_ c: ECGReportContent) -> String {
        if c.includePHI, let t = c.record.metadata.acquisitionTime {
            let f = ISO8601DateFormatter(); f.timeZone = TimeZone(identifier: "UTC")
            return f.string(from: t)
        }
        return "2000-01-01T00:00:00Z"
    }

    // MARK: page

    static func draw(_ c: ECGReportContent, on g: CairoCanvas, layout L: ECGReportLayout, filter: DisplayFilter) {
        let x0 = L.gridLeftMM, x1 = L.gridLeftMM + ECGReportLayout.gridWidthMM
        g.fill(x: 0, y: 0, width: L.pageWidthMM, height: L.pageHeightMM, color: .white)

        // Header.
        var y = 10.0
        let title = c.analysis == nil ? "\(c.record.fileLeadOrder.count)-lead ECG" : "12-lead ECG and generated CMR"
        // The synthetic-model notice keeps its full wording; the title gives way (measured) if both do not fit.
        let noticeW = c.isSynthetic ? g.textWidth(syntheticModelNotice, size: 3.0, weight: .bold) + 3 * gap : 0
        g.text(g.fitted("\(title) — ecg2cmr \(c.softwareVersion)", width: x1 - x0 - noticeW, size: 3.6, weight: .bold),
               x: x0, y: y, size: 3.6, color: dark, weight: .bold)
        if c.isSynthetic {
            g.text(syntheticModelNotice, x: x1, y: y, size: 3.0, color: warn, weight: .bold, align: .right)
        }
        y += 4.6
        g.text(g.fitted(demographics(c), width: x1 - x0, size: body), x: x0, y: y, size: body, color: dark)
        y += leading
        g.text(g.fitted(recordLine(c), width: x1 - x0, size: body), x: x0, y: y, size: body, color: dark)
        y += leading
        g.text(g.fitted(modelLine(c), width: x1 - x0, size: body), x: x0, y: y, size: body, color: dark)
        y += 1.2
        if c.analysis?.outOfDistribution?.isOutside == true {
            g.fill(x: x0, y: y, width: x1 - x0, height: 4.4, color: warn)
            let score = c.analysis?.outOfDistribution.map { String(format: " (score %.2f > 1)", $0.score) } ?? ""
            g.text(g.fitted("WARNING: " + OutOfDistributionVerdict.warning + score, width: x1 - x0 - 2, size: body, weight: .bold),
                   x: x0 + 1, y: y + 3.2, size: body, color: .white, weight: .bold)
        }

        // ECG.
        let filtered = displayRecord(c.record, filter: filter)
        ECGPaperDrawing.drawECG(filtered.record, highlight: c.highlight, on: g, layout: L)
        var footer = String(format: "%.0f mm/s   %.0f mm/mV   grid 1 mm / 5 mm   filter %@",
                            ECGReportLayout.millimetresPerSecond, ECGReportLayout.millimetresPerMillivolt, filtered.description)
        if let h = c.highlight {
            footer += "   orange = Grad-CAM of \(h.label) (model attention, not a finding)"
        } else if c.analysis != nil {
            footer += "   Grad-CAM: " + CaseAnalysis.noGradCAMHint.replacingOccurrences(of: " (workstation: :head cad)", with: "")
        }
        footer += "   print at 100 % (actual size)"
        g.text(g.fitted(footer, width: x1 - x0, size: small), x: x0, y: L.gridBottomMM + 3.2, size: small, color: dark)

        // Lower panel: measurements | risks | phenotypes | CMR.
        let top = L.gridBottomMM + 8.5
        let bottom = L.pageHeightMM - 13
        let w = x1 - x0
        drawMeasurements(c, on: g, x: x0, y: top, width: w * 0.19, bottom: bottom)
        if let analysis = c.analysis, let sax = c.sax, let lax = c.lax, let phases = c.phases {
            switch modelPanels(c) {
            case .withheld(let lines):
                // Out of distribution: no risk or phenotype is drawn, so nothing on the page reads as a finding.
                let x = x0 + w * 0.205, width = w * 0.55
                sectionTitle("Model outputs withheld", on: g, x: x, y: top, width: width)
                var yy = top + 4.2
                for line in lines {
                    g.text(g.fitted(line, width: width, size: body), x: x, y: yy, size: body, color: dark)
                    yy += leading
                }
            case .notApplied:
                break
            case .results(let unreliable):
                drawRisks(analysis, unreliable: unreliable, on: g, x: x0 + w * 0.205, y: top, width: w * 0.27, bottom: bottom)
                drawPhenotypes(analysis, unreliable: unreliable, on: g, x: x0 + w * 0.49, y: top, width: w * 0.265, bottom: bottom)
            }
            drawCMR(sax: sax, lax: lax, phases: phases, anatomy: c.anatomy, on: g, x: x0 + w * 0.77, y: top, width: w * 0.23, bottom: bottom)
        } else {
            let x = x0 + w * 0.205, width = w * 0.795
            sectionTitle("Model not applied", on: g, x: x, y: top, width: width)
            g.text(g.fitted(c.modelNotApplicable ?? "the model did not run on this record", width: width, size: body),
                   x: x, y: top + 4.2, size: body, color: dark)
            g.text(g.fitted("This page shows the ECG and ecg2cmr's measurements only: no risks, phenotypes or generated CMR.", width: width, size: small),
                   x: x, y: top + 4.2 + leading, size: small, color: grey)
        }

        // Footer: provenance.
        let f1 = "input sha256 \(c.record.provenance.sha256.isEmpty ? "(not computed)" : c.record.provenance.sha256)   ·   model weights sha256 \(c.weightsSHA256)"
        g.text(g.fitted(f1, width: w, size: small), x: x0, y: L.pageHeightMM - 8, size: small, color: dark)
        let f2 = c.isSynthetic ? "Model \(c.modelID): \(syntheticModelNotice). Risks, phenotypes and images are model outputs, not diagnoses."
            : "Risks, phenotypes and images are model outputs, not diagnoses." + (c.disclaimer.isEmpty ? "" : " " + c.disclaimer)
        g.text(g.fitted(f2, width: w, size: small, weight: .bold), x: x0, y: L.pageHeightMM - 4.8, size: small,
               color: c.isSynthetic ? warn : dark, weight: .bold)
    }

    static func demographics(_ c: ECGReportContent) -> String {
        guard c.includePHI else { return "Patient identifiers withheld (write the report with --include-phi to show them)" }
        let m = c.record.metadata
        var parts = ["Patient \(m.patientID ?? "(no ID in file)")"]
        parts.append(m.ageYears.map { String(format: "age %.0f", $0) } ?? "age (not in file)")
        parts.append("sex \(m.sex?.rawValue ?? "(not in file)")")
        if let t = m.acquisitionTime {
            let f = ISO8601DateFormatter(); f.timeZone = TimeZone(identifier: "UTC")
            parts.append("acquired \(f.string(from: t))")
        }
        return parts.joined(separator: "   ")
    }

    static func recordLine(_ c: ECGReportContent) -> String {
        let r = c.record
        var s = "ECG \(URL(fileURLWithPath: r.provenance.path).lastPathComponent) (\(r.provenance.format.rawValue))   "
            + "\(r.leads.count) leads   \(String(format: "%g", r.samplingRate)) Hz   \(String(format: "%.1f", r.durationSeconds)) s"
        if let d = r.metadata.device, !d.isEmpty { s += "   device \(d)" }
        if let h = c.highlight, r.durationSeconds > 10.05 {
            s += String(format: "   showing %.1f–%.1f s (the model's window)", max(0, h.map.recordOffsetSeconds), max(0, h.map.recordOffsetSeconds) + 10)
        }
        return s
    }

    static func modelLine(_ c: ECGReportContent) -> String {
        guard let sax = c.sax, let phases = c.phases else {
            return "Model \(c.modelID) (\(c.modelDisplayName)) not applied: " + (c.modelNotApplicable ?? "no model outputs")
        }
        return "Model \(c.modelID) (\(c.modelDisplayName)), bundle format v\(c.modelFormatVersion)\(c.isSynthetic ? ", synthetic" : "")   "
            + "generator seed \(c.seed)   ED frame \(phases.endDiastoleFrame), ES frame \(phases.endSystoleFrame) of \(sax.frames.count)"
    }

    // MARK: ECG

    /// The record the traces are drawn from, after the display filter (SignalKit's `DisplayFilter`,
    /// the same code path as the workstation and `convert --filter`), and how that filter is printed.
    /// A filter that cannot run at this rate leaves the traces as recorded, and the page says so.
    static func displayRecord(_ record: ECGRecord, filter: DisplayFilter) -> (record: ECGRecord, description: String) {
        guard let design = try? filter.design(samplingRate: record.samplingRate),
              let filtered = try? filter.apply(to: record) else { return (record, "none (as recorded)") }
        return (filtered, design.description)
    }

    // MARK: tables
    //
    // Layout by measurement: every column's text is placed from the widths cairo measures for the
    // font it is drawn in (`CairoCanvas.textWidth`), never from fixed fractions alone, so a label
    // cannot run into its value and a note cannot run into the value before it. A label that does
    // not fit takes its short clinical form (`ClinicalLabel`: "WT seg 12", "LGE"); "…" only when no
    // short form fits. tests/pdf/layout.sh checks every word box of many real reports.

    /// Horizontal space kept between two texts on one row (more than a space, so that a text
    /// extractor also sees two words).
    static let gap = 1.2

    static func sectionTitle(_ s: String, on g: CairoCanvas, x: Double, y: Double, width: Double) {
        g.text(g.fitted(s, width: width, size: heading, weight: .bold), x: x, y: y, size: heading, color: dark, weight: .bold)
        g.line(x, y + 0.9, x + width, y + 0.9, color: grey, width: 0.15)
    }

    /// A section title with a shorter form for narrow columns (the first form that fits is drawn).
    static func sectionTitle(_ forms: [String], on g: CairoCanvas, x: Double, y: Double, width: Double) {
        let s = forms.first { g.textWidth($0, size: heading, weight: .bold) <= width } ?? forms.last ?? ""
        sectionTitle(s, on: g, x: x, y: y, width: width)
    }

    static func drawMeasurements(_ c: ECGReportContent, on g: CairoCanvas, x: Double, y: Double, width: Double, bottom: Double) {
        sectionTitle("Global measurements", on: g, x: x, y: y, width: width)
        let ours = c.measurements
        let device = c.record.metadata.deviceMeasurements
        var yy = y + 4.2
        func v(_ d: Double?, _ unit: String) -> String { d.map { String(format: "%.0f %@", $0, unit) } ?? "–" }
        let rows: [(String, (IntervalMeasurements) -> Double?, String)] = [
            ("Heart rate", { $0.heartRateBpm }, "bpm"), ("PR", { $0.prMs }, "ms"), ("QRS", { $0.qrsMs }, "ms"),
            ("QT", { $0.qtMs }, "ms"), ("QTc Bazett", { $0.qtcBazettMs }, "ms"), ("QTc Fridericia", { $0.qtcFridericiaMs }, "ms"),
            ("QTc (device)", { $0.qtcReportedMs }, "ms"),
            ("P axis", { $0.pAxisDeg }, "°"), ("QRS axis", { $0.qrsAxisDeg }, "°"), ("T axis", { $0.tAxisDeg }, "°"),
        ]
        // Values where ecg2cmr and the device differ by more than the tolerance are marked ≠, in red.
        let differ = Set((device.flatMap { d in ours?.disagreements(with: d) } ?? []).map { $0.label.lowercased() })
        let shown = rows.filter { label, get, _ in !(label == "QTc (device)" && ours.flatMap(get) == nil && device.flatMap(get) == nil) }
        // Value columns as wide as their widest value (bold, the widest weight) or heading.
        let ourValues = shown.map { v(ours.flatMap($0.1), $0.2) }, deviceValues = shown.map { v(device.flatMap($0.1), $0.2) }
        func widest(_ xs: [String]) -> Double { xs.map { g.textWidth($0, size: body, weight: .bold) }.max() ?? 0 }
        let ownHeading = "ecg2cmr"
        let col1W = max(widest(ourValues), g.textWidth(ownHeading, size: small))
        var deviceHeading = device?.source ?? ""
        var col2W = 0.0
        if device != nil {
            col2W = max(widest(deviceValues), g.textWidth("device", size: small))
            // The device's name heads its column when it fits there; otherwise "device", named below the table.
            if g.textWidth(deviceHeading, size: small) > col2W { deviceHeading = "device" }
        }
        let col2 = x + width, col1 = device == nil ? col2 : col2 - col2W - 2 * gap
        let labelRight = col1 - col1W - gap
        g.text(ownHeading, x: col1, y: yy, size: small, color: grey, align: .right)
        if device != nil { g.text(deviceHeading, x: col2, y: yy, size: small, color: grey, align: .right) }
        yy += leading
        for (i, (label, _, _)) in shown.enumerated() {
            guard yy < bottom else { break }
            let marked = differ.contains(label.lowercased())
            let weight: CairoCanvas.Weight = marked ? .bold : .normal
            let text = ClinicalLabel.fit(marked ? "≠ " + label : label) { g.textWidth($0, size: body, weight: weight) <= labelRight - x }
            g.text(text, x: x, y: yy, size: body, color: marked ? warn : dark, weight: weight)
            g.text(ourValues[i], x: col1, y: yy, size: body, color: marked ? warn : dark, weight: weight, align: .right)
            if device != nil { g.text(deviceValues[i], x: col2, y: yy, size: body, color: marked ? warn : dark, weight: weight, align: .right) }
            yy += leading
        }
        if let device, deviceHeading != device.source, yy < bottom {
            g.text(g.fitted("device = " + device.source, width: width, size: small), x: x, y: yy, size: small, color: grey)
            yy += leading
        }
        if !differ.isEmpty, yy < bottom {
            let forms = ["≠ differs from the device by more than PR/QRS 10 ms, QT/QTc 20 ms, axes 15°, rate 5 bpm",
                         "≠ differs from the device (PR/QRS > 10 ms, QT/QTc > 20 ms, axes > 15°, rate > 5 bpm)",
                         "≠ differs from the device beyond tolerance"]
            g.text(forms.first { g.textWidth($0, size: small) <= width } ?? g.fitted(forms[2], width: width, size: small),
                   x: x, y: yy, size: small, color: warn)
            yy += leading
        }
        // Values measured around missing samples say so ("measured around a 0.40 s gap in V2 at 4.00 s").
        if let note = ours?.note, yy < bottom {
            // On two lines when one is too narrow (the gap's lead and time both matter).
            var first = note, rest = ""
            while g.textWidth(first, size: small) > width, let space = first.lastIndex(of: " ") {
                rest = String(first[first.index(after: space)...]) + (rest.isEmpty ? "" : " " + rest)
                first = String(first[..<space])
            }
            for line in [first, rest] where !line.isEmpty && yy < bottom {
                g.text(g.fitted(line, width: width, size: small), x: x, y: yy, size: small, color: dark)
                yy += leading
            }
        }
        if ours == nil, yy < bottom {
            g.text(g.fitted("ecg2cmr: " + (c.measurementNote ?? "not measurable"), width: width, size: small), x: x, y: yy, size: small, color: grey)
            yy += leading
        }
        if yy < bottom {
            g.text(g.fitted("– = not measurable / not stated", width: width, size: small), x: x, y: yy, size: small, color: grey)
        }
    }

    /// What the page's model panels show: the model's results (greyed and labelled unreliable for
    /// an out-of-distribution ECG with --show-unreliable), the statement that they are withheld,
    /// or (no analysis) that the model was not applied.
    public enum ModelPanels: Equatable, Sendable {
        case results(unreliable: Bool)
        case withheld([String])
        case notApplied
    }

    public static func modelPanels(_ c: ECGReportContent) -> ModelPanels {
        guard c.analysis != nil else { return .notApplied }
        if let reason = c.withheld { return c.showUnreliable ? .results(unreliable: true) : .withheld(withheldStatement(reason)) }
        return .results(unreliable: false)
    }

    /// The lines that replace the risk and phenotype panels of an out-of-distribution ECG.
    static func withheldStatement(_ reason: String) -> [String] {
        // `reason` is one long sentence (OutOfDistributionVerdict.withheldReason); the page breaks
        // it where the column has room, at its comma.
        let parts = reason.components(separatedBy: ", ")
        var lines = parts.count == 2 ? [parts[0].prefix(1).uppercased() + parts[0].dropFirst() + ",", parts[1] + "."]
                                     : [reason.prefix(1).uppercased() + reason.dropFirst() + "."]
        lines += ["No risk or CMR phenotype is shown: the demo model was trained on synthetic ECGs only.",
                  "Re-export with --show-unreliable to list them greyed, labelled \"\(OutOfDistributionVerdict.unreliableLabel)\"."]
        return lines
    }

    /// How a risk row is drawn: weak heads and unreliable (withheld) outputs are grey, never a finding.
    static func riskStyle(_ r: RiskScore, unreliable: Bool) -> RowStyle {
        r.isWeak || unreliable ? .weak : (r.band == .high ? .flagged : .plain)
    }

    static func phenotypeStyle(_ p: PhenotypeValue, unreliable: Bool) -> RowStyle {
        p.isWeak || unreliable ? .weak : (p.isOutOfRange ? .flagged : .plain)
    }

    /// One row of a result list: the label (fitted through its short forms), the value right-aligned
    /// in the value column, and a note right-aligned at the column's edge, given longest form first.
    struct ResultRow {
        var label: String
        var value: String
        var notes: [String]
        var style: RowStyle
    }

    enum RowStyle { case plain, flagged, weak }

    static func drawRisks(_ analysis: ECGAnalysis, unreliable: Bool = false, on g: CairoCanvas, x: Double, y: Double, width: Double, bottom: Double) {
        let rows = analysis.risks.map { r -> ResultRow in
            let auc = r.validationAUC.map { String(format: "AUC %.2f", $0) } ?? "AUC –"
            // Weak heads and unreliable (withheld) outputs never look like findings: grey, no band, named.
            let band = unreliable ? "unreliable" : (r.isWeak ? "weak" : r.band.rawValue)
            return ResultRow(label: r.label, value: String(format: "%.2f", r.probability),
                             notes: ["\(band) · \(auc)", "\(band == "intermediate" ? "interm." : band) · \(auc)", band == "intermediate" ? "interm." : band],
                             style: riskStyle(r, unreliable: unreliable))
        }
        let legend = analysis.risks.contains(where: \.isWeak)
            ? ["weak = validation AUC < \(RiskScore.weakValidationAUC): not a finding", "weak = AUC < \(RiskScore.weakValidationAUC): not a finding"] : []
        let titles = unreliable ? ["Risks — \(OutOfDistributionVerdict.unreliableLabel)", "Risks"]
            : ["Risks (probability · validation AUC)", "Risks (p · validation AUC)", "Risks"]
        drawResultList(rows, titles: titles, legend: legend,
                       on: g, x: x, y: y, width: width, bottom: bottom)
    }

    static func drawPhenotypes(_ analysis: ECGAnalysis, unreliable: Bool = false, on g: CairoCanvas, x: Double, y: Double, width: Double,
                               bottom: Double) {
        let intervals = analysis.phenotypes.contains { $0.interval80 != nil }
        let rows = analysis.phenotypes.map { p -> ResultRow in
            // Ranges at the value's precision: "94–207", not "93.73–207.44".
            let format = abs(p.value) >= 100 ? "%.0f" : "%.1f"
            var value = String(format: format, p.value) + " " + p.unit
            // The calibrated 80 % interval right beside the value it qualifies.
            if let iv = p.interval80 { value += " [" + String(format: format, iv.lowerBound) + "–" + String(format: format, iv.upperBound) + "]" }
            // Whole-number ranges as stated in the bundle ("52–72").
            let range = p.referenceRange.map { r in
                r.lowerBound.rounded() == r.lowerBound && r.upperBound.rounded() == r.upperBound
                    ? String(format: "%g–%g", r.lowerBound, r.upperBound) : String(format: format + "–" + format, r.lowerBound, r.upperBound)
            } ?? "no range"
            let r = p.validationR.map { String(format: " r %.2f", $0) } ?? ""
            let style = phenotypeStyle(p, unreliable: unreliable)
            let arrow = style == .flagged ? (p.referenceRange.map { p.value < $0.lowerBound ? " ↓" : " ↑" } ?? "") : ""
            return ResultRow(label: p.label, value: value + arrow,
                             notes: unreliable ? ["unreliable · \(range)", "unreliable"]
                                 : (p.isWeak ? ["weak\(r) · \(range)", "weak · \(range)", "weak"] : [range]),
                             style: style)
        }
        let legend = analysis.phenotypes.contains(where: \.isWeak)
            ? ["weak = validation r below the bundle's bar: not a finding", "weak = low validation r: not a finding"] : []
        // With 80 % intervals the title alone cannot also name the columns: they get a header row.
        // Intervals calibrated on a disease group (the ECG suggests it) say so in the title.
        let calibrated = analysis.intervalCellLabel.map { ["CMR phenotypes — intervals calibrated for ECGs suggesting \($0)",
                                                          "CMR phenotypes (\($0)-calibrated intervals)"] } ?? []
        let titles = unreliable ? ["CMR phenotypes — \(OutOfDistributionVerdict.unreliableLabel)", "CMR phenotypes"]
            : (intervals ? calibrated + ["CMR phenotypes"] : ["CMR phenotypes (value · reference range)", "CMR phenotypes (value · range)", "CMR phenotypes"])
        drawResultList(rows, titles: titles, heads: intervals ? (["value [80 % interval]", "value [80 %]"], ["reference range", "range"]) : nil,
                       legend: legend, on: g, x: x, y: y, width: width, bottom: bottom)
    }

    /// A section of result rows. Columns by measurement: the value column is as wide as the widest
    /// value, the note column as wide as the widest note form that leaves labels at least 45 % of
    /// the width (shorter note forms otherwise); labels take what is left, through their short
    /// forms. When the rows do not fit above `bottom` (less the legend's line), the last row says
    /// how many more the manifest holds; the legend follows on its own line.
    static func drawResultList(_ rows: [ResultRow], titles: [String], heads: (value: [String], note: [String])? = nil, legend: [String],
                               on g: CairoCanvas, x: Double, y: Double, width: Double, bottom: Double) {
        sectionTitle(titles, on: g, x: x, y: y, width: width)
        func weight(_ r: ResultRow) -> CairoCanvas.Weight { r.style == .flagged ? .bold : .normal }
        let valueW = rows.map { g.textWidth($0.value, size: body, weight: weight($0)) }.max() ?? 0
        let levels = rows.map(\.notes.count).max() ?? 0
        func noteWidth(level: Int) -> Double {
            rows.map { r in r.notes.isEmpty ? 0 : g.textWidth(r.notes[min(level, r.notes.count - 1)], size: small) }.max() ?? 0
        }
        var level = 0
        while level + 1 < levels && width - noteWidth(level: level) - valueW - 2 * gap < 0.45 * width { level += 1 }
        let noteW = noteWidth(level: level)
        let valueRight = x + width - noteW - gap
        let labelWidth = valueRight - valueW - gap - x
        let listBottom = legend.isEmpty ? bottom : bottom - leading
        var yy = y + 4.2
        if let heads {
            // Column heads in small grey: the value's over the value column, the note's at the edge
            // (the first form of each that fits beside the other).
            // The header row has no labels: a head wider than its column moves left into that space.
            let noteHead = heads.note.first { g.textWidth($0, size: small) <= width / 2 } ?? heads.note[heads.note.count - 1]
            let valueHeadRight = min(valueRight, x + width - g.textWidth(noteHead, size: small) - 2 * gap)
            let valueHead = heads.value.first { g.textWidth($0, size: small) <= valueHeadRight - x } ?? heads.value[heads.value.count - 1]
            g.text(valueHead, x: valueHeadRight, y: yy, size: small, color: grey, align: .right)
            g.text(noteHead, x: x + width, y: yy, size: small, color: grey, align: .right)
            yy += leading
        }
        for (i, row) in rows.enumerated() {
            guard yy < listBottom - leading || i == rows.count - 1 else {
                g.text("+\(rows.count - i) more in manifest.json", x: x, y: yy, size: small, color: grey)
                yy += leading
                break
            }
            let w = weight(row)
            let colour = row.style == .weak ? grey : (row.style == .flagged ? warn : dark)
            let label = ClinicalLabel.fit(row.label) { g.textWidth($0, size: body, weight: w) <= labelWidth }
            g.text(label, x: x, y: yy, size: body, color: colour, weight: w)
            g.text(row.value, x: valueRight, y: yy, size: body, color: colour, weight: w, align: .right)
            if !row.notes.isEmpty {
                let note = row.notes[min(level, row.notes.count - 1)]
                g.text(note, x: x + width, y: yy, size: small, color: row.style == .weak ? grey : dark, align: .right)
            }
            yy += leading
        }
        if yy < bottom, let text = legend.first(where: { g.textWidth($0, size: small) <= width }) ?? legend.last {
            g.text(g.fitted(text, width: width, size: small), x: x, y: yy + 0.6, size: small, color: grey)
        }
    }

    static func drawCMR(sax: CineLoop, lax: CineLoop, phases: CardiacPhases, anatomy: AnatomyMode, on g: CairoCanvas, x: Double, y: Double,
                        width: Double, bottom: Double) {
        // The "generated, not acquired" mark beside the title when both fit on the line, else the title's short form.
        let markW = g.textWidth(generatedLabel, size: body, weight: .bold)
        let titleRoom = width - markW - 2 * gap
        sectionTitle(["Generated CMR", "CMR"].filter { g.textWidth($0, size: heading, weight: .bold) <= titleRoom } + ["CMR"],
                     on: g, x: x, y: y, width: width)
        g.text(g.fitted(generatedLabel, width: width, size: body, weight: .bold), x: x + width, y: y, size: body, color: warn, weight: .bold, align: .right)
        if anatomy != .pointEstimate {
            // The picture is not the printed point estimate: say so where the picture is.
            g.text(g.fitted(anatomy.caption, width: width, size: small), x: x + width, y: y + 2.6, size: small, color: warn,
                   align: .right)
        }
        let labelW = 5.0
        let side = min((width - labelW - 1.5) / 2, bottom - (y + 7.5) - 1.5) / 1
        let size = max(8, min(side, (bottom - y - 7.5 - 1.5) / 2))
        let colX = [x + labelW, x + labelW + size + 1.5]
        var yy = y + 4.4
        g.text("SAX", x: colX[0] + size / 2, y: yy, size: small, color: dark, weight: .bold, align: .centre)
        g.text("LAX", x: colX[1] + size / 2, y: yy, size: small, color: dark, weight: .bold, align: .centre)
        yy += 1.2
        for (label, frame) in [("ED", phases.endDiastoleFrame), ("ES", phases.endSystoleFrame)] {
            g.text(label, x: x, y: yy + size / 2 + 1, size: body, color: label == "ED" ? RGBColor(20, 130, 50) : warn, weight: .bold)
            for (k, loop) in [sax, lax].enumerated() where loop.frames.indices.contains(frame) {
                let img = greyImage(loop.frames[frame], width: loop.width, height: loop.height)
                g.image(img, x: colX[k], y: yy, width: size, height: size)
                g.text("generated", x: colX[k] + 0.8, y: yy + size - 0.9, size: 1.6, color: .white)
                g.text("#\(frame)", x: colX[k] + size - 0.8, y: yy + 2.2, size: 1.6, color: .white, align: .right)
            }
            yy += size + 1.5
        }
    }

    static func greyImage(_ frame: [Float], width: Int, height: Int) -> GreyImage {
        var img = GreyImage(width: width, height: height)
        for i in 0..<min(frame.count, img.pixels.count) {
            let v = frame[i].isFinite ? min(1, max(0, frame[i])) : 0
            img.pixels[i] = UInt8((Double(v) * 255 + 0.5).rounded(.down))
        }
        return img
    }
}
