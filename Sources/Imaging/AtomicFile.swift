import Crypto
import ECGFormats
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Durable file writes: data goes to a temporary name in the same directory, is fsync'd, and is
/// renamed over the final name, so a crash or kill never leaves a half-written file under a final name.
public enum AtomicFile {
    /// Writes `data` to `url` atomically (temporary name + fsync + rename + fsync of the directory;
    /// the old file is never removed first): `AtomicReplace`, the one helper every output uses.
    public static func write(_ data: Data, to url: URL) throws {
        do { try AtomicReplace.write(data, to: url) } catch let f as AtomicReplace.Failure {
            throw CMRExportError.io(path: f.path, reason: f.reason)
        }
    }

    /// Like `write(_:to:)` for output too large to hold at once (`AtomicReplace.write(to:_:)`).
    public static func write(to url: URL, _ produce: (_ emit: (Data) throws -> Void) throws -> Void) throws {
        do { try AtomicReplace.write(to: url, produce) } catch let f as AtomicReplace.Failure {
            throw CMRExportError.io(path: f.path, reason: f.reason)
        }
    }

    /// Writes and fsyncs `data` at `url` (creating or truncating it); used inside staging folders.
    public static func writeDurably(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw posixError(url.path, "open for writing") }
        defer { close(fd) }
        do { try AtomicReplace.writeAll(fd, data, path: url.path) } catch let f as AtomicReplace.Failure {
            throw CMRExportError.io(path: f.path, reason: f.reason)
        }
        guard fsync(fd) == 0 else { throw posixError(url.path, "fsync") }
    }

    public static func fsyncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    public static func posixError(_ path: String, _ action: String) -> CMRExportError {
        .io(path: path, reason: "\(action) failed: \(String(cString: strerror(errno)))")
    }
}

extension SHA256Hex {
    /// Of a file, read in 1 MiB chunks (exported cines can be large).
    public static func ofFile(_ url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw CMRExportError.io(path: url.path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw CMRExportError.io(path: url.path, reason: "read failed: \(error)")
            }
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }
}
