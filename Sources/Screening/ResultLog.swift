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

    public init(path: String, format: Format? = nil) throws {
        self.path = path
        self.format = format ?? (path.lowercased().hasSuffix(".csv") ? .csv : .jsonl)
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ResultLogError(path: path, message: "cannot open results file: \(String(cString: strerror(errno)))")
        }
        do { try recover() } catch { close(descriptor); throw error }
    }

    deinit { close(descriptor) }

    /// Cuts a torn last line and loads the set of completed inputs.
    private func recover() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard !data.isEmpty else { return }
        var validLength = data.count
        if data.last != UInt8(ascii: "\n") {
            validLength = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            guard ftruncate(descriptor, off_t(validLength)) == 0 else {
                throw ResultLogError(path: path, message: "cannot cut torn last line: \(String(cString: strerror(errno)))")
            }
        }
        let lines = data.prefix(validLength).split(separator: UInt8(ascii: "\n"))
        switch format {
        case .jsonl:
            for (index, line) in lines.enumerated() {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let file = object["file"] as? String else {
                    throw ResultLogError(path: path, message: "line \(index + 1) is not a result object; refusing to append to a foreign file")
                }
                completedFiles.insert(file)
            }
        case .csv:
            guard let header = lines.first else { return }
            let columns = CSVRow.parse(String(decoding: header, as: UTF8.self))
            guard columns.first == "file" else {
                throw ResultLogError(path: path, message: "first column is not 'file'; refusing to append to a foreign file")
            }
            csvColumns = columns
            for line in lines.dropFirst() {
                if let file = CSVRow.parse(String(decoding: line, as: UTF8.self)).first { completedFiles.insert(file) }
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
            line = (csvColumns ?? []).map { CSVRow.escape(values[$0] ?? "") }.joined(separator: ",")
        }
        try writeLine(line)
        completedFiles.insert(result.file)
    }

    /// Flushes to stable storage (called at the end of a batch).
    public func sync() { fsync(descriptor) }

    private func writeLine(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw ResultLogError(path: path, message: "short write to results file: \(String(cString: strerror(errno)))")
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
