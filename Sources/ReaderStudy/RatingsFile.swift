import ECGFormats
import Foundation

/// Long-format ratings files: read MRMCaov's layout (`reader,treatment,case,truth,rating`; `modality`
/// or `test` accepted for `treatment`, extra columns ignored) and write it, or iMRMC's `.imrmc` input.
public enum RatingsFile {
    /// Reads a CSV ratings file; errors name the file and the line.
    public static func read(url: URL) throws -> [MRMCRating] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw StudyError(.invalidRatings, file: url.path, "cannot read the ratings file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw StudyError(.invalidRatings, file: url.path, "not UTF-8 text")
        }
        return try parse(text, source: url.path)
    }

    public static func parse(_ text: String, source: String? = nil) throws -> [MRMCRating] {
        func fail(_ line: Int, _ message: String) -> StudyError { StudyError(.invalidRatings, file: source, "line \(line): \(message)") }
        let records = try CSVRecords.split(text, source: source)
        guard let header = records.first else { throw StudyError(.invalidRatings, file: source, "empty file: expected a header reader,treatment,case,truth,rating") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "\u{FEFF}")) }
        func column(_ options: [String]) throws -> Int {
            guard let i = names.firstIndex(where: { options.contains($0) }) else {
                throw fail(header.line, "no '\(options[0])' column (header: \(names.joined(separator: ",")); expected reader,treatment,case,truth,rating)")
            }
            return i
        }
        let reader = try column(["reader", "reader_id", "readerid"]), treatment = try column(["treatment", "modality", "test", "modalityid"])
        let caseColumn = try column(["case", "case_id", "caseid"]), truth = try column(["truth"]), rating = try column(["rating", "score"])
        var rows: [MRMCRating] = []
        for record in records.dropFirst() {
            if record.fields.count == 1, record.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let f = record.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == names.count else { throw fail(record.line, "\(f.count) fields, the header has \(names.count)") }
            for (i, what) in [(reader, "reader"), (treatment, "treatment"), (caseColumn, "case")] where f[i].isEmpty {
                throw fail(record.line, "empty \(what)")
            }
            let t: Bool
            switch f[truth].lowercased() {
            case "1", "1.0", "true", "t", "yes", "positive": t = true
            case "0", "0.0", "false", "f", "no", "negative": t = false
            default: throw fail(record.line, "truth '\(f[truth])' is not 0 or 1")
            }
            guard let r = Double(f[rating]), r.isFinite else { throw fail(record.line, "rating '\(f[rating])' is not a number") }
            rows.append(MRMCRating(reader: f[reader], treatment: f[treatment], caseID: f[caseColumn], truth: t, rating: r))
        }
        guard !rows.isEmpty else { throw StudyError(.invalidRatings, file: source, "no ratings after the header") }
        return rows
    }

    /// MRMCaov's long layout (`read.csv` then `mrmc(empirical_auc(truth, rating), treatment, reader, case, data)`).
    public static func mrmcaovCSV(_ rows: [MRMCRating]) -> String {
        var lines = ["reader,treatment,case,truth,rating"]
        for r in rows {
            lines.append([field(r.reader), field(r.treatment), field(r.caseID), r.truth ? "1" : "0", number(r.rating)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// iMRMC's input file: a description, the counts NR/N0/N1/NM, then `BEGIN DATA:` and rows
    /// `readerID,caseID,modalityID,score`, with the truth given as rows of reader -1 and modality 0.
    /// iMRMC wants integer case ids, so cases are numbered 1… in order of appearance; the description
    /// lists the original ids.
    public static func imrmc(_ rows: [MRMCRating], title: String) -> String {
        var caseNumber: [String: Int] = [:], caseOrder: [String] = [], truth: [String: Bool] = [:]
        var readers: [String] = [], modalities: [String] = []
        for r in rows {
            if caseNumber[r.caseID] == nil { caseOrder.append(r.caseID); caseNumber[r.caseID] = caseOrder.count }
            truth[r.caseID] = r.truth
            if !readers.contains(r.reader) { readers.append(r.reader) }
            if !modalities.contains(r.treatment) { modalities.append(r.treatment) }
        }
        // iMRMC splits on commas and colons: keep identifiers plain.
        func plain(_ s: String) -> String { String(s.map { ",:\r\n".contains($0) ? "_" : $0 }) }
        let positives = caseOrder.filter { truth[$0] == true }.count
        var lines = ["ecg2cmr reader study export: \(plain(title))", "case numbers: " + caseOrder.enumerated().map { "\($0.offset + 1)=\(plain($0.element))" }.joined(separator: " "), "",
                     "NR: \(readers.count)", "N0: \(caseOrder.count - positives)", "N1: \(positives)", "NM: \(modalities.count)", "", "BEGIN DATA:"]
        for c in caseOrder { lines.append("-1,\(caseNumber[c] ?? 0),0,\(truth[c] == true ? 1 : 0)") }
        for r in rows { lines.append("\(plain(r.reader)),\(caseNumber[r.caseID] ?? 0),\(plain(r.treatment)),\(number(r.rating))") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }
    /// RFC 4180 quoting after spreadsheet-formula neutralising.
    static func field(_ s: String) -> String {
        let neutral: String = SpreadsheetCell.neutralise(s)
        let special: Set<Character> = [",", "\"", "\n", "\r"]
        guard neutral.contains(where: { special.contains($0) }) else { return neutral }
        let escaped: String = neutral.replacingOccurrences(of: "\"", with: "\"\"")
        return "\"" + escaped + "\""
    }
}

/// RFC 4180 records (quoted fields may hold commas, quotes and newlines), each with its first line number.
enum CSVRecords {
    struct Record { var line: Int; var fields: [String] }

    static func split(_ text: String, source: String?) throws -> [Record] {
        var records: [Record] = [], fields: [String] = [], field = ""
        var inQuotes = false, line = 1, recordLine = 1, quotedOpenedAt = 1
        var chars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? { if let p = pending { pending = nil; return p }; return chars.next() }
        while let ch = next() {
            if inQuotes {
                if ch == "\"" {
                    if let after = next() {
                        if after == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = after }
                    } else { inQuotes = false }
                } else {
                    if ch == "\n" { line += 1 }
                    field.unicodeScalars.append(ch)
                }
                continue
            }
            switch ch {
            case "\"" where field.isEmpty: inQuotes = true; quotedOpenedAt = line
            case ",": fields.append(field); field = ""
            case "\r": continue
            case "\n":
                fields.append(field); field = ""
                records.append(Record(line: recordLine, fields: fields)); fields = []
                line += 1; recordLine = line
            default: field.unicodeScalars.append(ch)
            }
        }
        if inQuotes { throw StudyError(.invalidRatings, file: source, "line \(quotedOpenedAt): a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty { fields.append(field); records.append(Record(line: recordLine, fields: fields)) }
        return records
    }
}
