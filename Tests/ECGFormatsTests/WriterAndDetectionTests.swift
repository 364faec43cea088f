import Foundation
import Testing
@testable import ECGFormats

@Suite struct WriterTests {
    func expectSameStoredLeads(_ a: ECGRecord, _ b: ECGRecord, tolerance: Float, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.fileLeadOrder == b.fileLeadOrder, sourceLocation: sourceLocation)
        #expect(a.samplingRate == b.samplingRate, sourceLocation: sourceLocation)
        #expect(a.sampleCount == b.sampleCount, sourceLocation: sourceLocation)
        for (x, y) in zip(a.storedLeadsInFileOrder, b.storedLeadsInFileOrder) {
            var worst: Float = 0
            for t in 0..<min(x.millivolts.count, y.millivolts.count) { worst = max(worst, abs(x.millivolts[t] - y.millivolts[t])) }
            #expect(worst <= tolerance, "lead \(x.id): worst difference \(worst) mV", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ["example-muse.xml", "example-aecg.xml", "example-ecgtoolkit.dcm", "cinc2021/JS20001.hea", "s0010_re.hea"])
    func wfdbRoundTripWithinOneMicrovolt(source: String) throws {
        let original = try ECGFileReader.read(url: Paths.records.appendingPathComponent(source))
        let dir = try Paths.tempDir(source)
        try WFDBWriter.write(original, to: dir.appendingPathComponent("out.hea"))
        let back = try ECGFileReader.read(url: dir.appendingPathComponent("out.hea"))
        #expect(back.provenance.format == .wfdb)
        // Derived leads are not written; the reader derives them again from I and II.
        #expect(back.leads.filter(\.isDerived).map(\.id) == original.leads.filter(\.isDerived).map(\.id))
        expectSameStoredLeads(original, back, tolerance: 0.0005 + 1e-6)
        if original.metadata.ageYears != nil { #expect(back.metadata.ageYears == original.metadata.ageYears) }
    }

    @Test func csvRoundTripIsExactAndKeepsFileOrder() throws {
        let original = try ECGFileReader.read(url: Paths.records.appendingPathComponent("example-muse.xml"))
        let text = CSVWriter.csvText(original)
        let firstLine = text.prefix { $0 != "\n" }
        #expect(firstLine == "I,II,V1,V2,V3,V4,V5,V6") // file order, derived leads left out
        #expect(text.split(separator: "\n").count == 1 + original.sampleCount)
        let back = try CSVReader(samplingRate: 500).read(data: Data(text.utf8), path: "mem.csv")
        expectSameStoredLeads(original, back, tolerance: 0)
        let commented = try CSVReader().read(data: Data(CSVWriter.csvText(original, rateComment: true).utf8), path: "mem.csv")
        #expect(commented.samplingRate == 500)
    }

    @Test func csvReaderUnitsTimeColumnAndTabs() throws {
        let tsv = "time\tI (uV)\tV1\n0.000\t1000\t0.5\n0.002\t-250\t0.25\n0.004\t0\t0\n"
        let r = try CSVReader().read(data: Data(tsv.utf8), path: "t.tsv")
        #expect(r.samplingRate == 500)
        #expect(r.fileLeadOrder == [.i, .v1])
        #expect(r.lead(.i)?.millivolts == [1, -0.25, 0])
        let uv = try CSVReader().read(data: Data("# sampling_rate=250 units=uV\nII\n1500\n-500\n".utf8), path: "u.csv")
        #expect(uv.lead(.ii)?.millivolts == [1.5, -0.5])
        #expect(uv.samplingRate == 250)
    }

    /// The byte-level CSV reader: CRLF, lone CR and LF give the same rows and line numbers; a BOM,
    /// blanks around fields, empty and "NaN" fields, semicolons; the error names line and column.
    @Test func csvLineEndingsBlanksAndErrorPositions() throws {
        let body = ["# sampling_rate=500", "I; II ", " 0.5 ;-1e-1", "NaN;", "", "2;3"]
        for eol in ["\n", "\r\n", "\r"] {
            let text = "\u{FEFF}" + body.joined(separator: eol) + eol
            let r = try CSVReader().read(data: Data(text.utf8), path: "e.csv")
            #expect(r.samplingRate == 500)
            #expect(r.lead(.ii)?.millivolts.count == 3)
            #expect(r.lead(.i)?.millivolts[0] == 0.5 && r.lead(.ii)?.millivolts[0] == -0.1)
            #expect(r.lead(.i)?.millivolts[1].isNaN == true && r.lead(.ii)?.millivolts[1].isNaN == true)
            #expect(r.lead(.ii)?.millivolts[2] == 3)
            let bad = (body + ["4;x5"]).joined(separator: eol)
            do {
                _ = try CSVReader().read(data: Data(bad.utf8), path: "bad.csv")
                Issue.record("'x5' was accepted")
            } catch let e as ECGFormatError {
                #expect(e.kind == .invalidValue)
                #expect(e.description.contains("'x5'") && e.description.contains("line 7, column 2 (II)"), "\(e)")
            }
        }
        do {
            _ = try CSVReader().read(data: Data("# sampling_rate=500\nI\ninf\n".utf8), path: "inf.csv")
            Issue.record("inf was accepted")
        } catch let e as ECGFormatError { #expect(e.kind == .invalidValue) }
    }

    @Test func wfdbHeaderWrittenIsReadableGrammar() throws {
        let original = try ECGFileReader.read(url: Paths.records.appendingPathComponent("cinc2021/E07503.hea"))
        let out = try WFDBWriter.encode(original, recordName: "E07503c")
        let header = try WFDBHeader.parse(out.header, file: "mem.hea")
        #expect(header.signals.count == 12)
        #expect(header.signals.allSatisfy { $0.format == 16 && $0.fileName == "E07503c.dat" && $0.units == "mV" })
        #expect(out.data.count == 12 * 5000 * 2)
    }
}

@Suite struct DetectionTests {
    @Test func formatIsDetectedFromContentNotExtension() throws {
        let dir = try Paths.tempDir()
        let cases: [(String, ECGFileFormat)] = [("example-muse.xml", .museXML), ("example-aecg.xml", .hl7aECG), ("example-ecgtoolkit.dcm", .dicom)]
        for (name, format) in cases {
            let renamed = dir.appendingPathComponent(name + ".bin")
            try FileManager.default.copyItem(at: Paths.records.appendingPathComponent(name), to: renamed)
            #expect(try ECGFileReader.read(url: renamed).provenance.format == format)
        }
        let csv = dir.appendingPathComponent("ecg.txt")
        try Data("# fs: 500\nI,II\n0.1,0.2\n0.2,0.3\n".utf8).write(to: csv)
        #expect(try ECGFileReader.read(url: csv).provenance.format == .csv)
        #expect(try ECGFileReader.read(url: csv).samplingRate == 500)
        let ukb = dir.appendingPathComponent("ukb.data")
        try Data("""
        <?xml version="1.0" encoding="UTF-8"?>
        <CardiologyXML><PatientInfo><PID>123</PID><Age units="years">58</Age><Gender>Female</Gender></PatientInfo>
        <StripData><NumberOfLeads>2</NumberOfLeads><SampleRate units="Hz">500</SampleRate><ChannelSampleCountTotal>3</ChannelSampleCountTotal>
        <Resolution units="uVperLsb">5</Resolution><WaveformData lead="I">10,-20,0</WaveformData><WaveformData lead="II">1,2,3</WaveformData></StripData></CardiologyXML>
        """.utf8).write(to: ukb)
        let r = try ECGFileReader.read(url: ukb)
        #expect(r.provenance.format == .ukbXML)
        #expect(r.lead(.i)?.millivolts == [0.05, -0.1, 0])
        #expect(r.metadata.sex == .female && r.metadata.ageYears == 58 && r.metadata.patientID == "123")
        #expect(r.lead(.aVR)?.isDerived == true)
    }

    @Test func summaryJSONHasTheContractFields() throws {
        let record = try ECGFileReader.read(url: Paths.records.appendingPathComponent("example-muse.xml"))
        let json = try RecordSummary(record: record).json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["leads"] as? [String] == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"])
        #expect(object["samplingRate"] as? Double == 500)
        #expect(object["sampleCount"] as? Int == 5000)
        #expect(object["durationSeconds"] as? Double == 10)
        #expect(object["format"] as? String == "muse-xml")
        #expect(object["derivedLeads"] as? [String] == ["III", "aVR", "aVL", "aVF"])
        #expect(RecordSummary(record: record).text().contains("500 Hz, 5000 samples, 10.00 s"))
    }
}
