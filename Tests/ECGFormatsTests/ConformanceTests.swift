import Foundation
import Testing
@testable import ECGFormats

/// Every decoded sample checked against reference values from wfdb-python, pydicom and plain
/// decoding of the XML formats (tools/fixtures/make_fixtures.py): within 1 µV.
@Suite struct ConformanceTests {
    static let toleranceMillivolts: Float = 0.001 + 1e-6 // 1 µV, plus float32 rounding of the reference

    static func sourceURL(_ source: String) throws -> URL {
        if source.hasPrefix("records:") { return Paths.records.appendingPathComponent(String(source.dropFirst(8))) }
        if source.hasPrefix("fixture:") { return try Paths.fixture(String(source.dropFirst(8))) }
        throw ECGFormatError(.invalidValue, file: source, "unknown source prefix")
    }

    static let names: [String] = (try? Manifest.load().records.keys.sorted()) ?? []

    @Test func manifestCoversEveryRequiredSource() throws {
        let m = try Manifest.load()
        for required in ["100", "s0010_re", "binformats", "wrsamp-fmt16", "wrsamp-fmt212", "dicom-explicit", "dicom-implicit",
                         "example-aecg", "example-muse", "example-ecgtoolkit", "cinc2021-E07500", "cinc2021-JS20007"] {
            #expect(m.records[required] != nil, "manifest lacks \(required)")
        }
        #expect(m.records.count >= 29)
    }

    @Test(arguments: names)
    func decodedSamplesMatchReference(name: String) throws {
        let entry = try #require(try Manifest.load().records[name])
        let url = try Self.sourceURL(entry.source)
        let record = try ECGFileReader.read(url: url)
        let ref = try Reference(url: Paths.fixture(entry.reference))
        #expect(record.samplingRate == ref.samplingRate)
        #expect(record.sampleCount == ref.sampleCount)
        #expect(ref.values.count == entry.leads.count)
        for (s, rawName) in entry.leads.enumerated() {
            var id = LeadID(parsing: rawName)
            if case .other(let n) = id, let paren = n.firstIndex(of: "(") { id = LeadID(parsing: n[..<paren].trimmingCharacters(in: .whitespaces)) }
            let lead = try #require(record.lead(id), "\(name): lead \(rawName) missing; have \(record.leads.map(\.id))")
            #expect(!lead.isDerived)
            var worst: Float = 0, worstIndex = -1
            for (j, t) in ref.indices.enumerated() {
                let expected = ref.values[s][j], got = lead.millivolts[t]
                if expected.isNaN || got.isNaN {
                    #expect(expected.isNaN && got.isNaN, "\(name) \(rawName)[\(t)]: expected \(expected), got \(got)")
                    continue
                }
                let d = abs(expected - got)
                if d > worst { worst = d; worstIndex = t }
            }
            #expect(worst <= Self.toleranceMillivolts, "\(name) \(rawName): worst difference \(worst * 1000) µV at sample \(worstIndex)")
        }
    }

    @Test func ptbRecordKeepsItsStandardLeadsWhenFrankFileIsAbsent() throws {
        let record = try WFDBReader().read(url: Paths.records.appendingPathComponent("s0010_re.hea"))
        #expect(record.leads.prefix(12).map(\.id) == LeadID.standard12)
        #expect(record.samplingRate == 1000)
        #expect(record.sampleCount == 38400)
        #expect(record.metadata.sex == .female)
        #expect(record.metadata.ageYears == 81)
        let missing = try #require(record.metadata.extra["missingSignalFiles"])
        #expect(missing.contains("s0010_re.xyz"))
    }

    @Test func cinc2021HeaderCommentsBecomeMetadata() throws {
        let record = try ECGFileReader.read(url: Paths.records.appendingPathComponent("cinc2021/E07500.hea"))
        #expect(record.metadata.ageYears == 78)
        #expect(record.metadata.sex == .male)
        #expect(record.metadata.extra["Dx"] == "67741000119109,426177001")
        #expect(record.durationSeconds == 10)
        #expect(record.provenance.format == .wfdb)
        #expect(record.provenance.sha256.count == 64)
    }

    @Test func mitBihRecordReadsByNameAndByItsSignalFile() throws {
        let byName = try ECGFileReader.read(url: Paths.records.appendingPathComponent("100"))
        let byData = try ECGFileReader.read(url: Paths.records.appendingPathComponent("100.dat"))
        #expect(byName.leads.map(\.id) == [.ii, .v5])  // MIT-BIH's modified lead II is shown as lead II
        #expect(byName.fileLeadOrder == [.ii, .v5])
        #expect(byName == byData)
        #expect(byName.metadata.ageYears == 69)
        #expect(byName.metadata.sex == .male)
        #expect(byName.sampleCount == 650000)
    }

    @Test func museStoresEightLeadsAndTheOtherFourAreDerivedAndMarked() throws {
        let record = try ECGFileReader.read(url: Paths.records.appendingPathComponent("example-muse.xml"))
        #expect(record.provenance.format == .museXML)
        #expect(record.leads.map(\.id) == LeadID.standard12)
        #expect(record.fileLeadOrder == [.i, .ii, .v1, .v2, .v3, .v4, .v5, .v6])
        for id in [LeadID.iii, .aVR, .aVL, .aVF] { #expect(record.lead(id)?.isDerived == true) }
        let i = try #require(record.lead(.i)).millivolts, ii = try #require(record.lead(.ii)).millivolts
        let iii = try #require(record.lead(.iii)).millivolts, avr = try #require(record.lead(.aVR)).millivolts
        for t in stride(from: 0, to: record.sampleCount, by: 97) {
            #expect(abs(iii[t] - (ii[t] - i[t])) < 1e-5)
            #expect(abs(avr[t] + (i[t] + ii[t]) / 2) < 1e-5)
        }
        #expect(record.metadata.patientID == "JAX01234")
        #expect(record.metadata.sex == .male)
        #expect(record.metadata.ageYears == 60)
        #expect(record.metadata.device == "MAC55")
        #expect(record.samplingRate == 500)
    }

    @Test func aecgAndDicomCarryTwelveStoredLeadsAndMetadata() throws {
        let aecg = try ECGFileReader.read(url: Paths.records.appendingPathComponent("example-aecg.xml"))
        #expect(aecg.provenance.format == .hl7aECG)
        #expect(aecg.leads.count == 12 && aecg.leads.allSatisfy { !$0.isDerived })
        #expect(aecg.sampleCount == 5000 && aecg.samplingRate == 500)
        #expect(aecg.metadata.acquisitionTime != nil)
        let dcm = try ECGFileReader.read(url: Paths.records.appendingPathComponent("example-ecgtoolkit.dcm"))
        #expect(dcm.provenance.format == .dicom)
        #expect(dcm.leads.map(\.id) == LeadID.standard12)
        #expect(dcm.sampleCount == 5000)
        let fixture = try ECGFileReader.read(url: Paths.fixture("dicom/ecg-implicit.dcm"))
        #expect(fixture.metadata.patientID == "FIXTURE-001")
        #expect(fixture.metadata.sex == .female)
        #expect(fixture.metadata.ageYears == 63)
        #expect(fixture.metadata.extra["transferSyntax"] == "1.2.840.10008.1.2")
        let explicit = try ECGFileReader.read(url: Paths.fixture("dicom/ecg-explicit.dcm"))
        #expect(explicit.leads == fixture.leads)
    }

    @Test func everyBinaryFormatChecksumVerifies() throws {
        // The binformats header carries a checksum per signal: a wrong bit anywhere would throw.
        let record = try WFDBReader(verifyChecksums: true).read(url: Paths.records.appendingPathComponent("binformats.hea"))
        #expect(record.leads.count == 10)
        #expect(record.sampleCount == 499)
    }
}
