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
    public static func render<A>(_ keyMap: KeyMap<A>, title: String = "Keys  (Esc or ? closes)", into grid: inout CellGrid, area: Rect, theme: Theme) {
        guard area.width >= 20, area.height >= 5 else { return }
        grid.fill(area, style: theme.normal)
        grid.box(area, title: title, style: theme.border, titleStyle: theme.title)
        let inner = area.inset(dx: 2, dy: 1)
        // Lines: section headings then "keys  summary".
        var lines: [(String, String, Bool)] = []
        for section in keyMap.sections {
            lines.append((section.name, "", true))
            for b in section.bindings { lines.append((b.keyLabel, b.summary, false)) }
        }
        let keyWidth = min(16, (lines.filter { !$0.2 }.map { $0.0.unicodeScalars.count }.max() ?? 8) + 1)
        let columnsNeeded = max(1, Int((Double(lines.count) / Double(max(1, inner.height))).rounded(.up)))
        let colWidth = max(20, inner.width / max(1, columnsNeeded))
        var col = 0, row = 0
        for (keys, summary, isHeading) in lines {
            if row >= inner.height { row = 0; col += 1 }
            let x = inner.x + col * colWidth
            if x + 10 > inner.maxX { break }
            let y = inner.y + row
            let w = min(colWidth - 1, inner.maxX - x)
            if isHeading {
                grid.writeTruncated(keys, x: x, y: y, width: w, style: theme.title)
            } else {
                grid.writeTruncated(keys, x: x, y: y, width: min(keyWidth, w), style: theme.warning)
                grid.writeTruncated(summary, x: x + keyWidth, y: y, width: w - keyWidth, style: theme.normal)
            }
            row += 1
        }
    }
}
