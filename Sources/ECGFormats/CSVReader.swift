import Foundation

/// Reads CSV/TSV ECGs: optional `#` comment lines (e.g. `# sampling_rate=500`, `# units=uV`), a header
/// row of lead names, then one row per sample. A time column (`time`, `t`, `time_s`, `seconds`,
/// `sample`) is recognised and not treated as a lead; seconds in it give the sampling rate.
public struct CSVReader: SingleFileECGReader {
    public static let format = ECGFileFormat.csv
    public enum Unit: String, Sendable { case millivolts = "mV", microvolts = "uV" }

    /// Sampling rate when the file does not state one (a `--sampling-rate` flag).
    public var samplingRate: Double?
    /// Amplitude unit when the file does not state one; the default is millivolts.
    public var unit: Unit?

    public init(samplingRate: Double? = nil, unit: Unit? = nil) {
        self.samplingRate = samplingRate
        self.unit = unit
    }

    public func read(data: Data, path: String) throws -> ECGRecord {
        _ = try decodeUTF8(data, file: path, what: "CSV file")   // valid UTF-8 or a typed error
        let bytes = [UInt8](data)
        var settings: [String: String] = [:]
        var header: [String]?
        var delimiter: UInt8 = UInt8(ascii: ",")
        var columns: [[Float]] = []
        var timeColumn: Int?
        var times: [Double] = []
        var lineNo = 0
        var rows = 0
        // Rows are bounded by the file's own size, so no count from the file can over-allocate.
        // Lines and fields are cut on UTF-8 bytes: per-Character String work cost ~20× more on a
        // 10 s, 500 Hz file; the comment and header lines (a handful) still go through String.
        var i = 0
        let n = bytes.count
        while i < n {
            var lineEnd = i
            while lineEnd < n, !CSVReader.isLineBreak(bytes[lineEnd]) { lineEnd += 1 }
            let next = lineEnd < n && bytes[lineEnd] == 0x0D && lineEnd + 1 < n && bytes[lineEnd + 1] == 0x0A ? lineEnd + 2 : lineEnd + 1
            defer { i = next }
            lineNo += 1
            var lo = i, hi = lineEnd
            if lineNo == 1, hi - lo >= 3, bytes[lo] == 0xEF, bytes[lo + 1] == 0xBB, bytes[lo + 2] == 0xBF { lo += 3 }
            while lo < hi, CSVReader.isBlank(bytes[lo]) { lo += 1 }
            while hi > lo, CSVReader.isBlank(bytes[hi - 1]) { hi -= 1 }
            if lo == hi { continue }
            // Header and comment lines go through String: bound them so a one-line 100 MB file is
            // refused after 64 KiB of work, not after parsing it all.
            if (header == nil || bytes[lo] == UInt8(ascii: "#")), hi - lo > CSVReader.maxTextLineBytes {
                throw ECGFormatError(.malformedHeader, file: path, "\(header == nil ? "header" : "comment") line is \(hi - lo) bytes long, more than the \(CSVReader.maxTextLineBytes) a CSV ECG header needs", at: "line \(lineNo)")
            }
            if bytes[lo] == UInt8(ascii: "#") {
                CSVReader.parseSettings(String(decoding: bytes[(lo + 1)..<hi], as: UTF8.self), into: &settings)
                continue
            }
            guard let names = header else {
                let trimmed = String(decoding: bytes[lo..<hi], as: UTF8.self).trimmedOfWhitespace()
                let d: Character = trimmed.contains("\t") ? "\t" : (trimmed.contains(",") ? "," : (trimmed.contains(";") ? ";" : ","))
                delimiter = d.asciiValue ?? UInt8(ascii: ",")
                let names = trimmed.split(separator: d, omittingEmptySubsequences: false)
                    .map { $0.trimmedOfWhitespace().trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                if names.contains(where: { Double($0) != nil && !$0.isEmpty }) && names.allSatisfy({ Double($0) != nil }) {
                    throw ECGFormatError(.malformedHeader, file: path, "first row holds numbers, not lead names; add a header row (I,II,…)", at: "line \(lineNo)")
                }
                if let empty = names.firstIndex(where: { $0.isEmpty }) {
                    throw ECGFormatError(.malformedHeader, file: path, "column \(empty + 1) of the header row has no name", at: "line \(lineNo)")
                }
                guard names.count <= ReaderLimits.maxLeads + 1 else {
                    throw ECGFormatError(.invalidValue, file: path, "\(names.count) columns, more than this reader accepts", at: "line \(lineNo)")
                }
                timeColumn = names.firstIndex { ["time", "t", "time_s", "time (s)", "seconds", "sample", "index"].contains($0.lowercased()) }
                header = names
                columns = Array(repeating: [], count: names.count)
                continue
            }
            var col = 0
            var f = lo
            while true {
                var fieldEnd = f
                while fieldEnd < hi, bytes[fieldEnd] != delimiter { fieldEnd += 1 }
                guard col < names.count else {
                    throw ECGFormatError(.malformedHeader, file: path, "row has more than the \(names.count) columns of the header", at: "line \(lineNo)")
                }
                var a = f, b = fieldEnd
                while a < b, CSVReader.isBlank(bytes[a]) { a += 1 }
                while b > a, CSVReader.isBlank(bytes[b - 1]) { b -= 1 }
                let value: Double
                if a == b || CSVReader.isNaN(bytes, a, b) {
                    value = .nan
                } else if b - a <= 64, let v = CSVReader.number(bytes, a, b), v.isFinite {
                    // What rounds to a finite Float is a sample: our own writer prints Float.max as
                    // 3.4028235e+38, a little above it as a Double (the writers fuzz target found it).
                    guard Float(v).isFinite else {
                        throw ECGFormatError(.invalidValue, file: path, "'\(String(decoding: bytes[a..<b], as: UTF8.self))' is too large for a 32-bit sample", at: "line \(lineNo), column \(col + 1) (\(TerminalText.sanitize(names[col])))")
                    }
                    value = v
                } else {
                    let text = String(decoding: bytes[a..<b], as: UTF8.self)
                    throw ECGFormatError(.invalidValue, file: path, "'\(text.prefix(40))' is not a number", at: "line \(lineNo), column \(col + 1) (\(names[col]))")
                }
                if col == timeColumn { times.append(value) } else { columns[col].append(Float(value)) }
                col += 1
                if fieldEnd >= hi { break }
                f = fieldEnd + 1
            }
            guard col == names.count else {
                throw ECGFormatError(.truncated, file: path, "row has \(col) of the header's \(names.count) columns", at: "line \(lineNo)")
            }
            rows += 1
        }
        guard let names = header else {
            throw ECGFormatError(.missingData, file: path, "no header row with lead names")
        }
        guard rows > 0 else {
            throw ECGFormatError(.missingData, file: path, "header row but no samples")
        }

        var rate = samplingRate
        if rate == nil {
            for key in ["sampling_rate", "samplingrate", "sampling_frequency", "fs", "sample_rate", "samplerate", "hz"] {
                if let v = settings[key] {
                    let digits = v.lowercased().replacingOccurrences(of: "hz", with: "").trimmedOfWhitespace()
                    guard let r = Double(digits), r.isFinite, r > 0 else {
                        throw ECGFormatError(.invalidValue, file: path, "sampling rate '\(v)' is not a positive number", at: "header comment")
                    }
                    rate = r
                    break
                }
            }
        }
        if rate == nil, let tc = timeColumn, times.count >= 2, names[tc].lowercased() != "sample", names[tc].lowercased() != "index" {
            let dt = (times[times.count - 1] - times[0]) / Double(times.count - 1)
            if dt.isFinite, dt > 0 { rate = (1 / dt * 1e6).rounded() / 1e6 }
        }
        guard let fs = rate, fs > 0, fs.isFinite else {
            throw ECGFormatError(.missingData, file: path, "no sampling rate: add a comment line '# sampling_rate=500' or pass --sampling-rate")
        }

        var fileUnit = unit ?? .millivolts
        if unit == nil, let u = settings["units"] ?? settings["unit"] {
            guard let f = millivoltFactor(forUnit: u) else {
                throw ECGFormatError(.unsupported, file: path, "amplitude unit '\(u)' is not mV or µV", at: "header comment")
            }
            fileUnit = f == 1 ? .millivolts : .microvolts
            if f != 1 && f != 0.001 {
                throw ECGFormatError(.unsupported, file: path, "amplitude unit '\(u)' is not mV or µV", at: "header comment")
            }
        }
        var leads: [Lead] = []
        for (c, name) in names.enumerated() where c != timeColumn {
            // A unit in the column name ("V1 (uV)", "V1_uV") overrides the file's unit for that column.
            var leadName = name
            var factor: Float = fileUnit == .microvolts ? 0.001 : 1
            for (suffix, f) in [("(uv)", Float(0.001)), ("(µv)", 0.001), ("_uv", 0.001), ("(mv)", 1), ("_mv", 1)]
            where leadName.lowercased().hasSuffix(suffix) {
                leadName = String(leadName.dropLast(suffix.count)).trimmedOfWhitespace()
                factor = f
            }
            var mv = columns[c]
            // Divide in Double so 1500 µV is exactly 1.5 mV (float32 × 0.001 is not).
            if factor != 1 { for k in mv.indices { mv[k] = Float(Double(mv[k]) / 1000) } }
            leads.append(Lead(parsing: leadName, millivolts: mv))
        }
        guard !leads.isEmpty else {
            throw ECGFormatError(.missingData, file: path, "no lead columns besides the time column")
        }
        var metadata = ECGMetadata()
        if let id = settings["patient_id"] ?? settings["patientid"] { metadata.patientID = id }
        if let a = settings["age"] { metadata.ageYears = Double(a) }
        if let s = settings["sex"] { metadata.sex = parseSex(s) }
        if let d = settings["device"] { metadata.device = d }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: fs, metadata: metadata,
                                   provenance: Provenance(format: .csv, path: path, sha256: sha256Hex([data])))
    }

    /// Longest header or comment line accepted (257 lead names fit many times over).
    static let maxTextLineBytes = 64 * 1024

    /// \n, \r (alone or in \r\n), vertical tab and form feed end a line.
    @inline(__always) static func isLineBreak(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }

    @inline(__always) static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// "nan" in any case.
    static func isNaN(_ b: [UInt8], _ lo: Int, _ hi: Int) -> Bool {
        hi - lo == 3 && (b[lo] | 0x20) == UInt8(ascii: "n") && (b[lo + 1] | 0x20) == UInt8(ascii: "a") && (b[lo + 2] | 0x20) == UInt8(ascii: "n")
    }

    /// The field as a number (Swift's locale-independent parser; fields up to 15 bytes are small
    /// strings, so no allocation).
    static func number(_ b: [UInt8], _ lo: Int, _ hi: Int) -> Double? {
        Double(String(decoding: b[lo..<hi], as: UTF8.self))
    }

    /// `key=value` or `key: value` pairs, several per comment line allowed (`sampling_rate=500 units=uV`).
    static func parseSettings(_ comment: String, into settings: inout [String: String]) {
        let s = comment.trimmedOfWhitespace()
        if s.contains("=") {
            for part in s.split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "," }) {
                let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmedOfWhitespace() }
                if kv.count == 2 { settings[kv[0].lowercased()] = kv[1] }
            }
        } else if let colon = s.firstIndex(of: ":") {
            let key = s[..<colon].trimmedOfWhitespace().lowercased().replacingOccurrences(of: " ", with: "_")
            settings[key] = s[s.index(after: colon)...].trimmedOfWhitespace()
        }
    }
}
