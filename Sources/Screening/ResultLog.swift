import ECGFormats
import Foundation

public struct ResultLogError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}

/// An append-only results file (JSON Lines or CSV) that survives `kill -9`.
///
/// Each finished file is written as one complete line with a single `write(2)` on an `O_APPEND`
/// descriptor, so a killed batch leaves at most one torn final line. On reopening, a torn tail is
/// cut back to the last newline and every `file` already present is skipped — each input is
/// reported exactly once across any number of interrupted runs.
public final class ResultLog {
    public enum Format: String, Sendable { case jsonl, csv }

    public let path: String
    public let format: Format
    /// Inputs already reported by earlier runs.
    public private(set) var completedFiles: Set<String> = []
    private var descriptor: Int32
    private var csvColumns: [String]?

    /// Held for the life of the log: a second `screen` on the same output refuses instead of
    /// reporting every file twice.
    private var lock: ExclusiveLock?

    /// Fields every line this tool writes carries (the check that an existing file is ours).
    static let requiredJSONFields = ["file", "status"]
    /// The first columns of every CSV this tool writes.
    static let csvLeadingColumns = ["file", "status", "error", "format", "input_sha256"]

    public init(path: String, format: Format? = nil, lock takeLock: Bool = true) throws {
        self.path = path
        self.format = format ?? (path.lowercased().hasSuffix(".csv") ? .csv : .jsonl)
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        var st = stat()
        if lstat(path, &st) == 0 {
            let mode = st.st_mode & S_IFMT
            if mode == S_IFLNK {
                throw ResultLogError(path: path, message: "is a symbolic link; refusing to write results through it (give the real path)")
            }
            if mode != S_IFREG {
                throw ResultLogError(path: path, message: "is not a regular file (it is \(fileKindName(mode: st.st_mode))); refusing to write results to it")
            }
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw ResultLogError(path: path, message: "cannot open results file: \(describeErrno(errno))")
        }
        do {
            // Content first (nothing is created beside a foreign file, not even the lock file), then
            // the lock, then — under the lock — the check again and the torn-tail cut.
            try recover(cutTornTail: false)
            if takeLock {
                lock = try ExclusiveLock(lockPath: path + ".lock", resource: path, purpose: "ecg2cmr screen --out \(path)")
            }
            completedFiles = []
            try recover(cutTornTail: true)
        } catch { close(descriptor); throw error }
    }

    deinit { close(descriptor) }

    /// Checks the file is a results file of this tool, then cuts a torn last line and loads the set
    /// of completed inputs. Nothing is changed in a file that fails the check.
    private func recover(cutTornTail: Bool) throws {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else {
            throw ResultLogError(path: path, message: "cannot examine results file: \(describeErrno(errno))")
        }
        guard st.st_size > 0 else { return }
        guard st.st_size <= 4 << 30 else {
            throw ResultLogError(path: path, message: "is \(st.st_size) bytes; not a results file of this tool, refusing to append to it")
        }
        var data = Data(count: Int(st.st_size))
        let got = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard got == data.count else {
            throw ResultLogError(path: path, message: "cannot read results file: \(describeErrno(errno))")
        }
        let validLength = data.last == UInt8(ascii: "\n") ? data.count : ((data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0)
        let lines = data.prefix(validLength).split(separator: UInt8(ascii: "\n"))
        // A torn tail alone (no complete line) must still look like ours before it is cut.
        let torn = data.suffix(from: validLength)
        switch format {
        case .jsonl:
            var found: Set<String> = []
            for (index, line) in lines.enumerated() {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let file = object["file"] as? String, object["status"] is String else {
                    throw ResultLogError(path: path, message: "line \(index + 1) is not a result object of this tool (a JSON object with 'file' and 'status'); refusing to change a foreign file")
                }
                found.insert(file)
            }
            if lines.isEmpty, !torn.isEmpty, !torn.starts(with: Array("{\"".utf8)) {
                throw ResultLogError(path: path, message: "does not start like a results file of this tool; refusing to change a foreign file")
            }
            completedFiles = found
        case .csv:
            let first = lines.first ?? torn
            let columns = CSVRow.parse(String(decoding: first, as: UTF8.self))
            guard Array(columns.prefix(ResultLog.csvLeadingColumns.count)) == ResultLog.csvLeadingColumns
                    || (lines.isEmpty && ResultLog.csvLeadingColumns.joined(separator: ",").hasPrefix(String(decoding: first, as: UTF8.self))) else {
                throw ResultLogError(path: path, message: "header row is not this tool's (\(ResultLog.csvLeadingColumns.joined(separator: ",")),…); refusing to change a foreign file")
            }
            if !lines.isEmpty { csvColumns = columns }
            for line in lines.dropFirst() {
                if let file = CSVRow.parse(String(decoding: line, as: UTF8.self)).first { completedFiles.insert(SpreadsheetCell.restore(file)) }
            }
        }
        if cutTornTail, validLength < data.count {
            guard ftruncate(descriptor, off_t(validLength)) == 0 else {
                throw ResultLogError(path: path, message: "cannot cut torn last line: \(describeErrno(errno))")
            }
        }
    }

    /// Appends one result; `fields` must contain "file". For CSV the first call fixes the columns.
    public func append(_ result: ScreeningResult) throws {
        let line: String
        switch format {
        case .jsonl:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = String(decoding: try encoder.encode(result), as: UTF8.self)
        case .csv:
            let flat = result.flattened()
            if csvColumns == nil {
                let columns = flat.map(\.0)
                try writeLine(columns.map(CSVRow.escape).joined(separator: ","))
                csvColumns = columns
            }
            let values = Dictionary(flat, uniquingKeysWith: { first, _ in first })
            line = (csvColumns ?? []).map { CSVRow.escape(SpreadsheetCell.neutralise(values[$0] ?? "")) }.joined(separator: ",")
        }
        try writeLine(line)
        completedFiles.insert(result.file)
    }

    /// Flushes to stable storage (called at the end of a batch).
    public func sync() { fsync(descriptor) }

    private func writeLine(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ResultLogError(path: path, message: "cannot write to results file: \(describeErrno(errno))")
            }
            if n == 0 {
                throw ResultLogError(path: path, message: "cannot write to results file: \(describeErrno(ENOSPC))")
            }
            offset += n
        }
    }
}

/// Minimal RFC 4180 quoting for the results CSV.
enum CSVRow {
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func parse(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let ch = iterator.next() {
            if quoted {
                if ch == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; if next == "," { fields.append(current); current = "" } else { current.append(next) } }
                    } else { quoted = false }
                } else { current.append(ch) }
            } else if ch == "\"" { quoted = true }
            else if ch == "," { fields.append(current); current = "" }
            else { current.append(ch) }
        }
        fields.append(current)
        return fields
    }
}
