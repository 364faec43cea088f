import Foundation

/// Writes the channels a file stores (never derived leads), in the file's order.
public enum CSVWriter {
    /// Header row of lead names, then one row per sample in millivolts (shortest exact Float text).
    /// `rateComment` adds a leading `# sampling_rate=…` line so the file can be read back without a flag.
    public static func csvText(_ record: ECGRecord, rateComment: Bool = false) -> String {
        let leads = record.storedLeadsInFileOrder
        var out = ""
        out.reserveCapacity(record.sampleCount * leads.count * 8 + 256)
        if rateComment { out += "# sampling_rate=\(formatNumber(record.samplingRate)) units=mV\n" }
        out += leads.map { csvName($0.writtenName) }.joined(separator: ",") + "\n"
        let n = leads.map(\.millivolts.count).min() ?? 0
        for t in 0..<n {
            for (k, lead) in leads.enumerated() {
                if k > 0 { out += "," }
                let v = lead.millivolts[t]
                // A missing sample is an empty cell (never "inf": our reader rightly refuses it);
                // in a one-column file an empty cell would be a blank line, which readers skip, so "nan".
                out += v.isFinite ? "\(v)" : (leads.count == 1 ? "nan" : "")
            }
            out += "\n"
        }
        return out
    }

    /// Writes the CSV via a temporary name, then renames.
    public static func write(_ record: ECGRecord, to url: URL, rateComment: Bool = false) throws {
        try record.checkWritable()
        try atomicWrite([(Data(csvText(record, rateComment: rateComment).utf8), url)], record: record)
    }

    /// A lead name as one header cell our reader (and a spreadsheet) reads back as one name: on one
    /// line, and without the separator or quotes (a DICOM lead meaning "V1, chest" becomes "V1  chest").
    static func csvName(_ s: String) -> String {
        oneLineName(s).replacingOccurrences(of: ",", with: " ").replacingOccurrences(of: "\"", with: "'")
    }
}

extension ECGRecord {
    /// Writers refuse what no reader of ours would read back: infinite samples, absurd rates.
    func checkWritable() throws {
        try ECGRecord.validate(storedLeads: storedLeadsInFileOrder, samplingRate: samplingRate, file: provenance.path)
    }

    /// A value the output format cannot hold is an error naming the file, lead and sample (never a
    /// trapping `Int(x)` or a silently clamped sample). NaN is a missing sample, written as the
    /// format's missing value, so it is not checked here.
    func checkRange(maxAbsMillivolts limit: Double, firstSamples n: Int, format: String) throws {
        for lead in storedLeadsInFileOrder {
            let values = lead.millivolts.prefix(n)
            guard let k = values.firstIndex(where: { $0.isFinite && abs(Double($0)) > limit }) else { continue }
            let shown = TerminalText.sanitize(lead.writtenName)
            throw ECGFormatError(.invalidValue, file: provenance.path,
                                 "lead \(shown) sample \(k) is \(values[k]) mV, beyond the ±\(formatNumber(limit)) mV a \(format) file can hold",
                                 at: "lead \(shown), sample \(k)")
        }
    }
}

/// A name from an input file made safe to write as one field of a line-based format: every line
/// break a reader may honour (CR, LF, NEL, U+2028/2029), other control and bidi/format characters
/// become spaces, so a DICOM lead meaning cannot add lines to a WFDB header.
func oneLineName(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
        switch u.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: out.append(" ")
        default: out.append(u)
        }
    }
    return String(out)
}

func formatNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
}

/// Writes a WFDB record: format 16, one `.dat` file with interleaved samples, a `.hea` header with
/// per-signal gain, baseline, initial value and checksum that wfdb-python reads back unchanged.
public enum WFDBWriter {
    public struct Output: Sendable {
        public var header: String
        public var data: Data
    }

    /// Resolution of the written samples: 1000 ADC units per mV (1 µV) unless a lead's range needs less.
    public static let preferredGain = 1000.0
    /// The largest |mV| written: ±32766 ADC units at the smallest gain (1 unit per mV).
    public static let maxAbsMillivolts = 32766.0

    public static func encode(_ record: ECGRecord, recordName: String) throws -> Output {
        let leads = record.storedLeadsInFileOrder
        guard !leads.isEmpty else {
            throw ECGFormatError(.missingData, file: record.provenance.path, "record has no stored leads to write")
        }
        try record.checkWritable()
        let n = leads.map(\.millivolts.count).min() ?? 0
        try record.checkRange(maxAbsMillivolts: maxAbsMillivolts, firstSamples: n, format: "WFDB format 16")
        var gains: [Double] = [], baselines: [Int] = []
        for lead in leads {
            let finite = lead.millivolts.prefix(n).filter { $0.isFinite }
            let lo = Double(finite.min() ?? 0), hi = Double(finite.max() ?? 0)
            // Centre the range on the baseline; lower the gain only when ±32766 units cannot hold it.
            let half = max((hi - lo) / 2, 1e-9)
            let gain = max(1, min(preferredGain, (32766.0 / half).rounded(.down)))
            let mid = (hi + lo) / 2
            gains.append(gain)
            baselines.append(Int(-(mid * gain).rounded()))   // |mid × gain| ≤ 32766 × 1000 after checkRange
        }
        var raw = [UInt8](repeating: 0, count: n * leads.count * 2)
        var initial = [Int](repeating: 0, count: leads.count)
        var sums = [Int64](repeating: 0, count: leads.count)
        do {
            for (k, lead) in leads.enumerated() {
                let g = gains[k], b = Double(baselines[k])
                for t in 0..<n {
                    let v = lead.millivolts[t]
                    let d: Int16 = v.isFinite ? Int16(clamping: Int((Double(v) * g + b).rounded())) : Int16.min
                    let cl: Int16 = d == Int16.min && v.isFinite ? Int16.min + 1 : d
                    if t == 0 { initial[k] = Int(cl) }
                    sums[k] &+= Int64(cl)
                    let u = UInt16(bitPattern: cl)
                    let p = 2 * (t * leads.count + k)
                    raw[p] = UInt8(u & 0xFF)
                    raw[p + 1] = UInt8(u >> 8)
                }
            }
        }
        var h = "\(recordName) \(leads.count) \(formatNumber(record.samplingRate)) \(n)\n"
        for (k, lead) in leads.enumerated() {
            let name = oneLineName(lead.writtenName)
            h += "\(recordName).dat 16 \(formatNumber(gains[k]))(\(baselines[k]))/mV 16 0 \(initial[k]) \(Int(Int16(truncatingIfNeeded: sums[k]))) 0 \(name)\n"
        }
        let md = record.metadata
        if let age = md.ageYears { h += "# Age: \(formatNumber(age))\n" }
        if let sex = md.sex { h += "# Sex: \(sex == .male ? "Male" : sex == .female ? "Female" : "Unknown")\n" }
        h += "# Converted by ecg2cmr from \(record.provenance.format.rawValue) (sha256 \(record.provenance.sha256))\n"
        return Output(header: h, data: Data(raw))
    }

    /// Writes `<dir>/<name>.hea` and `<dir>/<name>.dat` via temporary names, then renames.
    public static func write(_ record: ECGRecord, to headerURL: URL) throws {
        var base = headerURL
        if base.pathExtension.lowercased() == "hea" || base.pathExtension.lowercased() == "dat" { base = base.deletingPathExtension() }
        let name = base.lastPathComponent
        guard !name.isEmpty, !name.contains(" ") else {
            throw ECGFormatError(.invalidValue, file: headerURL.path, "WFDB record names cannot be empty or contain spaces")
        }
        let out = try encode(record, recordName: name)
        let dir = base.deletingLastPathComponent()
        // One set: the .dat first, then the header naming it; a failure puts both old files back.
        try atomicWrite([(out.data, dir.appendingPathComponent(name + ".dat")),
                         (Data(out.header.utf8), dir.appendingPathComponent(name + ".hea"))], record: record)
    }
}

func atomicWrite(_ files: [(data: Data, url: URL)], record: ECGRecord) throws {
    try record.refuseOverwritingInput(files.map(\.url))
    do { try AtomicReplace.write(files) } catch let f as AtomicReplace.Failure {
        throw ECGFormatError(.unreadable, file: f.path, f.reason)
    }
}

extension ECGRecord {
    /// Converting a file onto itself (or onto the `.dat` its header names) would replace the input
    /// with its own conversion: refused, naming both.
    func refuseOverwritingInput(_ outputs: [URL]) throws {
        let inputs = ECGFileReader.inputFiles(of: URL(fileURLWithPath: provenance.path))
        for out in outputs {
            if let same = inputs.first(where: { AtomicReplace.sameFile($0.path, out.path) }) {
                throw ECGFormatError(.invalidValue, file: out.path, "is the input file \(TerminalText.sanitize(same.path)); choose another output path")
            }
        }
    }
}
