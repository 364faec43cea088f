import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Text that came from an input file, made safe to print on a terminal: C0/C1 control characters
/// (ESC, BEL, CR, backspace …) and DEL become `?`, so a lead name or reader name cannot move the
/// cursor, change colours, retitle the window or hide text. Tabs and (unless kept) newlines become spaces.
public enum TerminalText {
    public static func sanitize(_ text: String, keepNewlines: Bool = false) -> String {
        var out = String.UnicodeScalarView()
        var changed = false
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v == 0x0A && keepNewlines { out.append(scalar); continue }
            if v == 0x09 || v == 0x0A { out.append(" "); changed = true; continue }
            if isUnsafe(scalar) { out.append("?"); changed = true; continue }
            out.append(scalar)
        }
        return changed ? String(out) : text
    }

    /// The one rule: C0/C1 controls, DEL, line/paragraph separators and the bidi embedding, override
    /// and isolate controls (U+200E/F, U+202A–E, U+2066–9, U+061C), which reorder what follows them.
    @inline(__always) public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029
            || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F || v == 0x061C
    }
}

/// Spreadsheet ("CSV injection") protection: a cell that a spreadsheet would evaluate as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading apostrophe. Plain numbers such as
/// `-0.25` are left alone so numeric columns stay numeric.
public enum SpreadsheetCell {
    static let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r"]

    public static func neutralise(_ cell: String) -> String {
        guard let first = cell.first, formulaStarts.contains(first) else { return cell }
        if Double(cell) != nil { return cell }
        return "'" + cell
    }

    /// Undoes `neutralise` (for reading our own files back).
    public static func restore(_ cell: String) -> String {
        guard cell.hasPrefix("'"), let second = cell.dropFirst().first, formulaStarts.contains(second) else { return cell }
        return String(cell.dropFirst())
    }
}

/// Why a lock could not be taken: names the locked thing and, when known, the process holding it.
public struct LockError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var holderPID: Int32?
    public var description: String { "\(path): \(message)" }
}

/// An exclusive advisory lock (`flock`) on a lock file, which records the PID and purpose of the
/// holder so a second process can say who holds it. The lock lasts until `release()` or deinit (and
/// the kernel drops it when the process dies, so a kill -9 never leaves a stale lock).
public final class ExclusiveLock {
    public let lockPath: String
    private var descriptor: Int32

    /// `lockPath`: the lock file (created if absent; a symlink is refused). `resource`: what it
    /// protects, for messages. `purpose`: what this process does, recorded for other processes.
    public init(lockPath: String, resource: String, purpose: String) throws {
        self.lockPath = lockPath
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "is a symbolic link; refusing to use it as a lock file" : String(cString: strerror(errno))
            throw LockError(path: resource, message: "cannot open lock file \(lockPath): \(reason)")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw LockError(path: resource, message: "lock file \(lockPath) is not a regular file")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let busy = errno == EWOULDBLOCK
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = pread(fd, &buffer, buffer.count, 0)
            if n > 0 { holder = String(decoding: buffer.prefix(n), as: UTF8.self) }
            close(fd)
            let lines = holder.split(separator: "\n").map(String.init)
            let pid = lines.first.flatMap { Int32($0.trimmedOfWhitespace()) }
            let what = lines.dropFirst().first.map { " (\(TerminalText.sanitize($0)))" } ?? ""
            let who = pid.map { "process \($0)\(what)" } ?? "another process"
            throw LockError(path: resource,
                            message: busy ? "in use by \(who) (lock file \(lockPath)); wait for it to finish or stop it first"
                                          : "cannot lock \(lockPath): \(String(cString: strerror(errno)))",
                            holderPID: pid)
        }
        let text = "\(getpid())\n\(purpose)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    /// True when a process holds the lock at `lockPath` now (false when there is no such file).
    /// Takes nothing and writes nothing: a reader such as `screen merge` asks before trusting a file
    /// that a writer may still be appending to, even in a read-only folder.
    public static func isHeld(lockPath: String) -> Bool {
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { _ = flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }

    public func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// A human message for an errno, with the ones users hit spelled out (a full disk is not "Success").
public func describeErrno(_ code: Int32) -> String {
    switch code {
    case ENOSPC: return "no space left on the device (disk full)"
    case EDQUOT: return "disk quota exceeded"
    case EROFS: return "the file system is read-only"
    case EACCES, EPERM: return "permission denied"
    case EIO: return "input/output error"
    default: return String(cString: strerror(code))
    }
}

/// What kind of non-regular file a `stat` mode is, for "not a regular file" messages.
public func fileKindName(mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    case S_IFLNK: return "a symbolic link"
    case S_IFREG: return "a regular file"
    default: return "not a regular file"
    }
}

/// Names taken from a file (a manifest's case name, a WFDB segment or signal file name) that become
/// part of a path must be one plain component under the folder they belong to: otherwise
/// `"./../victim"` as a case name makes an export replace a folder beside its output.
public enum PathComponent {
    /// Nil when `name` is usable as a single file or folder name; else why not (for messages).
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name == "." || name == ".." { return "is '\(name)', not a name" }
        if name.contains("/") { return "contains '/' (it must be one name, not a path)" }
        if name.utf8.count > 255 { return "is longer than 255 bytes" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "contains a control character" }
        return nil
    }
}
