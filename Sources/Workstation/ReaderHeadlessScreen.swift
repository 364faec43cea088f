import Foundation

/// A `Screen` for scripted reader sessions (`study run --headless`): frames are kept in memory
/// (optionally written to a file), keys arrive one token per line on a file handle — a single
/// character, or a name: enter, esc, tab, backtab, space, backspace, left, right, up, down.
public final class ReaderHeadlessScreen: Screen {
    public let size: GridSize
    public let capabilities = TerminalCapabilities(colorDepth: .none)
    public private(set) var lastFrame: CellGrid
    public private(set) var atEndOfInput = false
    private let input: FileHandle
    private var buffer = Data()

    public init(width: Int = 120, height: Int = 40, input: FileHandle = .standardInput) {
        size = GridSize(width: width, height: height)
        lastFrame = CellGrid(width: width, height: height)
        self.input = input
    }

    public func present(_ frame: CellGrid) { lastFrame = frame }

    /// Blocks until a line arrives (scripted input has no idle time to fill); nil at end of input.
    public func nextEvent(timeoutMilliseconds: Int) -> InputEvent? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                if let key = Self.key(line) { return .key(key) }
                continue
            }
            if atEndOfInput { return nil }
            let chunk = input.availableData
            if chunk.isEmpty { atEndOfInput = true; buffer.append(0x0A); continue }
            buffer.append(chunk)
        }
    }

    static func key(_ token: String) -> Key? {
        switch token.trimmingCharacters(in: .whitespaces).lowercased() {
        case "": return nil
        case "enter": return .enter
        case "esc", "escape": return .escape
        case "tab": return .tab
        case "backtab": return .backTab
        case "space": return .character(" ")
        case "backspace": return .backspace
        case "left": return .left
        case "right": return .right
        case "up": return .up
        case "down": return .down
        default:
            let t = token.trimmingCharacters(in: .whitespaces)
            return t.count == 1 ? .character(t.first!) : nil
        }
    }
}
