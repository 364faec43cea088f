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
        out += leads.map { csvEscape($0.writtenName) }.joined(separator: ",") + "\n"
        let n = leads.map(\.millivolts.count).min() ?? 0
        for t in 0..<n {
            for (k, lead) in leads.enumerated() {
                if k > 0 { out += "," }
                let v = lead.millivolts[t]
                out += v.isFinite ? "\(v)" : ""   // never "inf": our reader (rightly) refuses it
            }
            out += "\n"
        }
        return out
    }

    /// Writes the CSV via a temporary name, then renames.
    public static func write(_ record: ECGRecord, to url: URL, rateComment: Bool = false) throws {
        try record.checkWritable()
        try atomicWrite(Data(csvText(record, rateComment: rateComment).utf8), to: url)
    }

    static func csvEscape(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

extension ECGRecord {
    /// Writers refuse what no reader of ours would read back: infinite samples, absurd rates.
    func checkWritable() throws {
        try ECGRecord.validate(storedLeads: storedLeadsInFileOrder, samplingRate: samplingRate, file: provenance.path)
    }
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

    public static func encode(_ record: ECGRecord, recordName: String) throws -> Output {
        let leads = record.storedLeadsInFileOrder
        guard !leads.isEmpty else {
            throw ECGFormatError(.missingData, file: record.provenance.path, "record has no stored leads to write")
        }
        try record.checkWritable()
        let n = leads.map(\.millivolts.count).min() ?? 0
        var gains: [Double] = [], baselines: [Int] = []
        for lead in leads {
            let finite = lead.millivolts.prefix(n).filter { $0.isFinite }
            let lo = Double(finite.min() ?? 0), hi = Double(finite.max() ?? 0)
            // Centre the range on the baseline; lower the gain only when ±32766 units cannot hold it.
            let half = max((hi - lo) / 2, 1e-9)
            let gain = min(preferredGain, (32766.0 / half).rounded(.down))
            let mid = (hi + lo) / 2
            gains.append(max(gain, 1))
            baselines.append(Int(-(mid * gain).rounded()))
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
            let name = lead.writtenName.replacingOccurrences(of: "\n", with: " ")
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
        try atomicWrite(out.data, to: dir.appendingPathComponent(name + ".dat"))
        try atomicWrite(Data(out.header.utf8), to: dir.appendingPathComponent(name + ".hea"))
    }
}

func atomicWrite(_ data: Data, to url: URL) throws {
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try data.write(to: tmp)
        if FileManager.default.fileExists(atPath: url.path) { _ = try FileManager.default.replaceItemAt(url, withItemAt: tmp) }
        else { try FileManager.default.moveItem(at: tmp, to: url) }
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw ECGFormatError(.unreadable, file: url.path, "cannot write: \(error.localizedDescription)")
    }
}
