import ECGFormats
import Foundation

// Screen.swift — the rendering contract every Workstation view (and reader mode) draws through.
//
// How to draw a view (for everyone writing views, including Reader*.swift):
//
//   var frame = CellGrid(width: screen.size.width, height: screen.size.height)
//   frame.write("Case 3 of 40", x: 2, y: 0, style: theme.header)          // clipped at the edge
//   frame.fill(Rect(x: 0, y: 1, width: frame.width, height: 1), style: theme.banner)
//   let area = Rect(x: 0, y: 2, width: 60, height: 20)
//   frame.box(area, title: "Traces", style: theme.border)                 // single-line frame
//   screen.present(frame)                                                  // sends only changed cells
//
// * `CellGrid` is a plain value: a width × height array of `Cell` (one Unicode scalar + `CellStyle`).
//   Every glyph we use is one column wide (ASCII, box drawing, braille U+28xx, half blocks U+2580).
// * `CellStyle` carries foreground/background `TerminalColor` (default, 16-colour, 256-index or RGB)
//   and `TextAttributes` (bold, dim, reverse, underline). Views always ask for the colour they mean;
//   the terminal screen degrades RGB → 256 → 16 → none (NO_COLOR) itself. Pick styles from `Theme`
//   (`Theme.standard`, or `Theme.monochrome` when NO_COLOR is set) instead of hard-coding colours.
// * `Screen` is the protocol: `size`, `capabilities`, `present(_:)` and `nextEvent(timeoutMilliseconds:)`.
//   `GridScreen` is the in-memory implementation tests use (queue events with `send`, read
//   `lastFrame.text`); `TerminalScreen` (TerminalScreen.swift) is the ncursesw one. Only one thread
//   may call a Screen.
// * `Key` / `InputEvent` are the decoded inputs. `KeyMap<Action>` is the single table of bindings;
//   the help overlay (`HelpOverlay`) and docs are generated from it, so a key exists only if it is
//   in a KeyMap.
// * Pixels (CMR frames on kitty / sixel terminals) are a side channel: a view leaves the cells
//   blank and appends an `ImagePlacement` to `frame.images` (InlineImages.swift). Only do so when
//   `screen.capabilities.imageProtocol` is set; otherwise draw half blocks.

/// Width × height of a screen or grid in terminal cells.
public struct GridSize: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = max(0, width); self.height = max(0, height) }
    public var description: String { "\(width)×\(height)" }
}

/// A rectangle of cells; origin top-left, x to the right, y down.
public struct Rect: Hashable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    public func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }
    public func intersects(_ o: Rect) -> Bool { !isEmpty && !o.isEmpty && x < o.maxX && o.x < maxX && y < o.maxY && o.y < maxY }
    /// Shrinks by `dx` columns on each side and `dy` rows at top and bottom.
    public func inset(dx: Int, dy: Int) -> Rect { Rect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy) }
    /// Splits off the top `rows` rows: (top, rest).
    public func splitTop(_ rows: Int) -> (Rect, Rect) {
        let r = min(max(0, rows), height)
        return (Rect(x: x, y: y, width: width, height: r), Rect(x: x, y: y + r, width: width, height: height - r))
    }
    /// Splits off the left `cols` columns: (left, rest).
    public func splitLeft(_ cols: Int) -> (Rect, Rect) {
        let c = min(max(0, cols), width)
        return (Rect(x: x, y: y, width: c, height: height), Rect(x: x + c, y: y, width: width - c, height: height))
    }
    public var description: String { "(\(x),\(y) \(width)×\(height))" }
}

/// A colour as the view means it; the terminal screen maps it to what the terminal can show.
public enum TerminalColor: Hashable, Sendable {
    case `default`
    /// The 16 ANSI colours: 0 black, 1 red, 2 green, 3 yellow, 4 blue, 5 magenta, 6 cyan, 7 white, 8–15 bright.
    case ansi(UInt8)
    /// xterm 256-colour palette index (232…255 is the grey ramp).
    case indexed(UInt8)
    case rgb(UInt8, UInt8, UInt8)

    /// A grey level 0…1 as RGB (the screen maps it to the 232…255 ramp on 256-colour terminals).
    public static func grey(_ level: Float) -> TerminalColor {
        let v = UInt8(max(0, min(255, (level * 255).rounded())))
        return .rgb(v, v, v)
    }
}

public struct TextAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = TextAttributes(rawValue: 1)
    public static let dim = TextAttributes(rawValue: 2)
    public static let reverse = TextAttributes(rawValue: 4)
    public static let underline = TextAttributes(rawValue: 8)
}

public struct CellStyle: Hashable, Sendable {
    public var foreground: TerminalColor
    public var background: TerminalColor
    public var attributes: TextAttributes
    public init(foreground: TerminalColor = .default, background: TerminalColor = .default, attributes: TextAttributes = []) {
        self.foreground = foreground; self.background = background; self.attributes = attributes
    }
    public static let plain = CellStyle()
    public func with(foreground: TerminalColor) -> CellStyle { var s = self; s.foreground = foreground; return s }
    public func with(background: TerminalColor) -> CellStyle { var s = self; s.background = background; return s }
    public func adding(_ a: TextAttributes) -> CellStyle { var s = self; s.attributes.formUnion(a); return s }
}

/// One terminal cell: a single-column Unicode scalar and its style.
public struct Cell: Hashable, Sendable {
    public var scalar: Unicode.Scalar
    public var style: CellStyle
    public init(_ scalar: Unicode.Scalar = " ", style: CellStyle = .plain) { self.scalar = scalar; self.style = style }
    public static let blank = Cell()
}

/// The frame buffer views draw into. Writes outside the grid are clipped silently (views may be
/// given tiny areas at 80×24 and must never crash).
public struct CellGrid: Sendable, Equatable {
    public private(set) var width: Int
    public private(set) var height: Int
    public var cells: [Cell]
    /// Inline images over cell rectangles (kitty / sixel), sent by the terminal screen after the
    /// text; the cells under them stay blank. Empty unless the screen confirmed an image protocol.
    public var images: [ImagePlacement] = []

    public init(width: Int, height: Int, fill: Cell = .blank) {
        self.width = max(0, width); self.height = max(0, height)
        cells = Array(repeating: fill, count: self.width * self.height)
    }
    public init(size: GridSize) { self.init(width: size.width, height: size.height) }

    public var size: GridSize { GridSize(width: width, height: height) }
    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    @inline(__always) public func isInside(x: Int, y: Int) -> Bool { x >= 0 && y >= 0 && x < width && y < height }

    public subscript(x: Int, y: Int) -> Cell {
        get { isInside(x: x, y: y) ? cells[y * width + x] : .blank }
        set { if isInside(x: x, y: y) { cells[y * width + x] = newValue } }
    }

    public mutating func put(_ scalar: Unicode.Scalar, x: Int, y: Int, style: CellStyle) {
        guard isInside(x: x, y: y) else { return }
        cells[y * width + x] = Cell(scalar, style: style)
    }

    /// Changes only the style of a cell, keeping its character (used to tint by Grad-CAM, selection …).
    public mutating func restyle(x: Int, y: Int, _ change: (inout CellStyle) -> Void) {
        guard isInside(x: x, y: y) else { return }
        change(&cells[y * width + x].style)
    }

    /// Writes `text` on one row starting at x, clipped to `maxWidth` columns (and the grid).
    /// Control and bidi characters become spaces. Returns the number of columns written.
    @discardableResult
    public mutating func write(_ text: String, x: Int, y: Int, style: CellStyle, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height else { return 0 }
        let limit = maxWidth ?? (width - x)
        var col = 0
        for s in text.unicodeScalars {
            if col >= limit { break }
            // Combining marks and zero-width scalars would desynchronise columns: drop them.
            if s.properties.generalCategory == .nonspacingMark || s.properties.generalCategory == .enclosingMark { continue }
            // Controls and bidi overrides (a file named with U+202E) never reach the terminal.
            let glyph: Unicode.Scalar = TerminalText.isUnsafe(s) ? " " : s
            put(glyph, x: x + col, y: y, style: style)
            col += 1
        }
        return col
    }

    /// Writes `text` in the rect, truncated with "…" when too long.
    @discardableResult
    public mutating func writeTruncated(_ text: String, x: Int, y: Int, width w: Int, style: CellStyle) -> Int {
        guard w > 0 else { return 0 }
        let count = text.unicodeScalars.count
        if count <= w { return write(text, x: x, y: y, style: style, maxWidth: w) }
        let head = String(String.UnicodeScalarView(text.unicodeScalars.prefix(max(0, w - 1))))
        write(head, x: x, y: y, style: style, maxWidth: w - 1)
        put("…", x: x + w - 1, y: y, style: style)
        return w
    }

    /// Right-aligns `text` so it ends at column `rightEdge` (exclusive).
    public mutating func writeRight(_ text: String, rightEdge: Int, y: Int, style: CellStyle) {
        write(text, x: rightEdge - text.unicodeScalars.count, y: y, style: style)
    }

    public mutating func fill(_ rect: Rect, _ scalar: Unicode.Scalar = " ", style: CellStyle) {
        let x0 = max(0, rect.x), x1 = min(width, rect.maxX)
        let y0 = max(0, rect.y), y1 = min(height, rect.maxY)
        guard x0 < x1, y0 < y1 else { return }
        let cell = Cell(scalar, style: style)
        for y in y0..<y1 { for x in x0..<x1 { cells[y * width + x] = cell } }
    }

    /// A single-line frame around `rect` with an optional title in the top edge.
    public mutating func box(_ rect: Rect, title: String? = nil, style: CellStyle, titleStyle: CellStyle? = nil) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        for x in rect.x + 1..<rect.maxX - 1 {
            put("─", x: x, y: rect.y, style: style); put("─", x: x, y: rect.maxY - 1, style: style)
        }
        for y in rect.y + 1..<rect.maxY - 1 {
            put("│", x: rect.x, y: y, style: style); put("│", x: rect.maxX - 1, y: y, style: style)
        }
        put("┌", x: rect.x, y: rect.y, style: style); put("┐", x: rect.maxX - 1, y: rect.y, style: style)
        put("└", x: rect.x, y: rect.maxY - 1, style: style); put("┘", x: rect.maxX - 1, y: rect.maxY - 1, style: style)
        if let title, rect.width > 4 {
            writeTruncated(" \(title) ", x: rect.x + 1, y: rect.y, width: rect.width - 2, style: titleStyle ?? style)
        }
    }

    /// Copies `other` into this grid with its top-left at (x, y).
    public mutating func blit(_ other: CellGrid, x: Int, y: Int) {
        for oy in 0..<other.height { for ox in 0..<other.width { self[x + ox, y + oy] = other.cells[oy * other.width + ox] } }
    }

    /// Row `y` as plain text (trailing spaces kept, so columns line up in snapshots).
    public func row(_ y: Int) -> String {
        guard y >= 0, y < height else { return "" }
        var s = String.UnicodeScalarView()
        for x in 0..<width { s.append(cells[y * width + x].scalar) }
        return String(s)
    }

    /// The whole grid as text, one line per row, trailing spaces trimmed (snapshot format).
    public var text: String {
        (0..<height).map { row($0).replacingTrailingSpaces() }.joined(separator: "\n")
    }

    /// Cells that differ from `previous` (all of them when sizes differ) as (x, y) runs on a row —
    /// what a terminal screen needs to send.
    public func changedRuns(since previous: CellGrid?) -> [(y: Int, x: Int, length: Int)] {
        var runs: [(y: Int, x: Int, length: Int)] = []
        let full = previous == nil || previous!.width != width || previous!.height != height
        for y in 0..<height {
            var x = 0
            while x < width {
                let i = y * width + x
                if full || cells[i] != previous!.cells[i] {
                    let start = x
                    while x < width, full || cells[y * width + x] != previous!.cells[y * width + x] { x += 1 }
                    runs.append((y: y, x: start, length: x - start))
                } else { x += 1 }
            }
        }
        return runs
    }

    /// Row/column of the first occurrence of `needle` in the text of the grid, or nil.
    public func find(_ needle: String) -> (x: Int, y: Int)? {
        for y in 0..<height {
            let line = row(y)
            if let r = line.range(of: needle) {
                return (line.unicodeScalars.distance(from: line.unicodeScalars.startIndex, to: r.lowerBound), y)
            }
        }
        return nil
    }
}

extension String {
    func replacingTrailingSpaces() -> String {
        var scalars = Array(unicodeScalars)
        while let last = scalars.last, last == " " { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

// MARK: - Input

/// A decoded key press.
public enum Key: Hashable, Sendable, CustomStringConvertible {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace, delete
    case function(Int)

    /// Ctrl+letter arrives as the control character (Ctrl-C = U+0003).
    public static func ctrl(_ letter: Character) -> Key {
        let v = (letter.asciiValue ?? 64) & 0x1f
        return .character(Character(Unicode.Scalar(v)))
    }

    /// How the key is written in the help overlay and the docs.
    public var description: String {
        switch self {
        case .character(let c):
            if c == " " { return "Space" }
            if let a = c.asciiValue, a < 0x20 { return "Ctrl-" + String(Character(Unicode.Scalar(a + 0x40))) }
            return String(c)
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .tab: return "Tab"
        case .backTab: return "Shift-Tab"
        case .backspace: return "Backspace"
        case .delete: return "Del"
        case .function(let n): return "F\(n)"
        }
    }
}

public struct MouseEvent: Hashable, Sendable {
    public enum Button: Hashable, Sendable { case left, middle, right, wheelUp, wheelDown }
    public var x: Int, y: Int
    public var button: Button
    public init(x: Int, y: Int, button: Button) { self.x = x; self.y = y; self.button = button }
}

public enum InputEvent: Hashable, Sendable {
    case key(Key)
    case mouse(MouseEvent)
    case resize(GridSize)
}

// MARK: - Screen

public struct TerminalCapabilities: Hashable, Sendable {
    public enum ColorDepth: Int, Comparable, Sendable {
        case none = 0, ansi16 = 16, indexed256 = 256, trueColor = 16_777_216
        public static func < (a: ColorDepth, b: ColorDepth) -> Bool { a.rawValue < b.rawValue }
    }
    public var colorDepth: ColorDepth
    public var mouse: Bool
    /// Inline image protocols confirmed by a probe (never assumed) or forced by the user.
    public var kittyGraphics: Bool
    public var sixel: Bool
    /// Pixels per cell (sixel images are sized from it).
    public var cellPixelSize: CellPixelSize
    public init(colorDepth: ColorDepth = .indexed256, mouse: Bool = false, kittyGraphics: Bool = false, sixel: Bool = false,
                cellPixelSize: CellPixelSize = .assumed) {
        self.colorDepth = colorDepth; self.mouse = mouse; self.kittyGraphics = kittyGraphics; self.sixel = sixel
        self.cellPixelSize = cellPixelSize
    }
    /// The protocol views draw images with (kitty first: the terminal scales it), nil = half blocks.
    public var imageProtocol: InlineImageProtocol? { kittyGraphics ? .kitty : sixel ? .sixel : nil }
}

/// Where frames go and events come from. One thread owns a Screen.
public protocol Screen: AnyObject {
    var size: GridSize { get }
    var capabilities: TerminalCapabilities { get }
    /// Shows a full frame; implementations send only the cells that changed since the last one.
    func present(_ frame: CellGrid)
    /// The next input event, waiting at most `timeoutMilliseconds` (0 = poll); nil on timeout.
    func nextEvent(timeoutMilliseconds: Int) -> InputEvent?
}

/// In-memory screen for tests and snapshots: records frames, replays queued events.
public final class GridScreen: Screen {
    public private(set) var size: GridSize
    public var capabilities: TerminalCapabilities
    public private(set) var lastFrame: CellGrid
    public private(set) var presentCount = 0
    /// Cells sent by the last `present` (the diff a terminal would have received).
    public private(set) var lastChangedCells = 0
    private var queue: [InputEvent] = []

    public init(width: Int, height: Int, capabilities: TerminalCapabilities = TerminalCapabilities()) {
        size = GridSize(width: width, height: height)
        self.capabilities = capabilities
        lastFrame = CellGrid(width: width, height: height)
    }

    public func present(_ frame: CellGrid) {
        let previous = presentCount == 0 ? nil : lastFrame
        lastChangedCells = frame.changedRuns(since: previous).reduce(0) { $0 + $1.length }
        lastFrame = frame
        presentCount += 1
    }

    public func nextEvent(timeoutMilliseconds: Int) -> InputEvent? {
        queue.isEmpty ? nil : queue.removeFirst()
    }

    /// Queues input, as if typed.
    public func send(_ events: InputEvent...) { queue.append(contentsOf: events) }
    public func send(keys: [Key]) { queue.append(contentsOf: keys.map { .key($0) }) }
    public func type(_ text: String) { queue.append(contentsOf: text.map { .key(.character($0)) }) }
    public var hasPendingEvents: Bool { !queue.isEmpty }

    /// Simulates a terminal resize (the event arrives like SIGWINCH's KEY_RESIZE).
    public func resize(width: Int, height: Int) {
        size = GridSize(width: width, height: height)
        queue.append(.resize(size))
    }

    public var text: String { lastFrame.text }
    /// Images the last frame placed (what a kitty / sixel terminal would have been sent).
    public var lastImages: [ImagePlacement] { lastFrame.images }
}

// MARK: - Key map

/// One row of the key map: the keys, what they do, and the help text (one table drives dispatch,
/// the `?` overlay and docs/user-guide.md).
public struct KeyBinding<Action: Hashable & Sendable>: Sendable {
    public var keys: [Key]
    public var action: Action
    public var section: String
    public var summary: String
    public init(_ keys: [Key], _ action: Action, section: String, _ summary: String) {
        self.keys = keys; self.action = action; self.section = section; self.summary = summary
    }
    public var keyLabel: String { keys.map(\.description).joined(separator: " ") }
}

public struct KeyMap<Action: Hashable & Sendable>: Sendable {
    public var bindings: [KeyBinding<Action>]
    private var lookup: [Key: Action]

    public init(_ bindings: [KeyBinding<Action>]) {
        self.bindings = bindings
        var lookup: [Key: Action] = [:]
        for b in bindings { for k in b.keys where lookup[k] == nil { lookup[k] = b.action } }
        self.lookup = lookup
    }

    public func action(for key: Key) -> Action? { lookup[key] }

    /// Sections in first-seen order, each with its bindings.
    public var sections: [(name: String, bindings: [KeyBinding<Action>])] {
        var order: [String] = []
        var by: [String: [KeyBinding<Action>]] = [:]
        for b in bindings {
            if by[b.section] == nil { order.append(b.section) }
            by[b.section, default: []].append(b)
        }
        return order.map { ($0, by[$0]!) }
    }

    /// Markdown table of every binding (docs are generated from this, not written by hand).
    public var markdownTable: String {
        var lines = ["| keys | section | action |", "| --- | --- | --- |"]
        for b in bindings {
            let keys = b.keys.map { "`\($0.description == "`" ? "backtick" : $0.description)`" }.joined(separator: " ")
            lines.append("| \(keys) | \(b.section) | \(b.summary) |")
        }
        return lines.joined(separator: "\n")
    }
}
