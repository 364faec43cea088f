import Foundation

/// The one entry point: detects the format from the file's content (DICOM marker, SCP-ECG section 0, XML root element,
/// WFDB header grammar, CSV header row), falling back to the extension only to find a WFDB header.
public enum ECGFileReader {
    public struct Options: Sendable {
        /// For CSV files that state no sampling rate.
        public var csvSamplingRate: Double?
        public var csvUnit: CSVReader.Unit?
        public var verifyWFDBChecksums: Bool

        public init(csvSamplingRate: Double? = nil, csvUnit: CSVReader.Unit? = nil, verifyWFDBChecksums: Bool = true) {
            self.csvSamplingRate = csvSamplingRate
            self.csvUnit = csvUnit
            self.verifyWFDBChecksums = verifyWFDBChecksums
        }
    }

    public static func read(url: URL, options: Options = Options()) throws -> ECGRecord {
        switch try locate(url: url) {
        case .wfdb(let header, let headerData):
            return try WFDBReader(verifyChecksums: options.verifyWFDBChecksums)
                .read(headerData: headerData, files: WFDBFiles(headerURL: header, load: nil), window: nil)
        case .other(let data):
            return try read(data: data, path: url.path, options: options)
        }
    }

    /// The files a read of `url` takes bytes from, as far as can be told without decoding: the file
    /// itself and, for a WFDB record, its header, the signal files it names and each segment's header
    /// and signal files. Writers refuse to replace any of them.
    public static func inputFiles(of url: URL) -> [URL] {
        var files = [url]
        let header = WFDBReader.headerURL(for: url)
        guard header.pathExtension.lowercased() == "hea", let data = try? readFileBytes(header, role: "WFDB header"),
              let text = String(data: data, encoding: .utf8), let parsed = try? WFDBHeader.parse(text, file: header.path) else { return files }
        files.append(header)
        files.append(header.deletingPathExtension().appendingPathExtension("dat"))
        func add(_ h: WFDBHeader, _ headerURL: URL) {
            for spec in h.signals { if let f = try? WFDBReader.signalFileURL(spec.fileName, headerURL: headerURL) { files.append(f) } }
        }
        add(parsed, header)
        for seg in (parsed.segments ?? []).prefix(1024) where seg.name != "~" {
            guard let segHeader = try? WFDBReader.signalFileURL(seg.name + ".hea", headerURL: header) else { continue }
            files.append(segHeader)
            if let d = try? readFileBytes(segHeader, role: "WFDB header"), let t = String(data: d, encoding: .utf8),
               let h = try? WFDBHeader.parse(t, file: segHeader.path) { add(h, segHeader) }
        }
        return files
    }

    /// What a path holds: a WFDB record (its header and the header's bytes; the signal files are
    /// opened by whoever decodes it) or the whole bytes of a single-file format.
    enum Located {
        case wfdb(header: URL, headerData: Data)
        case other(Data)
    }

    static func locate(url: URL) throws -> Located {
        let path = url.path
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        if exists && isDir.boolValue {
            throw ECGFormatError(.unreadable, file: path, "is a directory, not an ECG file")
        }
        // A WFDB record named without extension, or by its signal file.
        let header = WFDBReader.headerURL(for: url)
        if header != url || !exists {
            if FileManager.default.fileExists(atPath: header.path), header.path != path {
                return .wfdb(header: header, headerData: try readFileBytes(header, role: "WFDB header"))
            }
            if !exists { throw ECGFormatError(.unreadable, file: path, "file does not exist") }
        }
        let data = try readFileBytes(url)
        if detect(data) == .wfdb { return .wfdb(header: url, headerData: data) }
        return .other(data)
    }

    /// Decodes the bytes of a single-file format (everything but WFDB, whose signal files lie beside it).
    static func read(data: Data, path: String, options: Options) throws -> ECGRecord {
        switch detect(data) {
        case .dicom: return try DICOMWaveformReader().read(data: data, path: path)
        case .museXML: return try MUSEXMLReader().read(data: data, path: path)
        case .hl7aECG: return try AECGReader().read(data: data, path: path)
        case .ukbXML: return try UKBXMLReader().read(data: data, path: path)
        case .scpECG: return try SCPECGReader().read(data: data, path: path)
        case .csv: return try CSVReader(samplingRate: options.csvSamplingRate, unit: options.csvUnit).read(data: data, path: path)
        case .wfdb, nil:
            if data.isEmpty { throw ECGFormatError(.truncated, file: path, "file is empty (0 bytes)") }
            if let root = xmlRootName(data), data.prefix(64).contains(UInt8(ascii: "<")) {
                throw ECGFormatError(.unknownFormat, file: path, "XML root element <\(root)> is not an ECG format this tool reads (" + ECGFileFormat.xmlRootElements.joined(separator: ", ") + ")")
            }
            throw ECGFormatError(.unknownFormat, file: path, "content matches no supported ECG format ("
                                 + ECGFileFormat.allCases.map(\.displayName).joined(separator: ", ") + ")")
        }
    }

    /// Content-based detection; nil when nothing matches.
    public static func detect(_ data: Data) -> ECGFileFormat? {
        if data.count >= 132, data[data.startIndex + 128] == 0x44, data[data.startIndex + 129] == 0x49,
           data[data.startIndex + 130] == 0x43, data[data.startIndex + 131] == 0x4D {
            return .dicom
        }
        if SCPECGReader.looksLikeSCP(data) { return .scpECG }
        let head = data.prefix(4096)
        let firstNonSpace = head.first { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF) }
        if firstNonSpace == UInt8(ascii: "<") {
            let root = xmlRootName(data)
            return ECGFileFormat.allCases.first { $0.xmlRootElement != nil && $0.xmlRootElement == root }
        }
        guard let text = String(data: head, encoding: .utf8) ?? String(data: head.prefix(max(0, head.count - 3)), encoding: .utf8) else { return nil }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmedOfWhitespace() }
        guard let first = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else { return nil }
        if looksLikeWFDBRecordLine(first) { return .wfdb }
        if first.contains(",") || first.contains("\t") || first.contains(";") { return .csv }
        // A one-column CSV: a name then numbers.
        if lines.count >= 2, Double(first) == nil, lines.dropFirst().prefix(3).allSatisfy({ $0.isEmpty || Double($0) != nil }) { return .csv }
        return nil
    }

    /// `name nsig [fs[/cf][(base)] [nsamp …]]` and the next content line starts with a file name and a format.
    static func looksLikeWFDBRecordLine(_ line: String) -> Bool {
        let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard f.count >= 2, let n = Int(f[1]), n >= 0, !f[0].contains(",") else { return false }
        if f.count >= 3, Double(f[2].prefix { $0 != "/" && $0 != "(" }) == nil { return false }
        if f.count >= 4, Int(f[3]) == nil { return false }
        return true
    }
}
