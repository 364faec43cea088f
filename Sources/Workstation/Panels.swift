import CaseAnalysis
import ECGFormats
import Foundation

/// Disease heads as probability bars over their low / intermediate / high bands, with the
/// validation AUC beside each; weak heads are marked "weak" so nobody reads them as findings.
enum RiskPanel {
    static func render(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme, hits: inout HitMap) {
        if let message = WorkstationRenderer.modelPlaceholder(state) {
            grid.writeTruncated(message, x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        guard let a = state.analysis else { return }
        // Out of distribution: no bar, band or colour that could read as a finding unless asked
        // for (key u), and then all grey and labelled unreliable.
        if WithheldPanel.render(a, state: state, what: "risks", into: &grid, rect: rect, theme: theme) { return }
        let unreliable = a.withheldReason != nil
        // label bar p band AUC tag; the label gets what the bar can spare (bar ≥ 12 cells).
        let tail = 5 + 1 + 4 + 1 + 8 + 5
        let longest = a.risks.map { $0.label.unicodeScalars.count + 1 }.max() ?? 6
        // ≥ 9 cells: room for "Pericard.", "T1≥1060ms" (ClinicalLabel keeps the distinguishing part).
        let labelWidth = max(9, min(longest, rect.width - tail - 13))
        let barWidth = max(6, rect.width - labelWidth - 1 - tail)
        var y = rect.y
        if unreliable {
            grid.writeTruncated("all " + OutOfDistributionVerdict.unreliableLabel + " (not findings)", x: rect.x, y: y, width: rect.width, style: theme.weak)
        } else {
            grid.writeTruncated("head", x: rect.x, y: y, width: labelWidth, style: theme.dim)
            // The column title shrinks whole words rather than cutting one.
            let barTitle = ["probability  low│mid│high", "probability", "prob."].first { $0.unicodeScalars.count <= barWidth } ?? ""
            grid.write(barTitle, x: rect.x + labelWidth + 1, y: y, style: theme.dim, maxWidth: barWidth)
            grid.write("  p  band  AUC", x: rect.x + labelWidth + 1 + barWidth, y: y, style: theme.dim, maxWidth: rect.maxX - (rect.x + labelWidth + 1 + barWidth))
        }
        y += 1
        let camTarget = state.gradCAMOn ? state.gradCAMTarget : nil
        for (i, r) in a.risks.enumerated() {
            guard y < rect.maxY else { break }
            let rowRect = Rect(x: rect.x, y: y, width: rect.width, height: 1)
            hits.heads.append((rowRect, i))
            let grey = r.isWeak || unreliable
            let bandStyle: CellStyle = grey ? theme.weak : (r.band == .high ? theme.riskHigh : r.band == .intermediate ? theme.riskIntermediate : theme.riskLow)
            let isCAM = camTarget == r.target
            let marker = isCAM ? "▸" : ""
            grid.write(marker + ClinicalLabel.fit(r.label, width: labelWidth - marker.count), x: rect.x, y: y,
                       style: isCAM ? theme.selection : (grey ? theme.weak : theme.normal), maxWidth: labelWidth)
            // Track with band thresholds, then the fill.
            let bx = rect.x + labelWidth + 1
            let fill = Int((max(0, min(1, r.probability)) * Double(barWidth)).rounded())
            for k in 0..<barWidth {
                let start = Double(k) / Double(barWidth), end = Double(k + 1) / Double(barWidth)
                let isThreshold = r.bands.contains { $0 >= start && $0 < end }
                if k < fill {
                    grid.put(grey ? "▒" : "█", x: bx + k, y: y, style: bandStyle)
                } else {
                    grid.put(isThreshold ? "┆" : "·", x: bx + k, y: y, style: theme.bandTrack)
                }
            }
            var tx = bx + barWidth + 1
            tx += grid.write(String(format: "%4.2f ", r.probability), x: tx, y: y, style: bandStyle)
            // An unreliable output has no band: "HIGH" would read as a finding.
            let bandName = unreliable ? "  – " : (r.band == .intermediate ? "mid " : (r.band == .high ? "HIGH" : "low "))
            tx += grid.write(bandName + " ", x: tx, y: y, style: bandStyle)
            tx += grid.write(r.validationAUC.map { String(format: "%.2f", $0) } ?? " n/a", x: tx, y: y, style: grey ? theme.weak : theme.dim)
            if unreliable {
                grid.write(" unrel.", x: tx, y: y, style: theme.weak.adding(.reverse), maxWidth: rect.maxX - tx)
            } else if r.isWeak {
                grid.write(" weak", x: tx, y: y, style: theme.weak.adding(.reverse), maxWidth: rect.maxX - tx)
            }
            y += 1
        }
        if !a.subtypes.isEmpty, y + 1 < rect.maxY {
            y += 1
            // Conditional: the subtype head was trained on cardiomyopathy cases only. Short names
            // (DCM, HCM, RCM) keep every probability on screen; a second line when still too wide.
            let prefix = "if cardiomyopathy:"
            let values = a.subtypes.map { String(format: "%@ %.2f", $0.target.output.uppercased(), $0.probability) }.joined(separator: "  ")
            if prefix.count + 1 + values.count <= rect.width || y + 1 >= rect.maxY {
                grid.writeTruncated(prefix + " " + values, x: rect.x, y: y, width: rect.width, style: theme.normal)
            } else {
                grid.writeTruncated(prefix, x: rect.x, y: y, width: rect.width, style: theme.normal)
                grid.writeTruncated("  " + values, x: rect.x, y: y + 1, width: rect.width, style: theme.normal)
            }
        }
    }
}

/// The risk / phenotype panel of an out-of-distribution ECG: why its outputs are withheld, and
/// how to see them greyed (key u). Returns false when the panel should draw its rows.
enum WithheldPanel {
    static func render(_ a: ECGAnalysis, state: WorkstationState, what: String, into grid: inout CellGrid, rect: Rect, theme: Theme) -> Bool {
        guard a.withheldReason != nil else { return false }
        if state.showUnreliable {
            // The rows follow below a one-line reminder; the panel then draws them greyed.
            return false
        }
        let lines = ["\(what) withheld: out of distribution", "the ECG is unlike the model's training data",
                     "u: show them greyed (\(OutOfDistributionVerdict.unreliableLabel))"]
        // Wrapped at words to the panel's width, never cut mid-sentence at 120 columns.
        var y = rect.y
        for (k, line) in lines.enumerated() {
            for part in HelpOverlay.wrap(line, width: max(1, rect.width)) where y < rect.maxY {
                grid.writeTruncated(part, x: rect.x, y: y, width: rect.width, style: k == 0 ? theme.warning : theme.dim)
                y += 1
            }
        }
        return true
    }
}

/// CMR phenotypes: value, unit, reference range, out-of-range flag and the head's validation r.
enum PhenotypePanel {
    static func render(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        if let message = WorkstationRenderer.modelPlaceholder(state) {
            grid.writeTruncated(message, x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        guard let a = state.analysis else { return }
        if a.phenotypes.isEmpty {
            grid.writeTruncated("this model has no phenotype heads", x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        if WithheldPanel.render(a, state: state, what: "phenotypes", into: &grid, rect: rect, theme: theme) { return }
        let unreliable = a.withheldReason != nil
        // Columns by measurement: each as wide as its widest entry. When the panel is narrow the r
        // column goes first, then the flag takes its compact form ("▲", "w▲"), then the reference
        // range (the flag still says in or out of it) — the label keeps its short form, the value
        // its 80 % interval, and the flag is never cut.
        let values = a.phenotypes.map { formatValue($0.value) }
        let ranges = a.phenotypes.map { p in p.referenceRange.map { "\(formatValue($0.lowerBound))–\(formatValue($0.upperBound))" } ?? "–" }
        let intervals = a.phenotypes.contains { $0.interval80 != nil }
        let ivs = a.phenotypes.map { p in p.interval80.map { "\(formatValue($0.lowerBound))–\(formatValue($0.upperBound))" } ?? "–" }
        let ivW = intervals ? max(9, ivs.map { $0.unicodeScalars.count }.max() ?? 0) : 0
        let valueW = max(5, values.map(\.count).max() ?? 0)
        let unitW = max(4, a.phenotypes.map(\.unit.unicodeScalars.count).max() ?? 0)
        let rangeW = max(5, ranges.map { $0.unicodeScalars.count }.max() ?? 0)
        let hasR = a.phenotypes.contains { $0.validationR != nil }
        let labelMinimum = 11   // "WT seg 16", "LV mean WT" and a gap
        struct Columns { var r: Bool; var compactFlag: Bool; var range: Bool }
        func rest(_ c: Columns) -> Int {
            valueW + 1 + (intervals ? ivW + 1 : 0) + unitW + (c.range ? 1 + rangeW : 0) + 1 + (c.compactFlag ? 2 : 6) + (c.r ? 5 : 0)
        }
        let options = [Columns(r: hasR, compactFlag: false, range: true), Columns(r: false, compactFlag: false, range: true),
                       Columns(r: false, compactFlag: true, range: true), Columns(r: false, compactFlag: true, range: false)]
        let columns = options.first { labelMinimum + rest($0) <= rect.width } ?? options[options.count - 1]
        let showR = columns.r, compactFlag = columns.compactFlag
        let labelWidth = min(26, max(labelMinimum, rect.width - rest(columns)))
        if unreliable {
            let note = ["all " + OutOfDistributionVerdict.unreliableLabel + " (not findings)", "all " + OutOfDistributionVerdict.unreliableLabel, "unreliable"]
            grid.write(note.first { $0.unicodeScalars.count <= rect.width } ?? "unreliable", x: rect.x, y: rect.y, style: theme.weak, maxWidth: rect.width)
        } else {
            grid.write(["phenotype", "pheno.", ""].first { $0.count <= labelWidth } ?? "", x: rect.x, y: rect.y, style: theme.dim, maxWidth: labelWidth)
            var header = "value".padded(valueW, right: true) + " "
            if intervals { header += "80 % int.".padded(ivW) + " " }
            header += "unit".padded(unitW)
            if columns.range { header += " " + (rangeW >= 9 ? "reference" : "range").padded(rangeW) }
            header += " " + (compactFlag ? "  " : "flag  ")
            if showR { header += "    r" }
            grid.write(header, x: rect.x + labelWidth, y: rect.y, style: theme.dim, maxWidth: rect.width - labelWidth)
        }
        let rows = rect.height - 1
        let scroll = max(0, min(state.scroll[.phenotypes] ?? 0, max(0, a.phenotypes.count - rows)))
        for (k, p) in a.phenotypes.enumerated().dropFirst(scroll).prefix(max(0, rows)) {
            let y = rect.y + 1 + (k - scroll)
            // Low validation r: styled like a weak risk head, never as a finding.
            let style = p.isWeak || unreliable ? theme.weak : (p.isOutOfRange ? theme.outOfRange : theme.normal)
            grid.write(ClinicalLabel.fit(p.label, width: labelWidth - 1), x: rect.x, y: y, style: style, maxWidth: labelWidth)
            var line = values[k].padded(valueW, right: true) + " "
            // The calibrated 80 % interval sits right beside the value it qualifies.
            if intervals { line += ivs[k].padded(ivW) + " " }
            line += p.unit.padded(unitW)
            if columns.range { line += " " + ranges[k].padded(rangeW) }
            let low = p.referenceRange.map { p.value < $0.lowerBound } ?? false
            var flag: String
            if compactFlag {
                flag = p.isOutOfRange ? (low ? "▼" : "▲") : ""
                if p.isWeak { flag = "w" + flag }
            } else {
                flag = p.isOutOfRange ? (low ? "▼ LOW" : "▲ HIGH") : "ok"
                // A weak output is never a finding: its flag column says so (keeping the direction).
                if p.isWeak { flag = p.isOutOfRange ? (low ? "weak▼" : "weak▲") : "weak" }
            }
            // Withheld (out of distribution): no direction, no finding.
            if unreliable { flag = compactFlag ? "u" : "unrel" }
            line += " " + flag.padded(compactFlag ? 2 : 6)
            if showR { line += p.validationR.map { String(format: " %4.2f", $0) } ?? "     " }
            grid.write(line, x: rect.x + labelWidth, y: y, style: style, maxWidth: rect.width - labelWidth)
        }
        var taken = 0
        if a.phenotypes.count > rows, rows > 0 {
            let position = " \(scroll + 1)–\(min(a.phenotypes.count, scroll + rows))/\(a.phenotypes.count) J/K "
            grid.writeRight(position, rightEdge: rect.maxX, y: rect.maxY, style: theme.dim)
            taken = position.unicodeScalars.count + 1
        }
        // Intervals calibrated on a disease group say so on the frame, beside the scroll position.
        if intervals, !unreliable, let group = a.intervalCellLabel {
            let forms = [" 80 % intervals calibrated for ECGs suggesting \(group) ", " intervals: \(group)-calibrated ", " \(group) intervals "]
            if let note = forms.first(where: { $0.unicodeScalars.count <= rect.width - taken }) {
                grid.write(note, x: rect.x, y: rect.maxY, style: theme.dim, maxWidth: rect.width - taken)
            }
        }
    }

    static func formatValue(_ v: Double) -> String {
        let a = abs(v)
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }
}

/// The Grad-CAM head in use and the most relevant (lead, time window) segments.
enum GradCAMPanel {
    static func render(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme) {
        if let message = WorkstationRenderer.modelPlaceholder(state) {
            grid.writeTruncated(message, x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        guard state.gradCAMOn else {
            // Wrapped, not cut: the panel is narrow beside the traces at 120×40.
            for (k, line) in HelpOverlay.wrap("off — g shows where on the traces a head looks; G / B or :head NAME choose the head",
                                              width: rect.width).prefix(max(1, rect.height)).enumerated() {
                grid.write(line, x: rect.x, y: rect.y + k, style: theme.dim, maxWidth: rect.width)
            }
            return
        }
        guard let target = state.gradCAMTarget else {
            for (k, line) in HelpOverlay.wrap(WorkstationAction.noGradCAMHint, width: rect.width).prefix(max(1, rect.height)).enumerated() {
                grid.write(line, x: rect.x, y: rect.y + k, style: theme.dim, maxWidth: rect.width)
            }
            return
        }
        let label = state.analysis?.risks.first { $0.target == target }?.label ?? target.output
        grid.writeTruncated("head: \(label) (\(target))", x: rect.x, y: rect.y, width: rect.width, style: theme.title)
        guard let map = state.gradCAM, map.target == target else {
            grid.writeTruncated("computing", x: rect.x, y: rect.y + 1, width: rect.width, style: theme.dim)
            return
        }
        if rect.height >= 2 {
            var x = rect.x + legend(into: &grid, x: rect.x, y: rect.y + 1, width: rect.width, theme: theme)
            // A beat-aware model's rhythm (RR) token has no place on the traces: its weight is said here.
            if let r = map.rhythmRelevance, x + 14 <= rect.maxX {
                x += grid.write(String(format: " · rhythm %.2f", r), x: x, y: rect.y + 1, style: theme.dim, maxWidth: rect.maxX - x)
            }
        }
        let segments = map.topSegments(count: max(0, rect.height - 2))
        for (k, s) in segments.enumerated() {
            let t0 = s.startSeconds + state.gradCAMOffsetSeconds, t1 = s.endSeconds + state.gradCAMOffsetSeconds
            let text = "\(k + 1). " + s.lead.description.padded(4) + String(format: " %5.2f–%5.2f s  %.2f ", t0, t1, s.weight)
            let x = grid.write(text, x: rect.x, y: rect.y + 2 + k, style: theme.normal, maxWidth: rect.width)
            let bar = Int((Double(s.weight) * Double(max(0, rect.width - x))).rounded())
            grid.fill(Rect(x: rect.x + x, y: rect.y + 2 + k, width: min(bar, rect.width - x), height: 1), "▬", style: theme.gradCAM(s.weight).with(foreground: theme.isMonochrome ? .default : .rgb(255, 160, 60)).with(background: .default))
        }
    }

    /// What the tint on the traces means: "tint 0 ▕████████▏ 1 relevance", the swatches in the
    /// colours drawn (monochrome: bold marks weights ≥ 0.5).
    @discardableResult
    static func legend(into grid: inout CellGrid, x: Int, y: Int, width: Int, theme: Theme) -> Int {
        if theme.isMonochrome {
            return grid.writeTruncated("tint: bold trace = relevance ≥ 0.5", x: x, y: y, width: width, style: theme.dim)
        }
        var cx = x + grid.write("tint 0 ", x: x, y: y, style: theme.dim, maxWidth: width)
        let steps = 8
        for k in 0..<steps where cx < x + width {
            grid.put(" ", x: cx, y: y, style: theme.gradCAM(Float(k) / Float(steps - 1)))
            cx += 1
        }
        cx += grid.write(" 1 relevance (lighter on grid lines)", x: cx, y: y, style: theme.dim, maxWidth: max(0, x + width - cx))
        return cx - x
    }
}

/// Generated SAX and LAX cines: inline images on terminals that confirmed kitty graphics or sixel
/// (`inlineImages`), else half blocks (▀: foreground = upper pixel, background = lower).
enum CMRPane {
    static func render(_ state: WorkstationState, into grid: inout CellGrid, rect: Rect, theme: Theme, inlineImages: Bool = false) {
        if let message = WorkstationRenderer.modelPlaceholder(state) {
            grid.writeTruncated(message, x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        guard let cmr = state.cmr else {
            grid.writeTruncated("generating SAX and LAX cines", x: rect.x, y: rect.y, width: rect.width, style: theme.dim)
            return
        }
        let frameCount = max(1, cmr.sax.frames.count)
        let frame = state.cmrFrame % frameCount
        let phase = cmr.sax.phases.indices.contains(frame) ? cmr.sax.phases[frame] : 0
        // A heart drawn within the intervals is not the printed estimate: the header says so, in warning style.
        let range = cmr.anatomy == .withinInterval80
        // The longest form that fits the pane; "generated" is in every form.
        let play = state.cmrPlaying ? "▶" : "⏸"
        let forms = [String(format: "%@ frame %d/%d phase %.2f seed %llu · generated, not acquired", play, frame + 1, frameCount, phase, cmr.seed)
                        + (range ? " · anatomy drawn within the 80 % intervals" : ""),
                     String(format: "%@ frame %d/%d seed %llu · generated, not acquired", play, frame + 1, frameCount, cmr.seed)
                        + (range ? " · within 80 % intervals" : ""),
                     String(format: "%@ %d/%d · generated, not acquired", play, frame + 1, frameCount) + (range ? " · 80 % int." : ""),
                     String(format: "%@ %d/%d · generated", play, frame + 1, frameCount) + (range ? " · 80 %" : "")]
        grid.writeTruncated(forms.first { $0.unicodeScalars.count <= rect.width } ?? forms[forms.count - 1],
                            x: rect.x, y: rect.y, width: rect.width, style: range ? theme.outOfRange : theme.dim)
        // What the model's cines were measured to carry, wrapped on the last rows (when there is room).
        var imageHeight = rect.height - 2
        if let info = state.generatorInformativeness, rect.height >= 8 {
            let lines = Array(HelpOverlay.wrap(info, width: rect.width).prefix(max(1, (rect.height - 6) / 2)))
            imageHeight -= lines.count
            for (k, line) in lines.enumerated() {
                grid.write(line, x: rect.x, y: rect.maxY - lines.count + k, style: theme.dim, maxWidth: rect.width)
            }
        }
        let imageArea = Rect(x: rect.x, y: rect.y + 2, width: rect.width, height: imageHeight)
        guard imageArea.height >= 3, imageArea.width >= 10 else { return }
        let each = (imageArea.width - 2) / 2
        let side = min(each, imageArea.height * 2)  // square pixels: cells are 1 px wide, 2 px tall
        for (k, loop) in [cmr.sax, cmr.lax].enumerated() {
            let x = imageArea.x + k * (each + 2)
            grid.write(loop.view == .sax ? "SAX" : "LAX 4ch", x: x, y: rect.y + 1, style: theme.title)
            guard !loop.frames.isEmpty else { continue }
            let pixels = loop.frames[frame % loop.frames.count]
            if inlineImages {
                // Same cells the half blocks would cover (cells are about twice as tall as wide),
                // left blank so curses never draws over or under the picture.
                let cellRect = Rect(x: x, y: imageArea.y, width: side, height: side / 2)
                let placement = ImagePlacement(slot: k + 1, rect: cellRect, width: loop.width, height: loop.height, grey: pixels)
                guard placement.isValid else { continue }
                grid.fill(cellRect, style: theme.normal)
                grid.images.append(placement)
            } else {
                drawHalfBlocks(pixels, width: loop.width, height: loop.height, into: &grid, x: x, y: imageArea.y, cells: side, theme: theme)
            }
        }
    }

    /// Nearest-neighbour resample of a grey image into `cells`×`cells/2` half-block cells.
    static func drawHalfBlocks(_ pixels: [Float], width: Int, height: Int, into grid: inout CellGrid, x: Int, y: Int, cells: Int, theme: Theme) {
        guard width > 0, height > 0, cells > 0, pixels.count >= width * height else { return }
        let rows = cells / 2
        func sample(_ px: Int, _ py: Int) -> Float {
            let sx = min(width - 1, px * width / cells), sy = min(height - 1, py * height / (rows * 2))
            return pixels[sy * width + sx]
        }
        let ramp: [Unicode.Scalar] = [" ", "░", "▒", "▓", "█"]
        for cy in 0..<rows {
            for cx in 0..<cells {
                let top = sample(cx, cy * 2), bottom = sample(cx, cy * 2 + 1)
                if theme.isMonochrome {
                    // No colour: a 5-step shade ramp of the mean keeps the anatomy readable.
                    let level = Int(((top + bottom) / 2 * 4.99).rounded(.down))
                    grid.put(ramp[max(0, min(4, level))], x: x + cx, y: y + cy, style: theme.normal)
                } else {
                    grid.put("▀", x: x + cx, y: y + cy, style: CellStyle(foreground: .grey(top), background: .grey(bottom)))
                }
            }
        }
    }
}

extension String {
    /// Pads with spaces to `width` columns (left-aligned, or right-aligned for numbers).
    func padded(_ width: Int, right: Bool = false) -> String {
        let n = unicodeScalars.count
        guard n < width else { return self }
        let pad = String(repeating: " ", count: width - n)
        return right ? pad + self : self + pad
    }
}
