import Foundation

/// One self-rewriting progress line on stderr, `[#####.........] text`, drawn only when stderr is
/// a terminal and at most every 0.1 s (so a fast batch does not spend its time redrawing).
/// Shared by `export` and `screen`; plain result lines go elsewhere.
final class ProgressLine: @unchecked Sendable {
    let enabled: Bool
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    /// `force` draws regardless of the 0.1 s limit (e.g. the final state).
    func draw(fraction: Double, _ text: String, force: Bool = false) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        guard force || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let width = 30
        let filled = max(0, min(width, Int((fraction * Double(width)).rounded(.down))))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\u{1B}[2K\r[\(bar)] " + text.replacingOccurrences(of: "\n", with: "")
        FileHandle.standardError.write(Data(line.utf8))
    }

    func clear() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        FileHandle.standardError.write(Data("\u{1B}[2K\r".utf8))
        lastDraw = .distantPast
    }
}
