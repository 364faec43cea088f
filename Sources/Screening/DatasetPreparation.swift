import CaseAnalysis
import Crypto
import ECGFormats
import Foundation
import Imaging

/// A paired ECG–CMR dataset manifest (docs/training-on-real-data.md): a CSV file with a header row.
///
///     subject,ecg,sax,lax,split,label:cad,label:hcm,phenotype:lv_ef,phenotype:lv_edv
///     1000017,ecg/1000017_20205_2_0.xml,cmr/1000017/sa,cmr/1000017/la_4ch.nii.gz,train,0,1,58.2,151
///
/// `subject` (letters, digits, `.`, `_`, `-`; unique), `ecg` (any format ECGFormats reads) and
/// `split` (`train`, `val` or `test`) are required; `sax` / `lax` name a DICOM series folder, a
/// NIfTI file (`.nii`, `.nii.gz`) or a `.npy` array and may be empty; `label:ID` columns are 0, 1
/// or empty (unknown), `phenotype:ID` columns numbers or empty. Paths are relative to the
/// manifest's folder unless absolute.
public struct PairedDataset: Sendable {
    public struct Subject: Sendable, Equatable {
        public var id: String
        public var ecg: String
        public var sax: String?
        public var lax: String?
        public var split: String
        public var labels: [String: Double?]
        public var phenotypes: [String: Double?]
        /// 1-based line of the manifest (for messages).
        public var line: Int
    }

    public var path: String
    public var sha256: String
    public var labelIDs: [String]
    public var phenotypeIDs: [String]
    public var subjects: [Subject]

    public static let splits: Set<String> = ["train", "val", "test"]
    /// A manifest of a million subjects is ~100 MB of CSV; larger is not a dataset manifest.
    public static let maxManifestBytes = 256 << 20
    /// subject, ecg, sax, lax, split and up to about 1,000 label and phenotype columns.
    public static let maxColumns = 1024

    public static func load(_ path: String) throws -> PairedDataset {
        let url = URL(fileURLWithPath: path)
        func bad(_ line: Int, _ what: String) -> DatasetError { DatasetError(file: path, line: line, reason: what) }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = attributes?[.size] as? Int else { throw bad(0, "cannot be read") }
        guard size <= maxManifestBytes else { throw bad(0, "larger than \(maxManifestBytes >> 20) MB (not a dataset manifest)") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw bad(0, "cannot be read (\(error.localizedDescription))") }
        guard let text = String(data: data, encoding: .utf8) else { throw bad(0, "is not UTF-8 text") }
        // The column count is bounded before the table is parsed: 300 k label columns took over 120 s.
        let headerLine = text.utf8.prefix { $0 != UInt8(ascii: "\n") }
        let commas = headerLine.reduce(0) { $0 + ($1 == UInt8(ascii: ",") ? 1 : 0) }
        guard commas < maxColumns else { throw bad(1, "has \(commas + 1) columns, more than the \(maxColumns) a dataset manifest may have") }
        let rows = try CSVTable.parse(text, file: path)
        guard let header = rows.first else { throw bad(1, "is empty (needs a header row)") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        // Every row becomes a dictionary of its columns and the labels are written per subject:
        // 300 k label columns took over 120 s, so the column count is bounded up front.
        guard names.count <= maxColumns else { throw bad(1, "has \(names.count) columns, more than the \(maxColumns) a dataset manifest may have") }
        for required in ["subject", "ecg", "split"] where !names.contains(required) {
            throw bad(1, "has no '\(required)' column")
        }
        let known: Set<String> = ["subject", "ecg", "sax", "lax", "split"]
        for n in names where !known.contains(n) && !n.hasPrefix("label:") && !n.hasPrefix("phenotype:") {
            throw bad(1, "unknown column '\(n.prefix(40))' (subject, ecg, sax, lax, split, label:ID, phenotype:ID)")
        }
        guard Set(names).count == names.count else { throw bad(1, "a column name appears twice") }
        let labelIDs = names.filter { $0.hasPrefix("label:") }.map { String($0.dropFirst(6)) }
        let phenotypeIDs = names.filter { $0.hasPrefix("phenotype:") }.map { String($0.dropFirst(10)) }
        let base = url.deletingLastPathComponent()
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
        }
        var subjects: [Subject] = []
        var seen = Set<String>()
        for row in rows.dropFirst() where !(row.fields.count == 1 && row.fields[0].isEmpty) {
            guard row.fields.count == names.count else {
                throw bad(row.line, "has \(row.fields.count) fields, the header \(names.count)")
            }
            var f: [String: String] = [:]
            for (n, v) in zip(names, row.fields) { f[n] = v.trimmingCharacters(in: .whitespaces) }
            let id = f["subject"] ?? ""
            guard !id.isEmpty, id.count <= 128,
                  id.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) }),
                  !id.hasPrefix(".") else {
                throw bad(row.line, "subject must be 1…128 letters, digits, '.', '_' or '-' (it names the cache file)")
            }
            guard seen.insert(id).inserted else { throw bad(row.line, "subject '\(id)' appears twice") }
            let split = f["split"] ?? ""
            guard splits.contains(split) else { throw bad(row.line, "split must be train, val or test") }
            guard let ecg = f["ecg"], !ecg.isEmpty else { throw bad(row.line, "ecg is empty") }
            func number(_ column: String, allowed: ClosedRange<Double>? = nil) throws -> Double? {
                let v = f[column] ?? ""
                if v.isEmpty || v.uppercased() == "NA" { return nil }
                guard let d = Double(v), d.isFinite else { throw bad(row.line, "\(column) must be a number or empty") }
                if let allowed, !allowed.contains(d) { throw bad(row.line, "\(column) must be 0, 1 or empty") }
                return d
            }
            var labels: [String: Double?] = [:]
            for l in labelIDs {
                let v = try number("label:\(l)", allowed: 0...1)
                if let v, v != 0, v != 1 { throw bad(row.line, "label:\(l) must be 0, 1 or empty") }
                labels[l] = v
            }
            var phenotypes: [String: Double?] = [:]
            for p in phenotypeIDs { phenotypes[p] = try number("phenotype:\(p)") }
            let sax = f["sax"].flatMap { $0.isEmpty ? nil : resolve($0) }
            let lax = f["lax"].flatMap { $0.isEmpty ? nil : resolve($0) }
            subjects.append(Subject(id: id, ecg: resolve(ecg), sax: sax, lax: lax, split: split, labels: labels,
                                    phenotypes: phenotypes, line: row.line))
        }
        guard !subjects.isEmpty else { throw bad(1, "lists no subjects") }
        let digest = SHA256Hex.of(data)
        return PairedDataset(path: path, sha256: digest, labelIDs: labelIDs, phenotypeIDs: phenotypeIDs, subjects: subjects)
    }
}

/// Why a dataset manifest or one of its rows was refused.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }
}

/// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks.
enum CSVTable {
    struct Row { var fields: [String]; var line: Int }

    static func parse(_ text: String, file: String) throws -> [Row] {
        var rows: [Row] = []
        var field = "", fields: [String] = []
        var quoted = false, atFieldStart = true
        var line = 1, rowLine = 1
        var it = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return it.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let d = next() {
                        if d == "\"" { field.append("\"") } else { quoted = false; pending = d }
                    } else { quoted = false }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                quoted = true
                atFieldStart = false
            case ",":
                fields.append(field); field = ""; atFieldStart = true
            case "\n", "\r\n", "\r":
                fields.append(field); field = ""; atFieldStart = true
                rows.append(Row(fields: fields, line: rowLine))
                fields = []
                line += 1
                rowLine = line
            default:
                field.append(c)
                atFieldStart = false
            }
        }
        if quoted { throw DatasetError(file: file, line: rowLine, reason: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty { fields.append(field); rows.append(Row(fields: fields, line: rowLine)) }
        return rows
    }
}

/// `ecg2cmr prepare`: every ECG of a dataset through the ECGFormats readers and the bundle's own
/// preprocessing — the very code inference runs — into a cache the training code reads:
/// `ecg/<subject>.npy` (float32 `[leads, sampleCount]`) and `index.json` (docs/training-on-real-data.md).
public struct DatasetPreparation {
    public let cases: CaseAnalysis
    public var readerOptions = ECGFileReader.Options()

    public init(cases: CaseAnalysis) { self.cases = cases }

    public struct Summary: Sendable {
        public var prepared: Int
        public var failures: [(subject: String, file: String, reason: String)]
    }

    public func prepare(_ dataset: PairedDataset, into out: URL, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        let fm = FileManager.default
        let ecgDir = out.appendingPathComponent("ecg")
        try fm.createDirectory(at: ecgDir, withIntermediateDirectories: true)
        let bundle = cases.model
        let spec = bundle.input
        var entries: [[String: Any]] = []
        var failures: [(subject: String, file: String, reason: String)] = []
        for (i, s) in dataset.subjects.enumerated() {
            defer { progress(i + 1, dataset.subjects.count) }
            do {
                let record = try ECGFileReader.read(url: URL(fileURLWithPath: s.ecg), options: readerOptions)
                let prepared = try cases.prepare(record)
                let npy = NPYWriter.encode(prepared.values, shape: [prepared.leads.count, prepared.sampleCount])
                let name = "ecg/\(s.id).npy"
                try AtomicReplace.write(npy, to: out.appendingPathComponent(name))
                func present(_ p: String?) -> Any { p.map { $0 as Any } ?? NSNull() }
                func values(_ d: [String: Double?]) -> [String: Any] { d.mapValues { $0.map { $0 as Any } ?? NSNull() } }
                entries.append([
                    "subject": s.id, "split": s.split,
                    "ecg": ["file": s.ecg, "sha256": record.provenance.sha256, "format": "\(record.provenance.format)",
                            "npy": name, "npySHA256": SHA256Hex.of(npy),
                            "sourceOffsetSeconds": prepared.sourceOffsetSeconds,
                            "sourceSamplingRate": record.samplingRate] as [String: Any],
                    "sax": present(s.sax), "lax": present(s.lax),
                    "labels": values(s.labels), "phenotypes": values(s.phenotypes),
                ])
            } catch CaseAnalysisError.preparation(_, let reason) {
                failures.append((s.id, s.ecg, reason))
            } catch {
                failures.append((s.id, s.ecg, "\(error)"))
            }
        }
        let index: [String: Any] = [
            "formatVersion": 1,
            "dataset": ["file": dataset.path, "sha256": dataset.sha256],
            "model": ["id": bundle.id, "directory": bundle.directory.path, "weightsSHA256": bundle.weightsSHA256],
            "input": ["leads": spec.leads, "samplingRate": spec.samplingRate, "sampleCount": spec.sampleCount,
                      "preprocessing": try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec.preprocessing))],
            "labels": dataset.labelIDs, "phenotypes": dataset.phenotypeIDs,
            "subjects": entries,
            "failures": failures.map { ["subject": $0.subject, "file": $0.file, "reason": $0.reason] },
        ]
        let json = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicReplace.write(json, to: out.appendingPathComponent("index.json"))
        return Summary(prepared: entries.count, failures: failures)
    }

}
