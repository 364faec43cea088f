import ECGFormats
import Foundation
import SignalKit

/// The zoomed representative beat of the selected lead (key `m`), with ecg2cmr's onset/offset
/// marks and the acquiring device's beside them, so a reader who sees "QT differs by 24 ms" in
/// the header can look at the T wave and judge which end is right.
///
/// Devices store intervals, not the instants on their own median beat (GE MUSE, SCP section 7
/// durations, DICOM and aECG measurement items), so the device's marks are its intervals laid
/// from ecg2cmr's QRS onset: P onset = QRS onset − PR, QRS end = QRS onset + QRS, T end = QRS
/// onset + QT. The QRS onset is shared; every difference the reader sees is an interval's.
enum MedianBeatView {
    /// One mark on the time axis.
    struct Mark: Equatable {
        var ms: Double
        var letter: Character
        var name: String
    }

    static let ourGlyph: Unicode.Scalar = "│"
    static let deviceGlyph: Unicode.Scalar = "┊"

    /// ecg2cmr's fiducials (ms from R).
    static func ourMarks(_ f: BeatFiducials) -> [Mark] {
        var out: [Mark] = []
        if let p = f.pOnsetMs { out.append(Mark(ms: p, letter: "P", name: "P onset")) }
        out.append(Mark(ms: f.qrsOnsetMs, letter: "Q", name: "QRS onset"))
        out.append(Mark(ms: f.qrsOffsetMs, letter: "J", name: "QRS end"))
        if let t = f.tOffsetMs { out.append(Mark(ms: t, letter: "T", name: "T end")) }
        return out
    }

    /// The device's intervals laid from ecg2cmr's QRS onset (see the type's comment).
    static func deviceMarks(_ d: IntervalMeasurements, qrsOnsetMs: Double) -> [Mark] {
        var out: [Mark] = []
        if let pr = d.prMs { out.append(Mark(ms: qrsOnsetMs - pr, letter: "P", name: "P onset")) }
        if let qrs = d.qrsMs { out.append(Mark(ms: qrsOnsetMs + qrs, letter: "J", name: "QRS end")) }
        if let qt = d.qtMs { out.append(Mark(ms: qrsOnsetMs + qt, letter: "T", name: "T end")) }
        return out
    }

    static func render(_ c: LoadedCase, lead: LeadID, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        grid.fill(rect, style: theme.normal)
        guard rect.width >= 20, rect.height >= 6 else { return }
        guard let m = c.measurements, let beats = m.beats, let f = m.fiducials else {
            let why = c.measurements == nil ? "no measurements for this record" : "the measurer kept no median beat"
            grid.writeTruncated("Median beat: \(why) — m or Esc: back", x: rect.x + 1, y: rect.y, width: rect.width - 2, style: theme.warning)
            return
        }
        // The selected lead's beat; a lead the measurer did not use (derived, unusable) falls back
        // to the detection lead, and the title says which one is shown.
        let name = beats.leads.contains(lead.description) ? lead.description : m.detectionLead
        guard let beat = beats.beat(name) ?? beats.millivolts.first else { return }
        let shown = beats.beat(name) != nil ? name : (beats.leads.first ?? "?")
        let title = fitting(["Median beat \(shown) · \(m.beatCount) beats, 0.5–40 Hz · P, Q, J, T = P onset, QRS onset, QRS end, T end · m/Esc back",
                             "Median beat \(shown) · \(m.beatCount) beats · P/Q/J/T: P on, QRS on, QRS end, T end · m/Esc back",
                             "Median beat \(shown) · P/Q/J/T marks · Esc back"], width: rect.width - 2)
        grid.writeTruncated(title, x: rect.x + 1, y: rect.y, width: rect.width - 2, style: theme.title)

        let device = c.record.metadata.deviceMeasurements
        let legendRows = device == nil ? 2 : 3
        let plot = Rect(x: rect.x + 1, y: rect.y + 2, width: rect.width - 2, height: rect.height - 3 - legendRows - 1)
        guard plot.height >= 2 else { return }
        let ours = ourMarks(f)
        let theirs = device.map { deviceMarks($0, qrsOnsetMs: f.qrsOnsetMs) } ?? []

        var canvas = BrailleCanvas(widthCells: plot.width, heightCells: plot.height)
        let firstMs = beats.milliseconds(at: 0), lastMs = beats.milliseconds(at: beat.count - 1)
        let spanMs = max(lastMs - firstMs, 1)
        func column(_ ms: Double) -> Int? {
            let x = Int(((ms - firstMs) / spanMs * Double(plot.width - 1)).rounded())
            return (0..<plot.width).contains(x) ? x : nil
        }
        // Vertical: the beat's own range with a margin (its amplitude is printed, so the scale
        // need not be the paper's).
        let lo = Double(beat.min() ?? 0), hi = Double(beat.max() ?? 0)
        let range = max(hi - lo, 0.05)
        let dotsHigh = Double(canvas.heightDots - 1)
        func yDot(_ mv: Float) -> Int { Int((dotsHigh - (Double(mv) - lo) / range * dotsHigh).rounded()) }
        var previous: (Int, Int)? = nil
        for (i, v) in beat.enumerated() where v.isFinite {
            let x = Int((Double(i) / Double(max(beat.count - 1, 1)) * Double(canvas.widthDots - 1)).rounded())
            let y = yDot(v)
            if let (px, py) = previous { canvas.line(x0: px, y0: py, x1: x, y1: y) } else { canvas.set(x: x, y: y) }
            previous = (x, y)
        }
        // Marks first, the trace over them: where a mark crosses the trace the trace is what shows.
        let disagreeing = Set(device.map { m.summary.disagreements(with: $0).map(\.key) } ?? [])
        let deviceKey: [Character: String] = ["P": "prMs", "J": "qrsMs", "T": "qtMs"]
        for mark in theirs {
            guard let x = column(mark.ms) else { continue }
            let style = disagreeing.contains(deviceKey[mark.letter] ?? "") ? theme.warning : theme.dim
            for y in plot.y..<plot.maxY { grid.put(deviceGlyph, x: plot.x + x, y: y, style: style) }
            grid.put(Unicode.Scalar(String(mark.letter)) ?? "?", x: plot.x + x, y: plot.maxY, style: style)
        }
        for mark in ours {
            guard let x = column(mark.ms) else { continue }
            for y in plot.y..<plot.maxY { grid.put(ourGlyph, x: plot.x + x, y: y, style: theme.caliper) }
            grid.put(Unicode.Scalar(String(mark.letter)) ?? "?", x: plot.x + x, y: plot.y - 1, style: theme.caliper)
        }
        canvas.draw(into: &grid, x: plot.x, y: plot.y) { _, _, _ in theme.traceSelected }

        // Legend: what each set says, in ms from R and as intervals.
        func signed(_ v: Double) -> String { String(format: "%+.0f", v) }
        let ourText = fitting(["│ ecg2cmr " + ours.map { "\($0.name) \(signed($0.ms))" }.joined(separator: "  ") + " ms from R · " + intervals(m.summary),
                               "│ ecg2cmr " + ours.map { "\($0.letter) \(signed($0.ms))" }.joined(separator: " ") + " ms · " + intervals(m.summary),
                               "│ ecg2cmr " + intervals(m.summary)], width: rect.width - 2)
        var y = plot.maxY + 1
        grid.writeTruncated(ourText, x: rect.x + 1, y: y, width: rect.width - 2, style: theme.caliper)
        y += 1
        if let device {
            let who = c.record.metadata.device.map { TerminalText.sanitize($0) } ?? "device"
            grid.writeTruncated(fitting(["┊ \(who) " + intervals(device) + " · laid from ecg2cmr's QRS onset",
                                         "┊ \(who) " + intervals(device) + " · from our QRS onset", "┊ \(who) " + intervals(device)],
                                        width: rect.width - 2),
                                x: rect.x + 1, y: y, width: rect.width - 2, style: theme.dim)
            y += 1
            let notes = m.summary.disagreements(with: device)
            let text = notes.isEmpty ? "device and ecg2cmr agree within tolerance" : notes.map(\.text).joined(separator: " · ")
            grid.writeTruncated(text, x: rect.x + 1, y: y, width: rect.width - 2, style: notes.isEmpty ? theme.dim : theme.warning)
        } else {
            grid.writeTruncated("this file carries no device measurements", x: rect.x + 1, y: y, width: rect.width - 2, style: theme.dim)
        }
    }

    /// The first text that fits `width` columns (the last one, cut, when none does).
    static func fitting(_ forms: [String], width: Int) -> String {
        forms.first { $0.count <= width } ?? forms.last ?? ""
    }

    static func intervals(_ m: IntervalMeasurements) -> String {
        let parts: [(String, Double?)] = [("PR", m.prMs), ("QRS", m.qrsMs), ("QT", m.qtMs)]
        return parts.map { "\($0.0) " + ($0.1.map { String(format: "%.0f", $0) } ?? "–") }.joined(separator: "  ") + " ms"
    }
}
