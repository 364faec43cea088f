import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// TerminalProbe.swift — what the terminal can show beyond text, asked, never assumed.
//
// At startup (before curses takes the terminal) the workstation sends, in one write:
//   ESC _ G i=31,s=1,v=1,a=q,t=d,f=24 ; AAAA ESC \   kitty graphics query (a 1×1 RGB test image)
//   ESC [ 16 t                                        cell size in pixels (for sixel sizing)
//   ESC [ c                                           primary device attributes: a 4 = sixel
//   ESC [ 5 n                                         device status — every terminal answers it,
//                                                     so its reply ends the read without a hang
// and reads the replies for at most a few hundred milliseconds. Parsing the reply bytes is a
// pure function (`TerminalProbeReply.parse`) so it can be tested with real replies.

/// An inline image protocol the CMR pane can draw with.
public enum InlineImageProtocol: String, Sendable, CaseIterable {
    case kitty, sixel
}

/// How the CMR pane draws images: `auto` asks the terminal; the others force a choice
/// (`--graphics` on `ecg2cmr view`, or the `ECG2CMR_GRAPHICS` environment variable).
public enum GraphicsPreference: String, Sendable, CaseIterable {
    case auto, kitty, sixel, blocks

    public static let environmentVariable = "ECG2CMR_GRAPHICS"

    /// The `--graphics` value when given, else `ECG2CMR_GRAPHICS`, else `auto`.
    public static func resolve(option: String?, environment: [String: String]) throws(GraphicsPreferenceError) -> GraphicsPreference {
        if let option {
            guard let p = GraphicsPreference(rawValue: option.lowercased()) else { throw .unknown(option, source: "--graphics") }
            return p
        }
        if let value = environment[environmentVariable], !value.isEmpty {
            guard let p = GraphicsPreference(rawValue: value.lowercased()) else { throw .unknown(value, source: environmentVariable) }
            return p
        }
        return .auto
    }
}

public enum GraphicsPreferenceError: Error, CustomStringConvertible, Equatable {
    case unknown(String, source: String)
    public var description: String {
        switch self {
        case let .unknown(value, source):
            return "\(source): unknown graphics mode '\(value)' (use \(GraphicsPreference.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
    }
}

/// Size of one terminal cell in pixels.
public struct CellPixelSize: Hashable, Sendable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    /// Used when the terminal reports nothing (a common 10×20 font).
    public static let assumed = CellPixelSize(width: 10, height: 20)
}

/// What the terminal said in reply to the probe.
public struct TerminalProbeReply: Hashable, Sendable {
    /// The kitty graphics query came back `OK`.
    public var kittyGraphics = false
    /// Parameters of the primary device attributes reply (`ESC [ ? 62 ; 4 ; 22 c` → [62, 4, 22]).
    public var deviceAttributes: [Int]?
    public var cellPixelSize: CellPixelSize?
    /// The device status reply (`ESC [ 0 n`) arrived: everything asked before it was answered.
    public var statusReported = false

    public init() {}

    /// Sixel is advertised by a 4 among the device attribute parameters.
    public var sixel: Bool { deviceAttributes?.contains(4) ?? false }

    /// Best protocol the terminal confirmed (kitty draws faster and scales itself, so it wins).
    public var imageProtocol: InlineImageProtocol? { kittyGraphics ? .kitty : sixel ? .sixel : nil }

    /// Parses the bytes a terminal sent back. Anything that is not a reply we asked for (typed keys,
    /// half sequences, other terminals' answers) is skipped.
    public static func parse(_ bytes: [UInt8]) -> TerminalProbeReply {
        var reply = TerminalProbeReply()
        let esc: UInt8 = 0x1b
        var i = 0
        while i < bytes.count {
            guard bytes[i] == esc, i + 1 < bytes.count else { i += 1; continue }
            switch bytes[i + 1] {
            case UInt8(ascii: "_"):
                // APC … ST (ESC \). Kitty: "Gi=31;OK" or "Gi=31;ENOTSUPPORTED:…".
                guard let end = stringTerminator(in: bytes, from: i + 2) else { return reply }
                let body = String(decoding: bytes[(i + 2)..<end], as: UTF8.self)
                if body.hasPrefix("G"), let semicolon = body.firstIndex(of: ";") {
                    let keys = body[body.index(after: body.startIndex)..<semicolon].split(separator: ",")
                    let message = body[body.index(after: semicolon)...]
                    if keys.contains("i=31"), message == "OK" { reply.kittyGraphics = true }
                }
                i = end + 2
            case UInt8(ascii: "["):
                // CSI parameters (0x30–0x3F), intermediates (0x20–0x2F), one final byte (0x40–0x7E).
                var j = i + 2
                while j < bytes.count, (0x20...0x3f).contains(bytes[j]) { j += 1 }
                guard j < bytes.count else { return reply }
                guard (0x40...0x7e).contains(bytes[j]) else { i = j; continue }
                let params = String(decoding: bytes[(i + 2)..<j], as: UTF8.self)
                switch bytes[j] {
                case UInt8(ascii: "c") where params.hasPrefix("?"):
                    reply.deviceAttributes = params.dropFirst().split(separator: ";").compactMap { Int($0) }
                case UInt8(ascii: "n") where params == "0" || params == "3":
                    reply.statusReported = true
                case UInt8(ascii: "t"):
                    let n = params.split(separator: ";").compactMap { Int($0) }
                    if n.count == 3, n[0] == 6, n[1] > 0, n[2] > 0 { reply.cellPixelSize = CellPixelSize(width: n[2], height: n[1]) }
                default: break
                }
                i = j + 1
            default:
                i += 1
            }
        }
        return reply
    }

    /// Index of the ESC of the first ESC \ at or after `start`.
    static func stringTerminator(in bytes: [UInt8], from start: Int) -> Int? {
        var k = start
        while k + 1 < bytes.count {
            if bytes[k] == 0x1b && bytes[k + 1] == UInt8(ascii: "\\") { return k }
            k += 1
        }
        return nil
    }
}

public enum TerminalProbeError: Error, CustomStringConvertible {
    case notATerminal
    case cannotSetRawMode(errno: Int32)
    case writeFailed(errno: Int32)
    public var description: String {
        switch self {
        case .notATerminal: return "standard input/output is not a terminal"
        case .cannotSetRawMode(let e): return "cannot put the terminal in raw mode: \(String(cString: strerror(e)))"
        case .writeFailed(let e): return "cannot write the graphics query: \(String(cString: strerror(e)))"
        }
    }
}

/// Asks the terminal on `input`/`output` and collects the reply bytes.
public struct TerminalProbe: Sendable {
    public var input: Int32
    public var output: Int32
    public var timeoutMilliseconds: Int

    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, timeoutMilliseconds: Int = 250) {
        self.input = input; self.output = output; self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Everything sent, in one write; the status request is last so its answer ends the read.
    public static let query: [UInt8] = Array("\u{1b}_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\u{1b}\\\u{1b}[16t\u{1b}[c\u{1b}[5n".utf8)

    /// Sends the query in raw mode and reads until the status reply or the timeout.
    public func run() throws(TerminalProbeError) -> TerminalProbeReply {
        guard isatty(input) == 1, isatty(output) == 1 else { throw .notATerminal }
        var saved = termios()
        guard tcgetattr(input, &saved) == 0 else { throw .cannotSetRawMode(errno: errno) }
        var raw = saved
        // No line buffering and no echo, so replies reach us byte by byte and never show on screen.
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        guard tcsetattr(input, TCSANOW, &raw) == 0 else { throw .cannotSetRawMode(errno: errno) }
        defer { var s = saved; _ = tcsetattr(input, TCSANOW, &s) }

        let written = Self.query.withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
        guard written == Self.query.count else { throw .writeFailed(errno: errno) }

        var bytes: [UInt8] = []
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { break }
            var pfd = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(1, (deadline - now) / 1_000_000)))
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if ready == 0 { break }
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if TerminalProbeReply.parse(bytes).statusReported { break }
        }
        let reply = TerminalProbeReply.parse(bytes)
        // A terminal that answered nothing in time may still answer late; drop what has arrived so
        // it does not turn into keystrokes.
        if !reply.statusReported { tcflush(input, TCIFLUSH) }
        return reply
    }

    /// Cell size from the kernel's window size (some terminals fill in the pixel fields).
    public static func cellPixelSizeFromWindowSize(fd: Int32 = STDOUT_FILENO) -> CellPixelSize? {
        var ws = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0, ws.ws_xpixel > 0, ws.ws_ypixel > 0 else { return nil }
        return CellPixelSize(width: Int(ws.ws_xpixel) / Int(ws.ws_col), height: Int(ws.ws_ypixel) / Int(ws.ws_row))
    }
}

/// The graphics the workstation will use, decided once at startup from the preference, the probe
/// and the environment.
public struct TerminalGraphicsDecision: Hashable, Sendable {
    public var imageProtocol: InlineImageProtocol?
    public var cellPixelSize: CellPixelSize
    /// `COLORTERM` says the terminal shows 24-bit colour.
    public var trueColorAdvertised: Bool
    /// One line for the status bar and logs: what was chosen and why.
    public var summary: String

    public init(preference: GraphicsPreference, reply: TerminalProbeReply?, probeError: String? = nil,
                windowCellSize: CellPixelSize? = nil, environment: [String: String]) {
        let colorterm = (environment["COLORTERM"] ?? "").lowercased()
        trueColorAdvertised = colorterm.contains("truecolor") || colorterm.contains("24bit")
        cellPixelSize = reply?.cellPixelSize ?? windowCellSize ?? .assumed
        switch preference {
        case .blocks:
            imageProtocol = nil
            summary = "CMR images: half blocks (forced)"
        case .kitty, .sixel:
            imageProtocol = preference == .kitty ? .kitty : .sixel
            summary = "CMR images: \(preference.rawValue) (forced)"
        case .auto:
            imageProtocol = reply?.imageProtocol
            if let p = imageProtocol {
                summary = "CMR images: \(p.rawValue) (detected)"
            } else if let probeError {
                summary = "CMR images: half blocks (no probe: \(probeError))"
            } else if reply?.statusReported == true {
                summary = "CMR images: half blocks (terminal has no kitty graphics or sixel)"
            } else {
                summary = "CMR images: half blocks (terminal did not answer the graphics probe)"
            }
        }
    }
}

/// Direct-colour ("24-bit") terminfo for a terminal that advertises true colour through COLORTERM
/// while its TERM entry only knows 256 colours: curses can only send 24-bit colour through such an
/// entry, so the workstation starts curses with it when the system has one.
public enum DirectColourTerminfo {
    /// The candidate entry (`xterm-256color` → `xterm-direct`), nil when TERM already is direct.
    public static func candidate(term: String) -> String? {
        guard !term.isEmpty, !term.contains("direct") else { return nil }
        let base = term.split(separator: "-").first.map(String.init) ?? term
        return base + "-direct"
    }

    /// Whether a compiled terminfo entry `name` exists in the usual search path.
    public static func exists(_ name: String, environment: [String: String]) -> Bool {
        guard let first = name.first else { return false }
        var directories: [String] = []
        if let t = environment["TERMINFO"], !t.isEmpty { directories.append(t) }
        if let home = environment["HOME"] { directories.append(home + "/.terminfo") }
        if let dirs = environment["TERMINFO_DIRS"] { directories += dirs.split(separator: ":").map(String.init) }
        directories += ["/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo", "/usr/lib/terminfo"]
        let hex = String(format: "%02x", first.asciiValue ?? 0)
        return directories.contains { dir in
            FileManager.default.fileExists(atPath: "\(dir)/\(first)/\(name)") || FileManager.default.fileExists(atPath: "\(dir)/\(hex)/\(name)")
        }
    }
}
