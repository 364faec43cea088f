import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way every output file is written: the bytes go to a new temporary file in the target's
/// own folder, are fsync'd, and are then `rename(2)`d over the final name (atomic on POSIX), and the
/// folder is fsync'd. The old file is never removed first, so a failed or killed write leaves the
/// old file, or no file if there was none — never a half-written one and never nothing in place of
/// something (`FileManager.replaceItemAt` removed the destination before failing).
///
/// Several files that belong together (a WFDB `.hea` and its `.dat`) are written as a set: every
/// temporary file is complete before the first rename, and if a later rename fails the earlier
/// targets are put back from hard-linked copies of the old files.
public enum AtomicReplace {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write([(data, url)])
    }

    public static func write(_ files: [(data: Data, url: URL)]) throws {
        var temporaries: [String] = []
        var backups: [String?] = []
        var renamed = 0
        defer {
            for t in temporaries.dropFirst(renamed) { unlink(t) }
            for case let b? in backups { unlink(b) }
        }
        for (data, url) in files {
            let tmp = temporaryName(for: url, tag: "tmp")
            do { try writeDurably(data, toNew: tmp) } catch let f as Failure {
                // Named by the file the user asked for, not our temporary name.
                throw Failure(path: url.path, reason: f.reason.replacingOccurrences(of: "cannot create", with: "cannot create a file in its folder"))
            }
            temporaries.append(tmp)
        }
        for (k, file) in files.enumerated() {
            let target = file.url.path
            // A hard link keeps the old file reachable until the whole set is in place (no copy).
            var backup: String? = nil
            if access(target, F_OK) == 0 {
                let b = temporaryName(for: file.url, tag: "old")
                if link(target, b) == 0 { backup = b }
            }
            backups.append(backup)
            guard rename(temporaries[k], target) == 0 else {
                let reason = "cannot replace: \(describeErrno(errno))"
                for j in (0..<k).reversed() {
                    if let b = backups[j] { if rename(b, files[j].url.path) == 0 { backups[j] = nil } } else { unlink(files[j].url.path) }
                }
                throw Failure(path: target, reason: reason)
            }
            renamed = k + 1
        }
        for dir in Set(files.map { $0.url.deletingLastPathComponent().path }) { fsyncDirectory(dir) }
    }

    /// Like `write(_:to:)` for output too large to hold at once: `produce` calls `emit` with the
    /// bytes in order (a merge of screening shards can be gigabytes). Nothing appears under `url`
    /// unless `produce` returns normally; the old file is never removed first.
    public static func write(to url: URL, _ produce: (_ emit: (Data) throws -> Void) throws -> Void) throws {
        let tmp = temporaryName(for: url, tag: "tmp")
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw Failure(path: url.path, reason: "cannot create a file in its folder: \(describeErrno(errno))") }
        var renamed = false
        defer { close(fd); if !renamed { unlink(tmp) } }
        try produce { data in try writeAll(fd, data, path: tmp) }
        guard fsync(fd) == 0 else { throw Failure(path: tmp, reason: "cannot fsync: \(describeErrno(errno))") }
        guard rename(tmp, url.path) == 0 else { throw Failure(path: url.path, reason: "cannot replace: \(describeErrno(errno))") }
        renamed = true
        fsyncDirectory(url.deletingLastPathComponent().path)
    }

    /// Creates `path` (which must not exist), writes `data` and fsyncs it.
    public static func writeDurably(_ data: Data, toNew path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw Failure(path: path, reason: "cannot create: \(describeErrno(errno))") }
        var ok = false
        defer { close(fd); if !ok { unlink(path) } }
        try writeAll(fd, data, path: path)
        guard fsync(fd) == 0 else { throw Failure(path: path, reason: "cannot fsync: \(describeErrno(errno))") }
        ok = true
    }

    /// Writes all of `data` to an open descriptor (retrying short writes and EINTR).
    public static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(path: path, reason: "cannot write: \(describeErrno(errno))")
                }
                if n == 0 { throw Failure(path: path, reason: "cannot write: no space left") }
                offset += n
            }
        }
    }

    public static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func temporaryName(for url: URL, tag: String) -> String {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    }

    /// True when `a` and `b` name the same existing file (same device and inode, so hard links,
    /// symbolic links and `./x` vs `x` all count).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
