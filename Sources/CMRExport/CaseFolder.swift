// Writing a case folder: staging under a hidden name, the atomic rename into place, and the
// export folder's lock. What goes into the folder is decided in CaseExporter.

import ECGFormats
import Foundation
import Imaging

/// Case folders are assembled under `.<case>.partial-<pid>-<n>` and renamed into place.
enum Staging {
    static func create(caseName: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(".\(caseName).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))", isDirectory: true)
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false) } catch {
            throw CMRExportError.io(path: url.path, reason: "cannot create staging folder: \(error.localizedDescription)")
        }
        return url
    }

    /// Makes `staging` the case folder: fsync its folders, move any old case folder aside, rename, fsync the parent.
    static func commit(_ staging: URL, to final: URL) throws {
        let fm = FileManager.default
        for sub in (try? fm.contentsOfDirectory(at: staging, includingPropertiesForKeys: [.isDirectoryKey])) ?? [] {
            if (try? sub.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true { AtomicFile.fsyncDirectory(sub) }
        }
        AtomicFile.fsyncDirectory(staging)
        let parent = final.deletingLastPathComponent()
        var old: URL?
        if fm.fileExists(atPath: final.path) {
            let aside = parent.appendingPathComponent(".\(final.lastPathComponent).old-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            guard rename(final.path, aside.path) == 0 else { throw AtomicFile.posixError(final.path, "move old export aside") }
            old = aside
        }
        guard rename(staging.path, final.path) == 0 else { throw AtomicFile.posixError(final.path, "rename staging folder") }
        AtomicFile.fsyncDirectory(parent)
        if let old { try? fm.removeItem(at: old) }
    }

    /// Removes staging / set-aside folders of `caseName` left by processes that no longer run.
    static func removeStale(caseName: String, in dir: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return }
        for n in names where n.hasPrefix(".\(caseName).partial-") || n.hasPrefix(".\(caseName).old-") {
            // ".<case>.partial-<pid>-<n>": keep folders of a live process (another export running).
            let tail = n.dropFirst(caseName.count + 2)                       // "partial-<pid>-<n>" / "old-<pid>-<n>"
            let parts = tail.split(separator: "-")
            if parts.count >= 2, let pid = Int32(parts[1]), pid != getpid(), kill(pid, 0) == 0 { continue }
            try? fm.removeItem(at: dir.appendingPathComponent(n))
        }
    }
}

/// The exclusive lock on an export folder (`<folder>/.ecg2cmr-export.lock`, holding the PID), so two
/// processes never assemble cases in one folder at once. Re-entrant within a process: a batch holds
/// it for the whole run while each case export holds it again.
public final class ExportFolderLock: @unchecked Sendable {
    private static let registryLock = NSLock()
    private nonisolated(unsafe) static var held: [String: (lock: ExclusiveLock, count: Int)] = [:]

    public static func lockPath(for folder: URL) -> String {
        folder.standardizedFileURL.appendingPathComponent(".ecg2cmr-export.lock").path
    }

    private let key: String
    private var released = false

    private init(key: String) { self.key = key }

    /// Takes (or re-takes, in this process) the folder's lock; creates the folder if needed.
    public static func hold(_ folder: URL, purpose: String = "ecg2cmr export") throws -> ExportFolderLock {
        let key = lockPath(for: folder)
        registryLock.lock(); defer { registryLock.unlock() }
        if let entry = held[key] {
            held[key] = (entry.lock, entry.count + 1)
            return ExportFolderLock(key: key)
        }
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw CMRExportError.io(path: folder.path, reason: "cannot create folder: \(error.localizedDescription)")
        }
        let lock: ExclusiveLock
        do {
            lock = try ExclusiveLock(lockPath: key, resource: folder.path, purpose: "\(purpose) (export folder)")
        } catch let e as LockError {
            throw CMRExportError.io(path: folder.path, reason: "export folder \(e.message)")
        }
        held[key] = (lock, 1)
        return ExportFolderLock(key: key)
    }

    public func release() {
        Self.registryLock.lock(); defer { Self.registryLock.unlock() }
        guard !released, let entry = Self.held[key] else { return }
        released = true
        if entry.count <= 1 { entry.lock.release(); Self.held[key] = nil } else { Self.held[key] = (entry.lock, entry.count - 1) }
    }

    deinit { release() }
}
