import CaseAnalysis
import ECGFormats
import Foundation
import Imaging

/// Exports many ECG files one after another; a failing file is reported and the rest continue.
public enum BatchExporter {
    public struct Outcome: Sendable {
        public var file: URL
        public var caseName: String?
        public var result: CaseExportResult?
        /// Why this file failed (names the file), nil on success.
        public var error: String?
        public var seconds: Double
        public var failed: Bool { error != nil }
    }

    public struct Progress: Sendable {
        public var fileIndex: Int
        public var fileCount: Int
        public var file: URL
        public var caseProgress: ExportProgress?
        /// 0…1 over the whole batch.
        public var fraction: Double
    }

    /// Case names come from `CaseExporter.caseName` (file stem + 8 hex of the input SHA-256); the
    /// same input listed twice gets `-2`, `-3` …, so re-runs of the same list map files to the same folders.
    /// Files are read with `exporter.readOptions` (recorded in each manifest).
    public static func export(files: [URL], exporter: CaseExporter, into outputDirectory: URL,
                              progress: ((Progress) -> Void)? = nil,
                              completed: ((Outcome) -> Void)? = nil) -> [Outcome] {
        var used = Set<String>()
        var outcomes: [Outcome] = []
        for (index, file) in files.enumerated() {
            let start = Date()
            let base = Double(index) / Double(max(1, files.count))
            progress?(Progress(fileIndex: index, fileCount: files.count, file: file, caseProgress: nil, fraction: base))
            var outcome = Outcome(file: file, caseName: nil, result: nil, error: nil, seconds: 0)
            do {
                let record = try ECGFileReader.read(url: file, options: exporter.readOptions)
                var name = CaseExporter.caseName(for: record)
                var suffix = 2
                let stem = name
                while used.contains(name) { name = "\(stem)-\(suffix)"; suffix += 1 }
                used.insert(name)
                outcome.caseName = name
                outcome.result = try exporter.export(record: record, caseName: name, into: outputDirectory) { p in
                    progress?(Progress(fileIndex: index, fileCount: files.count, file: file, caseProgress: p,
                                       fraction: base + p.fraction / Double(max(1, files.count))))
                }
            } catch let e as ECGFormatError {
                outcome.error = e.description
            } catch {
                outcome.error = "\(file.path): \(error)"
            }
            outcome.seconds = Date().timeIntervalSince(start)
            completed?(outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }
}
