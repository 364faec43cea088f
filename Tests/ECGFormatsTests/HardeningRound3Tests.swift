import Foundation
import Testing
@testable import ECGFormats

/// Issue 23 (hardening round 3): missing and non-finite samples, ages that are not ages, writers on
/// values beyond their format, atomic replacement that never loses the old file, names from files
/// that become paths or header lines, bounded work (hash, attributes, annotations).
@Suite struct HardeningRound3Tests {
    func dir(_ name: String = #function) throws -> URL { try Paths.tempDir("h3-" + name.filter(\.isLetter)) }

    func record(_ leads: [(String, [Float])], rate: Double = 500, age: Double? = nil) throws -> ECGRecord {
        var md = ECGMetadata()
        md.ageYears = age
        return try ECGRecord.canonical(storedLeads: leads.map { Lead(parsing: $0.0, millivolts: $0.1) }, samplingRate: rate,
                                       metadata: md, provenance: Provenance(format: .csv, path: "/in/test.csv", sha256: ""))
    }

    // MARK: ages and numbers

    @Test func agesThatAreNotAgesAreDropped() throws {
        for bad in [Double.nan, .infinity, -.infinity, 1e999, -1, 151, 1e300] {
            #expect(ECGMetadata(ageYears: bad).ageYears == nil, "\(bad)")
            var m = ECGMetadata()
            m.ageYears = bad
            #expect(m.ageYears == nil, "\(bad)")
        }
        #expect(ECGMetadata(ageYears: 67.5).ageYears == 67.5)
        let d = try dir()
        let csv = d.appendingPathComponent("a.csv")
        try Data("# sampling_rate=500 age=nan\nI,II\n0.1,0.2\n0.2,0.1\n".utf8).write(to: csv)
        #expect(try ECGFileReader.read(url: csv).metadata.ageYears == nil)
        let hea = d.appendingPathComponent("w.hea")
        try Data(count: 40).write(to: d.appendingPathComponent("w.dat"))
        try Data("w 1 500 20\nw.dat 16 200 16 0 0 0 0 I\n# Age: 1e999\n".utf8).write(to: hea)
        #expect(try ECGFileReader.read(url: hea).metadata.ageYears == nil)
    }

    @Test func wholeNumberTextNeverTraps() {
        #expect(NumberText.whole(411.6) == "412")
        #expect(NumberText.whole(nil) == "–")
        #expect(NumberText.whole(.nan) == "–")
        #expect(NumberText.whole(.infinity) == "–")
        #expect(NumberText.whole(1e300) == "1e+300")
        #expect(Int(checked: .nan) == nil && Int(checked: 1e19) == nil && Int(checked: -3.5) == -3)
        let m = DeviceMeasurements(prMs: 1e300, qrsMs: .nan, qtMs: 380, qtcBazettMs: nil, qtcFridericiaMs: nil,
                                   pAxisDeg: -1e30, qrsAxisDeg: nil, tAxisDeg: nil, heartRateBpm: nil, source: "t")
        #expect(m.compactLine().contains("QT/QTc 380"))
    }

    // MARK: writers

    @Test func valuesBeyondTheFormatAreTypedErrorsNamingLeadAndSample() throws {
        let r = try record([("I", [0.1, 0.2, 3.4e38, 0.1]), ("II", [0.1, 0.1, 0.1, 0.1])])
        for encode in [{ _ = try WFDBWriter.encode(r, recordName: "x") }, { _ = try DICOMWaveformWriter.encode(r) }] {
            do {
                try encode()
                Issue.record("3.4e38 mV was written")
            } catch let e as ECGFormatError {
                #expect(e.kind == .invalidValue)
                #expect(e.description.contains("lead I sample 2"), "\(e)")
                #expect(e.file == "/in/test.csv")
            }
        }
        // At the limit it is written and reads back.
        let edge = try record([("I", [Float(WFDBWriter.maxAbsMillivolts), -Float(WFDBWriter.maxAbsMillivolts), 0])])
        let out = try WFDBWriter.encode(edge, recordName: "e")
        let back = try WFDBReader().read(headerData: Data(out.header.utf8), headerURL: URL(fileURLWithPath: "/x/e.hea")) { $0 == "e.dat" ? out.data : nil }
        #expect(abs(back.leads[0].millivolts[0] - 32766) < 1)
    }

    @Test func missingSamplesAreWrittenAsEachFormatsMissingValueAndReadBackMissing() throws {
        let r = try record([("I", [0.1, .nan, 0.3, 0.2]), ("II", [0.2, 0.2, .nan, 0.1])])
        let csv = CSVWriter.csvText(r, rateComment: true)
        #expect(csv.contains("\n0.1,0.2\n,0.2\n0.3,\n"), "\(csv)")
        let w = try WFDBWriter.encode(r, recordName: "g")
        let wb = try WFDBReader().read(headerData: Data(w.header.utf8), headerURL: URL(fileURLWithPath: "/x/g.hea")) { $0 == "g.dat" ? w.data : nil }
        #expect(wb.lead(.i)!.millivolts[1].isNaN && wb.lead(.ii)!.millivolts[2].isNaN && !wb.lead(.i)!.millivolts[0].isNaN)
        // DICOM: the padding value, which the reader now honours (it read −16.384 mV before).
        let d = try DICOMWaveformWriter.encode(try record([("I", [0.1, .nan, 0.3, 0.2] + [Float](repeating: 0.1, count: 400))], rate: 500))
        let db = try DICOMWaveformReader().read(data: d, path: "/x/g.dcm")
        #expect(db.lead(.i)!.millivolts[1].isNaN)
        #expect(abs(db.lead(.i)!.millivolts[0] - 0.1) < 0.01)
    }

    // Found by fuzz-writers: CSVWriter prints Float.max as "3.4028235e+38", which is a little above
    // Float.max as a Double, and CSVReader refused its own output as "too large for a 32-bit sample".
    @Test func theLargestFloatRoundTripsThroughCSV() throws {
        let r = try record([("I", [Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude, 0.1])])
        let back = try CSVReader(samplingRate: nil).read(data: Data(CSVWriter.csvText(r, rateComment: true).utf8), path: "/x/m.csv")
        #expect(back.lead(.i)?.millivolts.first == Float.greatestFiniteMagnitude)
        #expect(throws: ECGFormatError.self) {
            try CSVReader(samplingRate: 500).read(data: Data("I\n1e39\n".utf8), path: "/x/inf.csv")
        }
    }

    @Test func leadNamesCannotAddLinesOrColumns() throws {
        let r = try record([("V1\r# Age: 999", [0.1, 0.2]), ("V2\u{2028}x 16", [0.1, 0.2]), ("V3, chest", [0.1, 0.2]), ("\u{202E}V4\"", [0.1, 0.2])])
        let w = try WFDBWriter.encode(r, recordName: "n")
        let lines = w.header.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.filter { !$0.hasPrefix("#") }.count == 5, "\(w.header)")
        #expect(!w.header.unicodeScalars.contains { $0.value == 0x0D || $0.value == 0x2028 || $0.value == 0x202E })
        _ = try WFDBReader().read(headerData: Data(w.header.utf8), headerURL: URL(fileURLWithPath: "/x/n.hea")) { $0 == "n.dat" ? w.data : nil }
        let text = CSVWriter.csvText(r, rateComment: true)
        let back = try CSVReader(samplingRate: nil).read(data: Data(text.utf8), path: "/x/n.csv")
        #expect(back.storedLeadsInFileOrder.count == 4, "\(text.prefix(120))")
    }

    // MARK: atomic replacement

    @Test func replacingNeverLosesTheOldFile() throws {
        let d = try dir()
        let x = d.appendingPathComponent("x.csv")
        try AtomicReplace.write(Data("one".utf8), to: x)
        try AtomicReplace.write(Data("two".utf8), to: x)
        #expect(try String(contentsOf: x, encoding: .utf8) == "two")
        // The target cannot be replaced (it is a non-empty folder): the error is typed, the folder
        // stays, and no temporary file is left behind.
        let folder = d.appendingPathComponent("f")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: folder.appendingPathComponent("keep.txt"))
        #expect(throws: AtomicReplace.Failure.self) { try AtomicReplace.write(Data("x".utf8), to: folder) }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("keep.txt").path))
        // A pair whose second member cannot be placed puts the first one back.
        let dat = d.appendingPathComponent("p.dat")
        try Data("old dat".utf8).write(to: dat)
        #expect(throws: AtomicReplace.Failure.self) { try AtomicReplace.write([(Data("new dat".utf8), dat), (Data("hea".utf8), folder)]) }
        #expect(try String(contentsOf: dat, encoding: .utf8) == "old dat")
        let left = try FileManager.default.contentsOfDirectory(atPath: d.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func convertingOntoTheInputIsRefused() throws {
        let d = try dir()
        let csv = d.appendingPathComponent("a.csv")
        try Data("# sampling_rate=500\nI,II\n0.1,0.2\n0.2,0.1\n".utf8).write(to: csv)
        let r = try ECGFileReader.read(url: csv)
        #expect(throws: ECGFormatError.self) { try CSVWriter.write(r, to: URL(fileURLWithPath: d.path + "/./a.csv")) }
        #expect(try String(contentsOf: csv, encoding: .utf8).hasPrefix("# sampling_rate=500\nI,II"))
        try WFDBWriter.write(r, to: d.appendingPathComponent("w"))
        let w = try ECGFileReader.read(url: d.appendingPathComponent("w.hea"))
        #expect(throws: ECGFormatError.self) { try WFDBWriter.write(w, to: d.appendingPathComponent("w")) }
        #expect(FileManager.default.fileExists(atPath: d.appendingPathComponent("w.dat").path))
        try WFDBWriter.write(w, to: d.appendingPathComponent("w2"))
        try WFDBWriter.write(w, to: d.appendingPathComponent("w2"))
        #expect(try ECGFileReader.read(url: d.appendingPathComponent("w2.hea")).sampleCount == 2)
    }

    // MARK: names from files as paths

    @Test func pathComponentsFromFilesAreSingleNames() throws {
        for bad in ["", ".", "..", "./../victim", "a/b", "/tmp", "x\u{1B}y", String(repeating: "a", count: 256)] {
            #expect(PathComponent.problem(bad) != nil, "\(bad)")
        }
        #expect(PathComponent.problem("E07500-8e480559") == nil)
        let d = try dir()
        let hea = d.appendingPathComponent("m.hea")
        try Data("m/2 1 500 20\n../s 10\ns 10\n".utf8).write(to: hea)
        #expect(throws: ECGFormatError.self) { try ECGFileReader.read(url: hea) }
    }

    // MARK: bounded work

    @Test func theDigestCoversOnlyTheBytesTheHeaderAccountsFor() throws {
        let d = try dir()
        var raw = Data()
        for k in 0..<100 { raw.append(contentsOf: [UInt8(k), 0]) }
        try raw.write(to: d.appendingPathComponent("a.dat"))
        try Data("a 1 500 100\na.dat 16 200\n".utf8).write(to: d.appendingPathComponent("a.hea"))   // no checksum
        let before = try ECGFileReader.read(url: d.appendingPathComponent("a.hea")).provenance.sha256
        // Bytes beyond the declared samples do not change the digest (nor get read).
        raw.append(Data(count: 1 << 20))
        try raw.write(to: d.appendingPathComponent("a.dat"))
        #expect(try ECGFileReader.read(url: d.appendingPathComponent("a.hea")).provenance.sha256 == before)
        // A declared sample does.
        raw[0] = 99
        try raw.write(to: d.appendingPathComponent("a.dat"))
        #expect(try ECGFileReader.read(url: d.appendingPathComponent("a.hea")).provenance.sha256 != before)
    }

    @Test func tooManyXMLAttributesAreRefusedBeforeParsing() throws {
        let attrs = (0..<300).map { "a\($0)=\"1\"" }.joined(separator: " ")
        let xml = Data("<?xml version=\"1.0\"?>\n<RestingECG \(attrs)/>\n".utf8)
        do {
            _ = try XTreeBuilder.parse(xml, file: "/x/a.xml")
            Issue.record("300 attributes accepted")
        } catch let e as ECGFormatError {
            #expect(e.description.contains("attributes"))
        }
        // Quoted '=' and '>' in values do not count.
        _ = try XTreeBuilder.parse(Data("<a b=\"x=y>z\" c='=='><d/></a>".utf8), file: "/x/b.xml")
    }

    @Test func annotationCountIsCapped() throws {
        var words = Data()
        for _ in 0...ReaderLimits.maxAnnotations { words.append(contentsOf: [0x01, 0x04]) }  // code 1, +1 sample
        #expect(throws: ECGFormatError.self) { try WFDBAnnotationReader.parse(words, file: "a.atr") }
    }

    @Test func theNeutraliserRemovesBidiControls() {
        for s in ["\u{202E}", "\u{2066}", "\u{200F}", "\u{061C}", "\u{1B}", "\u{2028}"] {
            #expect(TerminalText.sanitize("a\(s)b") == "a?b", "\(s.unicodeScalars.first!.value)")
        }
    }
}
