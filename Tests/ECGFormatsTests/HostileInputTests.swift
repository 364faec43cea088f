import Foundation
import Testing
@testable import ECGFormats

/// Truncated, corrupt, mis-declared and hostile files: always a typed error naming the file.
@Suite struct HostileInputTests {
    /// Copies the wrsamp format-16 fixture into a fresh folder and returns (folder, header text).
    func wfdbCopy(_ name: String = #function) throws -> (URL, String) {
        let dir = try Paths.tempDir(name)
        for ext in ["hea", "dat"] {
            try FileManager.default.copyItem(at: Paths.fixture("wrsamp/fmt16.\(ext)"), to: dir.appendingPathComponent("fmt16.\(ext)"))
        }
        return (dir, try String(contentsOf: dir.appendingPathComponent("fmt16.hea"), encoding: .utf8))
    }

    func writeHeader(_ text: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("fmt16.hea")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func zeroByteFile() throws {
        let url = try Paths.tempDir().appendingPathComponent("empty.xml")
        try Data().write(to: url)
        _ = expectFormatError(.truncated, file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test func directoryInsteadOfFile() throws {
        let dir = try Paths.tempDir()
        _ = expectFormatError(.unreadable, file: dir.path) { try ECGFileReader.read(url: dir) }
        _ = expectFormatError(.unreadable, file: dir.path) { try MUSEXMLReader().read(url: dir) }
    }

    @Test func nonexistentFile() throws {
        let url = try Paths.tempDir().appendingPathComponent("nothing.hea")
        _ = expectFormatError(.unreadable) { try ECGFileReader.read(url: url) }
    }

    @Test func unknownContent() throws {
        let url = try Paths.tempDir().appendingPathComponent("noise.bin")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: url)
        _ = expectFormatError(.unknownFormat, file: url.path) { try ECGFileReader.read(url: url) }
        let xml = url.deletingLastPathComponent().appendingPathComponent("other.xml")
        try Data("<?xml version=\"1.0\"?><Invoice/>".utf8).write(to: xml)
        let e = expectFormatError(.unknownFormat, file: xml.path) { try ECGFileReader.read(url: xml) }
        #expect(e?.message.contains("Invoice") == true)
    }

    @Test func truncatedSignalFile() throws {
        let (dir, _) = try wfdbCopy()
        let dat = dir.appendingPathComponent("fmt16.dat")
        let data = try Data(contentsOf: dat)
        try data.prefix(data.count / 2).write(to: dat)
        let e = expectFormatError(.truncated, file: dir.appendingPathComponent("fmt16.hea").path) {
            try ECGFileReader.read(url: dir.appendingPathComponent("fmt16.hea"))
        }
        #expect(e?.location == "line 2")
    }

    @Test func corruptSampleIsCaughtByChecksum() throws {
        let (dir, _) = try wfdbCopy()
        let dat = dir.appendingPathComponent("fmt16.dat")
        var data = try Data(contentsOf: dat)
        data[1000] ^= 0x10
        try data.write(to: dat)
        let e = expectFormatError(.corrupt) { try ECGFileReader.read(url: dir.appendingPathComponent("fmt16.hea")) }
        #expect(e?.message.contains("checksum") == true)
        // Checksum verification can be switched off for records with stale checksums.
        _ = try WFDBReader(verifyChecksums: false).read(url: dir.appendingPathComponent("fmt16.hea"))
    }

    @Test func corruptChecksumInHeader() throws {
        let (dir, header) = try wfdbCopy()
        var lines = header.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var fields = lines[3].split(separator: " ").map(String.init)
        fields[6] = String((Int(fields[6]) ?? 0) + 1)
        lines[3] = fields.joined(separator: " ")
        let url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        let e = expectFormatError(.corrupt, file: url.path) { try ECGFileReader.read(url: url) }
        #expect(e?.location == "line 4")
    }

    @Test func missingSignalFile() throws {
        let (dir, _) = try wfdbCopy()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("fmt16.dat"))
        let url = dir.appendingPathComponent("fmt16.hea")
        let e = expectFormatError(.missingData, file: url.path) { try ECGFileReader.read(url: url) }
        #expect(e?.message.contains("fmt16.dat") == true)
    }

    @Test func misDeclaredAndHugeCounts() throws {
        let (dir, header) = try wfdbCopy()
        var lines = header.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let record = lines[0].split(separator: " ").map(String.init)
        // More samples than the file holds: refused before any allocation of that size.
        lines[0] = [record[0], record[1], record[2], "50000000"].joined(separator: " ")
        var url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        _ = expectFormatError(.truncated, file: url.path) { try ECGFileReader.read(url: url) }
        lines[0] = [record[0], record[1], record[2], "999999999999999"].joined(separator: " ")
        url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        _ = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
        lines[0] = [record[0], "100000", record[2], record[3]].joined(separator: " ")
        url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        _ = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
        lines[0] = [record[0], "13", record[2], record[3]].joined(separator: " ")
        url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        _ = expectFormatError(.malformedHeader, file: url.path) { try ECGFileReader.read(url: url) }
        lines[0] = [record[0], record[1], "-500", record[3]].joined(separator: " ")
        url = try writeHeader(lines.joined(separator: "\n"), in: dir)
        _ = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test func byteOffsetBeyondFileAndUnsupportedLayouts() throws {
        let (dir, header) = try wfdbCopy()
        for (replacement, kind) in [("fmt16.dat 16+99999999 ", ECGFormatError.Kind.truncated),
                                    ("fmt16.dat 16x2 ", .truncated), ("fmt16.dat 999 ", .unsupported),
                                    ("fmt16.dat 16x0 ", .malformedHeader), ("fmt16.dat 516 ", .unsupported),
                                    ("fmt16.dat zz ", .malformedHeader)] {
            let url = try writeHeader(header.replacingOccurrences(of: "fmt16.dat 16 ", with: replacement), in: dir)
            _ = expectFormatError(kind, file: url.path) { try ECGFileReader.read(url: url) }
        }
        let multi = try writeHeader("multi/2 12 500 1000\nseg1 500\nseg2 500\n", in: dir)
        // Multi-segment records are read now; absent segments are a typed error naming the segment.
        let e = expectFormatError(.missingData, file: multi.path) { try WFDBReader().read(url: multi) }
        #expect(e?.message.contains("seg1") == true)
    }

    @Test func nonUTF8Header() throws {
        let (dir, header) = try wfdbCopy()
        var bytes = Array(header.utf8)
        bytes.insert(contentsOf: [0xFF, 0xFE, 0xC3], at: 3)
        let url = dir.appendingPathComponent("fmt16.hea")
        try Data(bytes).write(to: url)
        let e = expectFormatError(.malformedHeader, file: url.path) { try WFDBReader().read(url: url) }
        #expect(e?.location == "byte 3")
    }

    func museText() throws -> String {
        try String(contentsOf: Paths.records.appendingPathComponent("example-muse.xml"), encoding: .isoLatin1)
    }

    @Test func museBadBase64AndCRC() throws {
        let dir = try Paths.tempDir()
        let text = try museText()
        let first = try #require(text.range(of: "<WaveFormData>", range: text.range(of: "<WaveformType>Rhythm")!.upperBound..<text.endIndex))
        var bad = text
        bad.replaceSubrange(first.upperBound..<text.index(first.upperBound, offsetBy: 4), with: "!!!!")
        var url = dir.appendingPathComponent("bad64.xml")
        try Data(bad.utf8).write(to: url)
        var e = expectFormatError(.corrupt, file: url.path) { try ECGFileReader.read(url: url) }
        #expect(e?.message.contains("base64") == true)
        #expect(e?.location?.contains("LeadData[I]") == true)
        var flipped = text
        let pos = text.index(first.upperBound, offsetBy: 10)
        flipped.replaceSubrange(pos..<text.index(after: pos), with: text[pos] == "A" ? "B" : "A")
        url = dir.appendingPathComponent("crc.xml")
        try Data(flipped.utf8).write(to: url)
        e = expectFormatError(.corrupt, file: url.path) { try ECGFileReader.read(url: url) }
        #expect(e?.message.contains("CRC") == true)
    }

    @Test func museMisDeclaredCountAndUnits() throws {
        let dir = try Paths.tempDir()
        let text = try museText()
        var url = dir.appendingPathComponent("count.xml")
        try Data(text.replacingOccurrences(of: "<LeadSampleCountTotal>5000</LeadSampleCountTotal>", with: "<LeadSampleCountTotal>4000000000</LeadSampleCountTotal>").utf8).write(to: url)
        _ = expectFormatError(.truncated, file: url.path) { try ECGFileReader.read(url: url) }
        url = dir.appendingPathComponent("rate.xml")
        try Data(text.replacingOccurrences(of: "<SampleBase>500</SampleBase>", with: "<SampleBase>-1</SampleBase>").utf8).write(to: url)
        _ = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
        url = dir.appendingPathComponent("cut.xml")
        try Data(text.prefix(text.count / 2).utf8).write(to: url)
        _ = expectFormatError(.truncated, file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test func aecgBadDigitsAndMissingIncrement() throws {
        let dir = try Paths.tempDir()
        let text = try String(contentsOf: Paths.records.appendingPathComponent("example-aecg.xml"), encoding: .utf8)
        let digits = try #require(text.range(of: "<digits>"))
        var bad = text
        bad.insert(contentsOf: "12x4 ", at: digits.upperBound)
        var url = dir.appendingPathComponent("digits.xml")
        try Data(bad.utf8).write(to: url)
        let e = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
        #expect(e?.location?.contains("MDC_ECG_LEAD_I") == true)
        url = dir.appendingPathComponent("noinc.xml")
        try Data(text.replacingOccurrences(of: "<increment value=\"0.002\" unit=\"s\"/>", with: "").utf8).write(to: url)
        _ = expectFormatError(file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test func dicomTruncatedAndCorrupt() throws {
        let dir = try Paths.tempDir()
        let data = try Data(contentsOf: Paths.fixture("dicom/ecg-explicit.dcm"))
        for cut in [140, 400, data.count / 2, data.count - 3] {
            let url = dir.appendingPathComponent("cut\(cut).dcm")
            try data.prefix(cut).write(to: url)
            _ = expectFormatError(file: url.path) { try ECGFileReader.read(url: url) }
        }
        // Overwrite every byte after the meta header with 0xFF: huge lengths everywhere.
        var hostile = data
        for k in 300..<hostile.count { hostile[k] = 0xFF }
        let url = dir.appendingPathComponent("ff.dcm")
        try hostile.write(to: url)
        _ = expectFormatError(file: url.path) { try ECGFileReader.read(url: url) }
        let implicit = try Data(contentsOf: Paths.fixture("dicom/ecg-implicit.dcm"))
        let cutURL = dir.appendingPathComponent("implicit-cut.dcm")
        try implicit.prefix(implicit.count - 100).write(to: cutURL)
        _ = expectFormatError(.truncated, file: cutURL.path) { try ECGFileReader.read(url: cutURL) }
    }

    @Test func csvProblems() throws {
        let dir = try Paths.tempDir()
        let cases: [(String, ECGFormatError.Kind)] = [
            ("# sampling_rate=500\nI,II\n0.1,0.2\n0.1,abc\n", .invalidValue),
            ("I,II\n0.1,0.2\n", .missingData),
            ("# sampling_rate=500\nI,II\n0.1,0.2\n0.3\n", .truncated),
            ("# sampling_rate=500\nI,II\n0.1,0.2,0.3\n", .malformedHeader),
            ("# sampling_rate=500\n0.1,0.2\n0.1,0.2\n", .malformedHeader),
            ("# sampling_rate=fast\nI,II\n0.1,0.2\n", .invalidValue),
            ("# sampling_rate=500\nI,II\n", .missingData),
            ("# sampling_rate=500 units=furlongs\nI,II\n1,2\n", .unsupported),
        ]
        for (k, (text, kind)) in cases.enumerated() {
            let url = dir.appendingPathComponent("case\(k).csv")
            try Data(text.utf8).write(to: url)
            _ = expectFormatError(kind, file: url.path) { try ECGFileReader.read(url: url) }
        }
    }

    @Test func ukbCountMismatch() throws {
        let dir = try Paths.tempDir()
        let xml = """
        <?xml version="1.0"?><CardiologyXML><StripData><NumberOfLeads>2</NumberOfLeads><SampleRate units="Hz">500</SampleRate>
        <ChannelSampleCountTotal>4</ChannelSampleCountTotal><Resolution units="uVperLsb">5</Resolution>
        <WaveformData lead="I">1,2,3</WaveformData><WaveformData lead="II">1,2,3,4</WaveformData></StripData></CardiologyXML>
        """
        let url = dir.appendingPathComponent("ukb.xml")
        try Data(xml.utf8).write(to: url)
        _ = expectFormatError(.truncated, file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test func deeplyNestedXMLIsRefused() throws {
        let url = try Paths.tempDir().appendingPathComponent("deep.xml")
        let deep = "<RestingECG>" + String(repeating: "<a>", count: 500) + String(repeating: "</a>", count: 500) + "</RestingECG>"
        try Data(deep.utf8).write(to: url)
        _ = expectFormatError(.invalidValue, file: url.path) { try ECGFileReader.read(url: url) }
    }
}

/// Inputs found by the fuzz targets (Fuzz/corpus/*/regression-*): FoundationXML traps on element
/// names that are not valid UTF-8, so such documents must be refused before they reach XMLParser.
@Suite struct FuzzRegressionTests {
    @Test func invalidUTF8ElementNameIsATypedError() throws {
        var bytes = Array("<?xml version=\"1.0\"?><CardiologyXML><StripData><Sampl".utf8)
        bytes += [0xFF, 0xFF, 0xFF, 0xFF]
        bytes += Array("e>1</Sample></StripData></CardiologyXML>".utf8)
        let url = try Paths.tempDir().appendingPathComponent("bad.xml")
        try Data(bytes).write(to: url)
        _ = expectFormatError(.malformedHeader, file: url.path) { try UKBXMLReader().read(url: url) }
        _ = expectFormatError(file: url.path) { try ECGFileReader.read(url: url) }
    }

    @Test(arguments: ["aecg", "muse", "ukb"])
    func fuzzFindingsAreTypedErrors(target: String) throws {
        let dir = Paths.repo.appendingPathComponent("Fuzz/corpus/\(target)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("regression-") }
        #expect(!files.isEmpty)
        for name in files {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            _ = expectFormatError(file: name) {
                switch target {
                case "aecg": return try AECGReader().read(data: data, path: name)
                case "muse": return try MUSEXMLReader().read(data: data, path: name)
                default: return try UKBXMLReader().read(data: data, path: name)
                }
            }
        }
    }
}
