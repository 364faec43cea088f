import Foundation
import Crypto

/// Limits that keep a hostile file from making a reader allocate without bound.
public enum ReaderLimits {
    /// A WFDB signal file (read by window, never whole: a 24-hour 12-lead record at 500 Hz is 1.04 GB).
    public static let maxFileBytes = 1 << 30
    /// Any file read whole — CSV, XML, DICOM, WFDB headers. Decoding costs up to 9× the file (a
    /// two-lead CSV or DICOM of 32 MB peaks at 290 MB with its derived leads), so at 16 MB even
    /// `screen --jobs 2` of worst-case files stays within 600 MB; no resting ECG file is near it
    /// (a 10 s 12-lead aECG is about 2 MB).
    public static let maxSingleFileBytes = 16 << 20
    /// Upper bound on samples per lead accepted from any header (24 h at 1 kHz is 86.4 M).
    public static let maxSamplesPerLead = 100_000_000
    public static let maxLeads = 256
    /// Sample bytes one WFDB record may use across all its signal files (a 24-hour 12-lead record at
    /// 500 Hz in format 16 is 1.04 GB): 256 signals of 200 MB each are refused, not read for 109 s.
    public static let maxRecordSignalBytes = 2 << 30
    /// Sampling rates any reader accepts (Hz); anything else is a typed error, never passed on.
    public static let samplingRateRange: ClosedRange<Double> = 1...100_000
    /// Annotations per file (a 24-hour Holter at 200 bpm has under 300 000 beats). At 10 M, an
    /// 8 M-annotation `.atr` of 16 MB took `view` to 1.1 GB; at 1 M the list stays under 60 MB.
    public static let maxAnnotations = 1_000_000
}

/// A reader of a format held in one file (all but WFDB, whose signals lie in files beside the header).
public protocol SingleFileECGReader: Sendable {
    /// The format read; its name calls the file in errors ("MUSE XML file does not exist").
    static var format: ECGFileFormat { get }
    /// Decodes a file's bytes; `path` names it in errors and in the record's provenance.
    func read(data: Data, path: String) throws -> ECGRecord
}

extension SingleFileECGReader {
    /// Reads the file whole (`readFileBytes`: regular files only, size capped), then decodes it.
    public func read(url: URL) throws -> ECGRecord {
        try read(data: try readFileBytes(url, role: Self.format.displayName + " file"), path: url.path)
    }
}

/// Reads a whole regular file, refusing directories, FIFOs, devices and absurd sizes, with errors that
/// name the file. Types and sizes are those of the symlink's target (`stat`, then `fstat` on the
/// opened descriptor), and at most `limit` bytes are ever read.
func readFileBytes(_ url: URL, role: String = "file", limit: Int = ReaderLimits.maxSingleFileBytes) throws -> Data {
    let path = url.path
    var st = stat()
    guard stat(path, &st) == 0 else {
        let code = errno
        var link = stat()
        if code == ENOENT, lstat(path, &link) == 0 {
            throw ECGFormatError(.unreadable, file: path, "\(role) is a symbolic link whose target does not exist")
        }
        if code == ENOENT { throw ECGFormatError(.unreadable, file: path, "\(role) does not exist") }
        throw ECGFormatError(.unreadable, file: path, "cannot be read: \(describeErrno(code))")
    }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        throw ECGFormatError(.unreadable, file: path, "is a directory, not an ECG file")
    }
    if (st.st_mode & S_IFMT) != S_IFREG {
        throw ECGFormatError(.unreadable, file: path, "is not a regular file (it is \(fileKindName(mode: st.st_mode)))")
    }
    if Int64(st.st_size) > Int64(limit) {
        throw ECGFormatError(.invalidValue, file: path, "\(role) is \(st.st_size) bytes, larger than the \(limit)-byte limit")
    }
    // O_NONBLOCK: a FIFO swapped in after the stat cannot hang the open.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
        throw ECGFormatError(.unreadable, file: path, "cannot be opened: \(describeErrno(errno))")
    }
    defer { close(fd) }
    var opened = stat()
    guard fstat(fd, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG else {
        throw ECGFormatError(.unreadable, file: path, "is not a regular file (it is \(fileKindName(mode: opened.st_mode)))")
    }
    guard Int64(opened.st_size) <= Int64(limit) else {
        throw ECGFormatError(.invalidValue, file: path, "\(role) is \(opened.st_size) bytes, larger than the \(limit)-byte limit")
    }
    let size = Int(opened.st_size)
    var data = Data(count: size)
    var got = 0
    let failure: Int32? = data.withUnsafeMutableBytes { raw -> Int32? in
        while got < size {
            let n = read(fd, raw.baseAddress!.advanced(by: got), size - got)
            if n < 0 { if errno == EINTR { continue }; return errno }
            if n == 0 { break }
            got += n
        }
        return nil
    }
    if let failure { throw ECGFormatError(.unreadable, file: path, "cannot be read: \(describeErrno(failure))") }
    if got < size { data.removeSubrange(got..<size) }
    return data
}

func sha256Hex(_ parts: [Data]) -> String { SHA256Hex.of(parts) }

/// Lower-case hex SHA-256: input provenance, model weights, exported files all use this one.
public enum SHA256Hex {
    public static func of(_ data: Data) -> String { of([data]) }

    /// Of the concatenation of `parts` (a WFDB header with its signal files).
    public static func of(_ parts: [Data]) -> String {
        var hasher = SHA256()
        for part in parts { hasher.update(data: part) }
        return hex(hasher.finalize())
    }

    public static func hex<Digest: Sequence>(_ digest: Digest) -> String where Digest.Element == UInt8 {
        // Hand-rolled: String(format:) per byte was a tenth of a 10 s WFDB read.
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Strict text decoding: headers must be UTF-8 (ASCII is a subset); anything else is reported, not guessed.
func decodeUTF8(_ data: Data, file: String, what: String) throws -> String {
    guard let text = String(data: data, encoding: .utf8) else {
        // Find the first offending byte so the message says where.
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            if String(bytes: bytes[0...offset], encoding: .utf8) == nil, bytes[offset] >= 0x80 { break }
            offset += 1
        }
        throw ECGFormatError(.malformedHeader, file: file, "\(what) is not valid UTF-8 text", at: "byte \(offset)")
    }
    return text
}

/// Converts a value in the given amplitude unit to millivolts; nil when the unit is not a voltage.
func millivoltFactor(forUnit raw: String) -> Double? {
    switch raw.trimmedOfWhitespace().lowercased() {
    case "mv", "millivolt", "millivolts": return 1
    case "uv", "µv", "μv", "microvolt", "microvolts": return 0.001
    case "nv", "nanovolt", "nanovolts": return 0.000001
    case "v", "volt", "volts": return 1000
    default: return nil
    }
}

extension ECGRecord {
    /// Builds a record in canonical form: standard leads in standard order, then extra leads in file
    /// order; III, aVR, aVL, aVF derived from I and II when the file stores I and II but not those
    /// (Einthoven and Goldberger: III = II − I, aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2).
    public static func canonical(storedLeads: [Lead], samplingRate: Double, metadata: ECGMetadata,
                          provenance: Provenance) throws -> ECGRecord {
        try validate(storedLeads: storedLeads, samplingRate: samplingRate, file: provenance.path)
        // Duplicate names (two channels both called "ECG") must stay distinguishable.
        var seen: [LeadID: Int] = [:]
        var stored: [Lead] = []
        for var lead in storedLeads {
            if let n = seen[lead.id] {
                seen[lead.id] = n + 1
                lead.id = .other("\(lead.id.description)#\(n + 1)")
            } else {
                seen[lead.id] = 1
            }
            stored.append(lead)
        }
        let fileOrder = stored.map(\.id)
        var all = stored
        if let one = stored.first(where: { $0.id == .i }), let two = stored.first(where: { $0.id == .ii }),
           one.millivolts.count == two.millivolts.count {
            for id in LeadID.derivableFromIAndII where !all.contains(where: { $0.id == id }) {
                if let values = LimbLeads.derive(id, i: one.millivolts, ii: two.millivolts) {
                    all.append(Lead(id: id, millivolts: values, isDerived: true))
                }
            }
        }
        let standard = LeadID.standard12.compactMap { id in all.first { $0.id == id } }
        let extra = all.filter { $0.id.standardIndex == nil }
        return ECGRecord(leads: standard + extra, samplingRate: samplingRate, metadata: metadata,
                         provenance: provenance, fileLeadOrder: fileOrder)
    }
}

extension ECGRecord {
    /// The checks every reader's output passes: a sane sampling rate, 1…256 leads, no zero-sample
    /// or absurdly long lead, no infinite sample (NaN marks a missing sample and is allowed), no NUL
    /// byte in a lead name. Everything downstream (quality, R peaks, the model, writers) relies on these.
    static func validate(storedLeads: [Lead], samplingRate: Double, file: String) throws {
        guard samplingRate.isFinite, ReaderLimits.samplingRateRange.contains(samplingRate) else {
            throw ECGFormatError(.invalidValue, file: file, "sampling rate \(samplingRate) Hz is outside the 1 Hz – 100 kHz range this tool accepts")
        }
        guard !storedLeads.isEmpty else {
            throw ECGFormatError(.missingData, file: file, "record holds no leads")
        }
        guard storedLeads.count <= ReaderLimits.maxLeads else {
            throw ECGFormatError(.invalidValue, file: file, "record holds \(storedLeads.count) leads, more than the \(ReaderLimits.maxLeads) this tool accepts")
        }
        for lead in storedLeads {
            let name = lead.id.description
            if name.unicodeScalars.contains(where: { $0.value == 0 }) {
                throw ECGFormatError(.invalidValue, file: file, "lead name '\(TerminalText.sanitize(name))' contains a NUL byte")
            }
            let shown = TerminalText.sanitize(name)
            guard !lead.millivolts.isEmpty else {
                throw ECGFormatError(.missingData, file: file, "lead \(shown) has no samples (zero-sample record)", at: "lead \(shown)")
            }
            guard lead.millivolts.count <= ReaderLimits.maxSamplesPerLead else {
                throw ECGFormatError(.invalidValue, file: file, "lead \(shown) has \(lead.millivolts.count) samples, more than the \(ReaderLimits.maxSamplesPerLead) limit", at: "lead \(shown)")
            }
            // One branch-free pass (±∞ is exponent all ones, mantissa zero); the index only on failure.
            let anyInfinite = lead.millivolts.withUnsafeBufferPointer { p -> Bool in
                var found: UInt32 = 0
                for v in p { found |= (v.bitPattern & 0x7FFF_FFFF) == 0x7F80_0000 ? 1 : 0 }
                return found != 0
            }
            if anyInfinite, let k = lead.millivolts.firstIndex(where: { $0.isInfinite }) {
                throw ECGFormatError(.invalidValue, file: file, "lead \(shown) sample \(k) is infinite (the value does not fit a 32-bit float)", at: "lead \(shown), sample \(k)")
            }
        }
    }
}

/// Bounds-checked little/big-endian reads over a byte buffer; every failure is a typed error.
struct ByteCursor {
    let bytes: [UInt8]
    var offset: Int
    let file: String

    init(_ bytes: [UInt8], file: String, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    func need(_ n: Int, _ what: String) throws {
        guard n >= 0, offset <= bytes.count, n <= bytes.count - offset else {
            throw ECGFormatError(.truncated, file: file, "file ends inside \(what): needs \(n) bytes, \(max(0, bytes.count - offset)) left", at: "byte \(offset)")
        }
    }

    mutating func u8(_ what: String) throws -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16le(_ what: String) throws -> UInt16 {
        try need(2, what)
        defer { offset += 2 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    mutating func u32le(_ what: String) throws -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        try need(n, what)
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
}

/// CRC-32 (IEEE 802.3, the zlib polynomial 0xEDB88320, reflected): GE MUSE's per-lead check and
/// the PNG chunk check (Imaging) use this one.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Strict base64 (whitespace allowed, anything else refused), so corrupt lead data is reported, not skipped.
func decodeBase64Strict(_ text: String, file: String, at location: String) throws -> Data {
    var cleaned = String.UnicodeScalarView()
    for scalar in text.unicodeScalars where !(scalar == " " || scalar == "\n" || scalar == "\r" || scalar == "\t") {
        cleaned.append(scalar)
    }
    guard let data = Data(base64Encoded: String(cleaned)) else {
        throw ECGFormatError(.corrupt, file: file, "lead data is not valid base64", at: location)
    }
    return data
}

extension StringProtocol {
    /// Without leading and trailing blanks: tab and the Unicode space separators, what
    /// `trimmingCharacters(in: .whitespaces)` removes, without Foundation's NSString round trip
    /// (which was a seventh of a WFDB read).
    /// `andNewlines`: also line breaks (LF, VT, FF, CR, NEL, U+2028/2029), as `.whitespacesAndNewlines`.
    func trimmedOfWhitespace(andNewlines: Bool = false) -> String {
        func isBlank(_ c: Unicode.Scalar) -> Bool {
            if c == " " || c == "\t" { return true }
            if andNewlines, (0x0A...0x0D).contains(c.value) || c.value == 0x85 || c.value == 0x2028 || c.value == 0x2029 { return true }
            return c.value >= 0x80 && c.properties.generalCategory == .spaceSeparator
        }
        let scalars = Substring(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !isBlank($0) }),
              let last = scalars.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(Substring(scalars[first...last]))
    }
}
