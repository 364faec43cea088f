import Foundation

/// A record opened for windowed reading: its shape (leads, rate, length, metadata) without decoding
/// every sample, and any window of it decoded on demand. A 24-hour 12-lead Holter record is about
/// 1 GB on disk and 2 GB as millivolts; reading it this way costs only the window.
///
/// - WFDB records are windowed for real: the header gives the shape and a window's bytes are read by
///   offset from the signal files (format 8, first differences, is decoded streaming from the start).
/// - The single-file formats (CSV, XML, DICOM) are read whole — their size caps bound them — and
///   windows are cut from the decoded record.
///
/// Usage: `let source = try ECGRecordSource.open(url: url)`, then `source.read(startSeconds: 3600,
/// durationSeconds: 10)` for one page of a scrolling view, or `source.readWhole()` for short records.
/// Thread-safe: windows may be read from several threads.
public final class ECGRecordSource: @unchecked Sendable {
    public let url: URL
    public let format: ECGFileFormat
    /// Samples per second of every lead, as windows are returned.
    public let samplingRate: Double
    /// The whole record's length in samples per lead.
    public let sampleCount: Int
    public var durationSeconds: Double { samplingRate > 0 ? Double(sampleCount) / samplingRate : 0 }

    private let decoded: ECGRecord?
    private let wfdb: (reader: WFDBReader, header: URL, headerData: Data)?
    private let lock = NSLock()
    private var digest: String?

    public static func open(url: URL, options: ECGFileReader.Options = .init()) throws -> ECGRecordSource {
        switch try ECGFileReader.locate(url: url) {
        case .wfdb(let header, let headerData):
            let reader = WFDBReader(verifyChecksums: options.verifyWFDBChecksums)
            let shape = try reader.shape(url: header)
            return ECGRecordSource(url: url, format: .wfdb, samplingRate: shape.samplingRate, sampleCount: shape.sampleCount,
                                   decoded: nil, wfdb: (reader, header, headerData))
        case .other(let data):
            let record = try ECGFileReader.read(data: data, path: url.path, options: options)
            return ECGRecordSource(url: url, format: record.provenance.format, samplingRate: record.samplingRate,
                                   sampleCount: record.sampleCount, decoded: record, wfdb: nil)
        }
    }

    private init(url: URL, format: ECGFileFormat, samplingRate: Double, sampleCount: Int, decoded: ECGRecord?,
                 wfdb: (reader: WFDBReader, header: URL, headerData: Data)?) {
        self.url = url
        self.format = format
        self.samplingRate = samplingRate
        self.sampleCount = sampleCount
        self.decoded = decoded
        self.wfdb = wfdb
    }

    /// The whole record, exactly as `ECGFileReader.read` returns it (WFDB checksums verified).
    /// Its memory grows with the record: for long records read windows instead.
    public func readWhole() throws -> ECGRecord {
        if let decoded { return decoded }
        guard let wfdb else { throw ECGFormatError(.unreadable, file: url.path, "record source holds no record") }
        return try wfdb.reader.read(headerData: wfdb.headerData, files: WFDBFiles(headerURL: wfdb.header, load: nil), window: nil)
    }

    /// Samples `window` (clamped to the record) of every lead; derived leads are derived for the
    /// window. Metadata are the whole record's; for WFDB the provenance SHA-256 covers the header
    /// and the bytes the window read (stated in `sha256Scope`), never the whole signal files.
    public func read(window: Range<Int>) throws -> ECGRecord {
        let w = window.clamped(to: 0..<sampleCount)
        guard !w.isEmpty else {
            throw ECGFormatError(.invalidValue, file: url.path, "window \(window.lowerBound)..<\(window.upperBound) lies outside the record's \(sampleCount) samples")
        }
        if var record = decoded {
            for k in record.leads.indices { record.leads[k].millivolts = Array(record.leads[k].millivolts[w]) }
            return record
        }
        guard let wfdb else { throw ECGFormatError(.unreadable, file: url.path, "record source holds no record") }
        // The provenance digest covers the bytes this window read (`Provenance.sha256Scope` names
        // them), or the whole files when the window is the whole record.
        return try wfdb.reader.read(headerData: wfdb.headerData, files: WFDBFiles(headerURL: wfdb.header, load: nil), window: w)
    }

    /// `durationSeconds` from `startSeconds` (both clamped to the record).
    public func read(startSeconds: Double, durationSeconds: Double) throws -> ECGRecord {
        let (start, count) = sampleRange(startSeconds: startSeconds, durationSeconds: durationSeconds)
        return try read(window: start..<(start + count))
    }

    /// The samples `durationSeconds` from `startSeconds` cover, clamped to the record (never empty
    /// for a non-empty record: a start past the end gives the last window).
    public func sampleRange(startSeconds: Double, durationSeconds: Double) -> (start: Int, count: Int) {
        // Seconds come from the command line and the TUI: 1e300 s or ∞ means "to the end", never a trap.
        let count = max(1, min(sampleCount, Int(checked: (max(0, durationSeconds) * samplingRate).rounded()) ?? sampleCount))
        let wanted = startSeconds.isFinite ? (Int(checked: (max(0, startSeconds) * samplingRate).rounded(.down)) ?? sampleCount) : 0
        return (max(0, min(wanted, sampleCount - count)), count)
    }

    /// Hex SHA-256 of the record's bytes (for WFDB: the header followed by the signal files),
    /// computed once, streaming.
    public func sha256() throws -> String {
        if let decoded { return decoded.provenance.sha256 }
        lock.lock(); defer { lock.unlock() }
        if let digest { return digest }
        guard let wfdb else { return "" }
        let value = try wfdb.reader.sha256(headerData: wfdb.headerData, files: WFDBFiles(headerURL: wfdb.header, load: nil))
        digest = value
        return value
    }
}
