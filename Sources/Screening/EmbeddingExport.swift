import CaseAnalysis
import ECGFormats
import Foundation
import Imaging

/// One ECG's embedding, as `ecg2cmr embed` writes it.
public struct EmbeddingRow: Sendable, Equatable {
    public var file: String
    public var sha256: String
    public var modelID: String
    public var vector: [Float]

    public init(file: String, sha256: String, modelID: String, vector: [Float]) {
        self.file = file
        self.sha256 = sha256
        self.modelID = modelID
        self.vector = vector
    }
}

/// Writes embeddings by the extension of the output path:
/// - `.jsonl`: one `{"file", "sha256", "model", "embedding": [...]}` object per line;
/// - `.csv`: columns `file,sha256,model,e0,…,e{D-1}`;
/// - `.npy`: a float32 `[N, D]` NumPy array (format 1.0, little-endian, C order) plus
///   `<name>.index.csv` beside it (`row,file,sha256,model`) naming each row.
public enum EmbeddingExport {
    public enum Format: String, Sendable { case jsonl, csv, npy }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func format(of path: String) throws -> Format {
        let ext = (path as NSString).pathExtension.lowercased()
        guard let f = Format(rawValue: ext) else { throw Failure(description: "\(path): the output must end in .npy, .jsonl or .csv") }
        return f
    }

    /// Writes `rows` to `path` (atomically: a temporary file renamed into place).
    public static func write(_ rows: [EmbeddingRow], to path: String) throws {
        let format = try format(of: path)
        let dims = Set(rows.map(\.vector.count))
        guard dims.count <= 1 else { throw Failure(description: "embeddings of different sizes \(dims.sorted()) cannot share one file") }
        let url = URL(fileURLWithPath: path)
        switch format {
        case .jsonl:
            var text = ""
            func string(_ s: String) throws -> String {
                String(decoding: try JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
            }
            for r in rows {
                // Floats in their shortest round-trip form; a non-finite value (never from a valid bundle) as null.
                let values = r.vector.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",")
                text += "{\"file\":\(try string(r.file)),\"sha256\":\(try string(r.sha256)),\"model\":\(try string(r.modelID)),\"embedding\":[\(values)]}\n"
            }
            try AtomicReplace.write(Data(text.utf8), to: url)
        case .csv:
            let d = dims.first ?? 0
            var lines = [(["file", "sha256", "model"] + (0..<d).map { "e\($0)" }).joined(separator: ",")]
            for r in rows {
                lines.append(([csv(r.file), r.sha256, csv(r.modelID)] + r.vector.map { "\($0)" }).joined(separator: ","))
            }
            try AtomicReplace.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: url)
        case .npy:
            try AtomicReplace.write(npy(rows.flatMap(\.vector), rows: rows.count, cols: dims.first ?? 0), to: url)
            var index = ["row,file,sha256,model"]
            for (i, r) in rows.enumerated() { index.append("\(i),\(csv(r.file)),\(r.sha256),\(csv(r.modelID))") }
            let indexURL = url.deletingPathExtension().appendingPathExtension("index.csv")
            try AtomicReplace.write(Data((index.joined(separator: "\n") + "\n").utf8), to: indexURL)
        }
    }

    /// NumPy `.npy` bytes (format 1.0) of a float32 matrix.
    public static func npy(_ values: [Float], rows: Int, cols: Int) -> Data {
        NPYWriter.encode(values, shape: [rows, cols])
    }

    static func csv(_ field: String) -> String {
        field.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}

/// Reads, prepares and embeds ECG files in batches: the rows, and (file, reason) of every failure.
public struct EmbeddingRunner {
    public let cases: CaseAnalysis
    public var readerOptions = ECGFileReader.Options()
    public var batchSize = 16

    public init(cases: CaseAnalysis) { self.cases = cases }

    public func run(paths: [String], progress: (Int, Int) -> Void = { _, _ in }) -> (rows: [EmbeddingRow], failures: [(file: String, reason: String)]) {
        let items = ECGFileDiscovery().discover(paths)
        var rows: [EmbeddingRow] = []
        var failures: [(file: String, reason: String)] = []
        var pending: [(record: ECGRecord, prepared: PreparedECG)] = [], pendingPaths: [String] = []
        func flush() {
            guard !pending.isEmpty else { return }
            for (path, outcome) in zip(pendingPaths, cases.run(batch: pending, options: CaseOptions(parts: .findings))) {
                switch outcome {
                case .success(let result):
                    rows.append(EmbeddingRow(file: path, sha256: result.record.provenance.sha256,
                                             modelID: result.analysis.modelID, vector: result.analysis.embedding))
                case .failure(let error):
                    failures.append((path, "\(error)"))
                }
            }
            pending.removeAll()
            pendingPaths.removeAll()
        }
        for (i, item) in items.enumerated() {
            switch item {
            case let .unreadable(path, reason):
                failures.append((path, reason))
            case .ecgFile(let path):
                do {
                    let record = try ECGFileReader.read(url: URL(fileURLWithPath: path), options: readerOptions)
                    pending.append((record, try cases.prepare(record)))
                    pendingPaths.append(path)
                } catch CaseAnalysisError.preparation(_, let reason) {
                    failures.append((path, reason))
                } catch {
                    failures.append((path, "\(error)"))
                }
            }
            if pending.count >= batchSize { flush() }
            progress(i + 1, items.count)
        }
        flush()
        return (rows, failures)
    }
}
