import CNCursesW
import Foundation

/// The ncursesw `Screen`. Diffs each frame against the previous one and sends only changed cells;
/// degrades RGB → direct colour / 256 / 16 / none. Inline images (`CellGrid.images`) go out after
/// curses' refresh as kitty graphics or sixel when the probe confirmed (or the user forced) one.
/// Must be used from one thread only.
public final class TerminalScreen: Screen {
    public private(set) var size: GridSize
    public private(set) var capabilities: TerminalCapabilities
    /// What the graphics probe decided, for the status line.
    public let graphics: TerminalGraphicsDecision
    private var previous: CellGrid?
    private var pairs: [Int64: Int32] = [:]
    private let colourOn: Bool
    private var closed = false
    /// Images the terminal is showing now, by slot.
    private var shownImages: [Int: ImagePlacement] = [:]

    /// Starts curses. `useColour` is false when NO_COLOR is set. With `graphics: .auto` the terminal
    /// is probed for kitty graphics and sixel first (at most `probeTimeoutMilliseconds`).
    public init(useColour: Bool, graphics preference: GraphicsPreference = .blocks, probeTimeoutMilliseconds: Int = 250,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var reply: TerminalProbeReply?
        var probeError: String?
        if preference == .auto {
            do { reply = try TerminalProbe(timeoutMilliseconds: probeTimeoutMilliseconds).run() } catch { probeError = error.description }
        }
        graphics = TerminalGraphicsDecision(preference: preference, reply: reply, probeError: probeError,
                                            windowCellSize: TerminalProbe.cellPixelSizeFromWindowSize(), environment: environment)
        // COLORTERM=truecolor with a 256-colour TERM: curses needs a direct-colour entry to send 24-bit grey.
        var term: String?
        if useColour, graphics.trueColorAdvertised, let candidate = DirectColourTerminfo.candidate(term: environment["TERM"] ?? ""),
           DirectColourTerminfo.exists(candidate, environment: environment) {
            term = candidate
        }
        let started = term.map { name in name.withCString { ecg_start_term($0, useColour ? 1 : 0) } } ?? ecg_start(useColour ? 1 : 0)
        guard started == 0 else { throw TerminalError.cannotStart }
        colourOn = useColour && has_colors()
        size = GridSize(width: Int(ecg_cols()), height: Int(ecg_lines()))
        var depth: TerminalCapabilities.ColorDepth = .none
        if colourOn {
            let n = Int(ecg_colors())
            depth = n >= 16_777_216 ? .trueColor : n >= 256 ? .indexed256 : n >= 8 ? .ansi16 : .none
        }
        capabilities = TerminalCapabilities(colorDepth: depth, mouse: true,
                                            kittyGraphics: graphics.imageProtocol == .kitty, sixel: graphics.imageProtocol == .sixel,
                                            cellPixelSize: graphics.cellPixelSize)
        if graphics.imageProtocol != nil { ecg_no_character_shifting() }
    }

    public enum TerminalError: Error, CustomStringConvertible {
        case cannotStart
        public var description: String { "cannot start the terminal UI (is TERM set and stdout a terminal?)" }
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        if capabilities.imageProtocol == .kitty {
            emit(shownImages.keys.sorted().flatMap { KittyGraphics.delete(slot: $0) })
        }
        shownImages = [:]
        endwin()
    }

    public func present(_ frame: CellGrid) {
        if frame.width != size.width || frame.height != size.height { previous = nil }
        let protocolInUse = capabilities.imageProtocol
        var wanted: [Int: ImagePlacement] = [:]
        if protocolInUse != nil { for p in frame.images where p.isValid { wanted[p.slot] = p } }
        // Images that went away or moved (case change, pane switch, resize): kitty deletes them,
        // sixel pixels are painted over by curses repainting those rows from its text.
        var before: [UInt8] = []
        for (slot, shown) in shownImages.sorted(by: { $0.key < $1.key }) where previous == nil || wanted[slot]?.rect != shown.rect {
            if protocolInUse == .kitty { before += KittyGraphics.delete(slot: slot) } else { ecg_redraw_rows(Int32(shown.rect.y), Int32(shown.rect.height)) }
            shownImages[slot] = nil
        }
        emit(before)

        let runs = frame.changedRuns(since: previous)
        if previous == nil { erase() }
        for run in runs {
            for x in run.x..<(run.x + run.length) {
                // ncurses scrolls when writing the bottom-right cell; skip it.
                if run.y == frame.height - 1 && x == frame.width - 1 { continue }
                let cell = frame.cells[run.y * frame.width + x]
                _ = ecg_put_cell(Int32(run.y), Int32(x), cell.scalar.value, attributes(cell.style.attributes), pair(cell.style))
            }
        }
        refresh()
        previous = frame

        // New or changed images go out after curses has drawn the (blank) cells under them.
        var after: [UInt8] = []
        for (slot, p) in wanted.sorted(by: { $0.key < $1.key }) where shownImages[slot] != p {
            switch protocolInUse {
            case .kitty:
                guard let bytes = try? KittyGraphics.place(p) else { continue }
                after += bytes
            case .sixel:
                after += SixelEncoder.place(p, cell: capabilities.cellPixelSize)
            case nil: continue
            }
            shownImages[slot] = p
        }
        // DECSC / DECRC: curses keeps track of the cursor and must find it where it left it.
        if !after.isEmpty { emit(Array("\u{1b}7".utf8) + after + Array("\u{1b}8".utf8)) }
    }

    /// Writes raw bytes to the terminal, all of them (curses has flushed its own output by now).
    private func emit(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if n > 0 { offset += n; continue }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { usleep(1000); continue }
                return  // the terminal went away; curses will notice on its own
            }
        }
    }

    public func nextEvent(timeoutMilliseconds: Int) -> InputEvent? {
        var value: UInt32 = 0
        let r = ecg_read_key(Int32(timeoutMilliseconds), &value)
        if r == ERR { return nil }
        if r == KEY_CODE_YES {
            let code = Int32(value)
            switch code {
            case ecg_key_resize():
                size = GridSize(width: Int(ecg_cols()), height: Int(ecg_lines()))
                previous = nil  // also re-sends (and for kitty first deletes) the images
                return .resize(size)
            case ecg_key_mouse():
                var x: Int32 = 0, y: Int32 = 0, b: Int32 = 0
                guard ecg_read_mouse(&x, &y, &b) == OK else { return nil }
                let button: MouseEvent.Button? = b == 1 ? .left : b == 4 ? .wheelUp : b == 5 ? .wheelDown : nil
                return button.map { .mouse(MouseEvent(x: Int(x), y: Int(y), button: $0)) }
            case ecg_key_up(): return .key(.up)
            case ecg_key_down(): return .key(.down)
            case ecg_key_left(): return .key(.left)
            case ecg_key_right(): return .key(.right)
            case ecg_key_ppage(): return .key(.pageUp)
            case ecg_key_npage(): return .key(.pageDown)
            case ecg_key_home(): return .key(.home)
            case ecg_key_end(): return .key(.end)
            case ecg_key_enter(): return .key(.enter)
            case ecg_key_backspace(): return .key(.backspace)
            case ecg_key_dc(): return .key(.delete)
            case ecg_key_btab(): return .key(.backTab)
            default:
                for n in 1...12 where code == ecg_key_f(Int32(n)) { return .key(.function(n)) }
                return nil
            }
        }
        switch value {
        case 0x1b: return .key(.escape)
        case 0x0d, 0x0a: return .key(.enter)
        case 0x09: return .key(.tab)
        case 0x7f, 0x08: return .key(.backspace)
        default:
            guard let scalar = Unicode.Scalar(value) else { return nil }
            return .key(.character(Character(scalar)))
        }
    }

    // MARK: colour

    private func attributes(_ a: TextAttributes) -> attr_t {
        var r: attr_t = attr_t(A_NORMAL)
        if a.contains(.bold) { r |= ecg_a_bold() }
        if a.contains(.dim) { r |= ecg_a_dim() }
        if a.contains(.reverse) { r |= ecg_a_reverse() }
        if a.contains(.underline) { r |= ecg_a_underline() }
        return r
    }

    private func pair(_ style: CellStyle) -> Int32 {
        guard colourOn else { return 0 }
        let fg = colourNumber(style.foreground), bg = colourNumber(style.background)
        if fg == -1 && bg == -1 { return 0 }
        let key = (Int64(fg) << 32) | Int64(UInt32(bitPattern: bg))
        if let p = pairs[key] { return p }
        let p = alloc_pair(fg, bg)
        let result = p < 0 ? 0 : p
        pairs[key] = result
        return result
    }

    /// ncurses colour number for a colour at this terminal's depth (-1 = terminal default).
    func colourNumber(_ c: TerminalColor) -> Int32 {
        switch c {
        case .default: return -1
        case .ansi(let n): return capabilities.colorDepth >= .ansi16 ? Int32(n % 16) : -1
        case .indexed(let n):
            if capabilities.colorDepth >= .indexed256 { return Int32(n) }
            return Int32(TerminalScreen.nearestANSI(TerminalScreen.rgb(ofIndex: n)))
        case .rgb(let r, let g, let b):
            switch capabilities.colorDepth {
            case .trueColor:
                // Greys (the CMR half blocks) on 64 levels: at most 64² colour pairs, so alloc_pair
                // never recycles a pair that cells on screen still use.
                if r == g && g == b { let v = Int32((Int(r) >> 2) * 255 / 63); return (v << 16) | (v << 8) | v }
                return (Int32(r) << 16) | (Int32(g) << 8) | Int32(b)
            case .indexed256: return Int32(TerminalScreen.nearest256(r, g, b))
            case .ansi16: return Int32(TerminalScreen.nearestANSI((r, g, b)))
            case .none: return -1
            }
        }
    }

    /// xterm-256: greys go to the 232…255 ramp (finer than the cube's 6 levels), colours to the cube.
    static func nearest256(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let maxC = max(r, g, b), minC = min(r, g, b)
        if Int(maxC) - Int(minC) < 12 {
            let v = (Int(r) + Int(g) + Int(b)) / 3
            if v < 4 { return 16 }
            if v > 246 { return 231 }
            return UInt8(232 + min(23, max(0, (v - 8 + 5) / 10)))
        }
        func level(_ x: UInt8) -> Int { x < 48 ? 0 : x < 115 ? 1 : (Int(x) - 35) / 40 }
        return UInt8(16 + 36 * level(r) + 6 * level(g) + level(b))
    }

    static func rgb(ofIndex n: UInt8) -> (UInt8, UInt8, UInt8) {
        if n >= 232 { let v = UInt8(8 + 10 * (Int(n) - 232)); return (v, v, v) }
        if n >= 16 {
            let i = Int(n) - 16
            let steps: [UInt8] = [0, 95, 135, 175, 215, 255]
            return (steps[i / 36], steps[(i / 6) % 6], steps[i % 6])
        }
        return ansiRGB[Int(n)]
    }

    static let ansiRGB: [(UInt8, UInt8, UInt8)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]

    static func nearestANSI(_ c: (UInt8, UInt8, UInt8)) -> UInt8 {
        var best = 0, bestD = Int.max
        for (i, a) in ansiRGB.enumerated() {
            let d = (Int(a.0) - Int(c.0)) * (Int(a.0) - Int(c.0)) + (Int(a.1) - Int(c.1)) * (Int(a.1) - Int(c.1)) + (Int(a.2) - Int(c.2)) * (Int(a.2) - Int(c.2))
            if d < bestD { bestD = d; best = i }
        }
        return UInt8(best)
    }
}
