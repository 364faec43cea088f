/// The workstation's styles by role. Views take their styles from a Theme so NO_COLOR and
/// low-colour terminals are handled in one place.
public struct Theme: Sendable {
    public var normal: CellStyle
    public var dim: CellStyle
    public var header: CellStyle
    public var headerLabel: CellStyle
    /// The persistent "SYNTHETIC DEMO MODEL" banner.
    public var banner: CellStyle
    public var border: CellStyle
    public var title: CellStyle
    public var selection: CellStyle
    public var status: CellStyle
    public var error: CellStyle
    public var warning: CellStyle
    public var commandLine: CellStyle
    // ECG paper.
    public var paper: CellStyle
    public var gridMinor: CellStyle
    public var gridMajor: CellStyle
    public var trace: CellStyle
    public var traceSelected: CellStyle
    public var leadLabel: CellStyle
    public var calibration: CellStyle
    public var caliper: CellStyle
    // Risk bands and flags.
    public var riskLow: CellStyle
    public var riskIntermediate: CellStyle
    public var riskHigh: CellStyle
    public var bandTrack: CellStyle
    public var weak: CellStyle
    public var outOfRange: CellStyle
    /// True when colours are off: views then add textual cues (e.g. "*" marks, "[" brackets).
    public var isMonochrome: Bool

    /// Grad-CAM intensity 0…1 → background style for trace cells.
    public func gradCAM(_ weight: Float) -> CellStyle {
        if isMonochrome { return weight >= 0.5 ? trace.adding(.bold) : trace }
        let w = max(0, min(1, weight))
        // Dark paper → warm orange/red as the map rises.
        let r = UInt8(40 + 200 * w), g = UInt8(12 + 90 * w * (1 - w) * 2), b = UInt8(16 + 10 * (1 - w))
        return trace.with(background: .rgb(r, g, b))
    }

    /// The Grad-CAM tint where a major (5 mm) grid line runs: lighter by a fixed step.
    public func gradCAMOnGridLine(_ weight: Float) -> CellStyle {
        if isMonochrome { return gradCAM(weight) }
        let w = max(0, min(1, weight))
        let r = UInt8(min(255, 40 + 200 * w + 45)), g = UInt8(12 + 90 * w * (1 - w) * 2 + 30), b = UInt8(16 + 10 * (1 - w) + 30)
        return trace.with(background: .rgb(r, g, b))
    }

    public static let standard: Theme = {
        let paperBG = TerminalColor.rgb(28, 10, 12)
        return Theme(
            normal: CellStyle(),
            dim: CellStyle(foreground: .ansi(8)),
            header: CellStyle(foreground: .ansi(15), background: .rgb(20, 40, 70), attributes: [.bold]),
            headerLabel: CellStyle(foreground: .rgb(150, 180, 220), background: .rgb(20, 40, 70)),
            banner: CellStyle(foreground: .ansi(0), background: .ansi(11), attributes: [.bold]),
            border: CellStyle(foreground: .rgb(90, 90, 110)),
            title: CellStyle(foreground: .ansi(14), attributes: [.bold]),
            selection: CellStyle(foreground: .ansi(0), background: .ansi(14)),
            status: CellStyle(foreground: .ansi(15), background: .rgb(40, 40, 50)),
            error: CellStyle(foreground: .ansi(15), background: .ansi(1), attributes: [.bold]),
            warning: CellStyle(foreground: .ansi(11), attributes: [.bold]),
            commandLine: CellStyle(foreground: .ansi(15), background: .ansi(0)),
            paper: CellStyle(foreground: .rgb(90, 40, 45), background: paperBG),
            gridMinor: CellStyle(foreground: .rgb(70, 30, 34), background: paperBG),
            // Dark enough to stay calm in 24-bit colour, bright enough to land on 52 (dark red) in 256 colours.
            gridMajor: CellStyle(foreground: .rgb(140, 60, 65), background: .rgb(60, 18, 24)),
            trace: CellStyle(foreground: .rgb(235, 235, 225), background: paperBG),
            traceSelected: CellStyle(foreground: .rgb(120, 255, 160), background: paperBG, attributes: [.bold]),
            leadLabel: CellStyle(foreground: .rgb(255, 210, 120), background: paperBG, attributes: [.bold]),
            calibration: CellStyle(foreground: .rgb(160, 160, 255), background: paperBG),
            caliper: CellStyle(foreground: .ansi(14), background: paperBG, attributes: [.bold]),
            riskLow: CellStyle(foreground: .ansi(10)),
            riskIntermediate: CellStyle(foreground: .ansi(11)),
            riskHigh: CellStyle(foreground: .ansi(9), attributes: [.bold]),
            bandTrack: CellStyle(foreground: .ansi(8)),
            weak: CellStyle(foreground: .ansi(13), attributes: [.dim]),
            outOfRange: CellStyle(foreground: .ansi(9), attributes: [.bold]),
            isMonochrome: false)
    }()

    /// NO_COLOR: attributes only (bold/reverse/underline still carry meaning).
    public static let monochrome: Theme = {
        let p = CellStyle()
        return Theme(
            normal: p, dim: p, header: p.adding(.bold), headerLabel: p, banner: p.adding([.reverse, .bold]),
            border: p, title: p.adding(.bold), selection: p.adding(.reverse), status: p.adding(.reverse),
            error: p.adding([.reverse, .bold]), warning: p.adding(.bold), commandLine: p,
            paper: p, gridMinor: p, gridMajor: p, trace: p, traceSelected: p.adding(.bold), leadLabel: p.adding(.bold),
            calibration: p, caliper: p.adding(.bold), riskLow: p, riskIntermediate: p, riskHigh: p.adding(.bold),
            bandTrack: p, weak: p.adding(.dim), outOfRange: p.adding(.bold), isMonochrome: true)
    }()

    /// `NO_COLOR` (any non-empty value, see no-color.org) selects the monochrome theme.
    public static func fromEnvironment(_ environment: [String: String]) -> Theme {
        if let v = environment["NO_COLOR"], !v.isEmpty { return .monochrome }
        return .standard
    }
}

/// The `?` overlay: every binding of a key map, grouped by section, in columns that fit the area.
public enum HelpOverlay {
    /// Narrowest column: keys (≤ 10 cells) and a summary wide enough to wrap into a few lines.
    static let minimumColumnWidth = 34

    /// Draws page `page` of the key map (sections, then "keys  summary" with the summary wrapped at
    /// word boundaries inside its column — never cut) and returns the number of pages. Columns are
    /// filled top to bottom; a binding never splits across columns; what does not fit in the
    /// area's columns goes to the next page (the bottom border says "page 1/2 · J/K").
    @discardableResult
    public static func render<A>(_ keyMap: KeyMap<A>, title: String = "Keys  (Esc or ? closes)", page: Int = 0, into grid: inout CellGrid,
                                 area: Rect, theme: Theme) -> Int {
        guard area.width >= 20, area.height >= 5 else { return 1 }
        grid.fill(area, style: theme.normal)
        grid.box(area, title: title, style: theme.border, titleStyle: theme.title)
        let inner = area.inset(dx: 2, dy: 1)
        let keyWidth = min(12, (keyMap.sections.flatMap(\.bindings).map { $0.keyLabel.unicodeScalars.count }.max() ?? 8) + 1)
        typealias Line = (String, String, Bool)
        /// (page, column, row, line) of every line with `columns` columns.
        func layout(columns: Int) -> (placed: [(page: Int, col: Int, row: Int, line: Line)], pages: Int, colWidth: Int, summaryWidth: Int) {
            let colWidth = (inner.width + 1) / columns
            let summaryWidth = max(1, colWidth - 1 - keyWidth)
            // Blocks: a heading (kept with its first binding) or one binding with its wrapped summary.
            var blocks: [[Line]] = []
            for section in keyMap.sections {
                for (i, b) in section.bindings.enumerated() {
                    var block: [Line] = i == 0 ? [(section.name, "", true)] : []
                    for (k, line) in wrap(b.summary, width: summaryWidth).enumerated() { block.append((k == 0 ? b.keyLabel : "", line, false)) }
                    blocks.append(block)
                }
            }
            var placed: [(page: Int, col: Int, row: Int, line: Line)] = []
            var pg = 0, col = 0, row = 0
            for block in blocks {
                if row > 0, row + block.count > inner.height {
                    row = 0; col += 1
                    if col >= columns { col = 0; pg += 1 }
                }
                for line in block.prefix(inner.height) { placed.append((pg, col, row, line)); row += 1 }
            }
            return (placed, pg + 1, colWidth, summaryWidth)
        }
        // The fewest columns that hold everything on one page (widest summaries, least wrapping);
        // else as many columns as fit, over pages.
        let most = max(1, min(3, (inner.width + 1) / minimumColumnWidth))
        let chosen = (1...most).lazy.map { layout(columns: $0) }.first { $0.pages == 1 } ?? layout(columns: most)
        let placed = chosen.placed, colWidth = chosen.colWidth, summaryWidth = chosen.summaryWidth
        let pg = chosen.pages - 1
        let pages = pg + 1
        let shown = min(max(0, page), pages - 1)
        for p in placed where p.page == shown {
            let x = inner.x + p.col * colWidth, y = inner.y + p.row
            let (keys, summary, isHeading) = p.line
            if isHeading {
                grid.write(keys, x: x, y: y, style: theme.title, maxWidth: colWidth - 1)
            } else {
                if !keys.isEmpty { grid.write(keys, x: x, y: y, style: theme.warning, maxWidth: keyWidth) }
                grid.write(summary, x: x + keyWidth, y: y, style: theme.normal, maxWidth: summaryWidth)
            }
        }
        if pages > 1 {
            grid.writeRight(" page \(shown + 1)/\(pages) · J/K ", rightEdge: area.maxX - 1, y: area.maxY - 1, style: theme.title)
        }
        return pages
    }

    /// Word wrap at spaces; a word longer than `width` is split (the only place a word breaks).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
            var w = word
            while w.unicodeScalars.count > width {
                if !current.isEmpty { lines.append(current); current = "" }
                let head = String(String.UnicodeScalarView(w.unicodeScalars.prefix(width)))
                lines.append(head); w = String(String.UnicodeScalarView(w.unicodeScalars.dropFirst(width)))
            }
            if current.isEmpty { current = w } else if current.unicodeScalars.count + 1 + w.unicodeScalars.count <= width { current += " " + w }
            else { lines.append(current); current = w }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}
