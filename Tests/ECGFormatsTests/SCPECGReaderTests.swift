import Foundation
import Testing
@testable import ECGFormats

/// What tools/fixtures/make_scp_fixtures.py wrote beside each synthetic record.
struct SCPFixture: Decodable {
    var file: String
    var reference: String
    var leads: [String]
    var samplingRate: Double
    var sampleCount: Int
    var bimodalFactor: Int
    var patientID: String
    var ageYears: Double
    var sex: String
    var device: String
    var acquisitionTime: String
    var heartRateBpm: Double
    var prMs: Double
    var qrsMs: Double
    var qtMs: Double
    var qtcBazettMs: Double
    var axesDeg: [Double]
    var diagnosis: String

    static func all() throws -> [String: SCPFixture] {
        try JSONDecoder().decode([String: SCPFixture].self, from: Data(contentsOf: Paths.fixture("scp/synthetic.json")))
    }
}

/// Section offsets of a record (from its pointer section), for tests that damage one section.
func scpSections(_ b: [UInt8]) -> [Int: (offset: Int, length: Int)] {
    func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    var out: [Int: (Int, Int)] = [:]
    let s0 = u32(6 + 4)
    var k = 6 + 16
    while k + 10 <= 6 + s0 {
        if u32(k + 2) > 0 { out[u16(k)] = (u32(k + 6) - 1, u32(k + 2)) }
        k += 10
    }
    return out
}

/// Recomputes the CRC of the section at `offset` and the record CRC, so a test can change content
/// and still reach the check it means to exercise.
func scpFixCRCs(_ b: inout [UInt8], section offset: Int? = nil) {
    if let offset {
        let length = Int(b[offset + 4]) | Int(b[offset + 5]) << 8 | Int(b[offset + 6]) << 16 | Int(b[offset + 7]) << 24
        let crc = CRCCCITT.checksum(b[(offset + 2)..<(offset + length)])
        b[offset] = UInt8(crc & 0xFF); b[offset + 1] = UInt8(crc >> 8)
    }
    let length = Int(b[2]) | Int(b[3]) << 8 | Int(b[4]) << 16 | Int(b[5]) << 24
    let crc = CRCCCITT.checksum(b[2..<min(length, b.count)])
    b[0] = UInt8(crc & 0xFF); b[1] = UInt8(crc >> 8)
}

@Suite struct SCPECGReaderTests {
    @Test func crcMatchesTheStandardsCheckValue() {
        // CRC-CCITT (0x1021, init 0xFFFF) of "123456789" is 0x29B1.
        #expect(CRCCCITT.checksum(ArraySlice(Array("123456789".utf8))) == 0x29B1)
    }

    @Test(arguments: ["raw", "default-d1", "default-d2", "custom-table", "refbeat", "bimodal"])
    func syntheticRecordDecodesToTheEncodedMillivolts(variant: String) throws {
        let fixture = try #require(try SCPFixture.all()[variant])
        let url = try Paths.fixture("scp/" + fixture.file)
        let data = try Data(contentsOf: url)
        #expect(ECGFileReader.detect(data) == .scpECG)
        let record = try ECGFileReader.read(url: url)
        #expect(record.provenance.format == .scpECG)
        #expect(record.samplingRate == fixture.samplingRate)
        #expect(record.sampleCount == fixture.sampleCount)
        #expect(record.fileLeadOrder.map(\.description) == fixture.leads)
        let reference = try Reference(url: Paths.fixture("scp/" + fixture.reference))
        #expect(reference.indices.count == fixture.sampleCount)
        for (k, lead) in record.storedLeadsInFileOrder.enumerated() {
            var worst: Float = 0
            for (j, t) in reference.indices.enumerated() { worst = max(worst, abs(lead.millivolts[t] - reference.values[k][j])) }
            // Lossless codings are exact; bimodal is the standard's interpolation, computed by numpy in float64.
            #expect(worst <= (fixture.bimodalFactor > 1 ? 1e-6 : 0), "lead \(lead.id): worst difference \(worst) mV")
        }
        // III, aVR, aVL, aVF derived from I and II.
        #expect(record.lead(.iii)?.isDerived == true)
        let md = record.metadata
        #expect(md.patientID == fixture.patientID)
        #expect(md.ageYears == fixture.ageYears)
        #expect(md.sex?.rawValue == fixture.sex)
        #expect(md.device == fixture.device)
        #expect(md.acquisitionTime == ISO8601DateFormatter().date(from: fixture.acquisitionTime))
        #expect(md.extra["diagnosis"] == fixture.diagnosis)
        // Names are in section 1 (tags 0 and 1) but no reader keeps them.
        #expect(!md.extra.values.contains { $0.contains("Doe") || $0.contains("Jane") })
        let m = try #require(md.deviceMeasurements)
        #expect(m.heartRateBpm == fixture.heartRateBpm)
        #expect(m.prMs == fixture.prMs && m.qrsMs == fixture.qrsMs && m.qtMs == fixture.qtMs)
        #expect(m.qtcBazettMs == fixture.qtcBazettMs)
        #expect([m.pAxisDeg, m.qrsAxisDeg, m.tAxisDeg] == fixture.axesDeg.map { Optional($0) })
        #expect(m.source.hasPrefix("SCP-ECG section 7"))
    }

    /// Example.scp of the C# ECG Toolkit (Apache-2.0): 12 leads, default Huffman table, second
    /// differences, AVM 2500 nV. Reference samples from an independent decoder (see the README).
    @Test func ecgToolkitExampleMatchesTheReferenceDecoder() throws {
        let url = try Paths.fixture("scp/Example.scp")
        let record = try ECGFileReader.read(url: url)
        #expect(record.samplingRate == 500)
        #expect(record.sampleCount == 5000)
        #expect(record.fileLeadOrder == [.i, .ii, .v1, .v2, .v3, .v4, .v5, .v6, .iii, .aVR, .aVL, .aVF])
        #expect(record.leads.allSatisfy { !$0.isDerived })
        let reference = try Reference(url: Paths.fixture("scp/Example.ref"))
        for (k, lead) in record.storedLeadsInFileOrder.enumerated() {
            for (j, t) in reference.indices.enumerated() {
                #expect(abs(lead.millivolts[t] - reference.values[k][j]) <= 1e-6, "lead \(lead.id) sample \(t)")
            }
        }
        #expect(record.metadata.patientID == "SBJ-123")
        #expect(record.metadata.sex == .male)
        #expect(record.metadata.ageYears == 49)  // born 1953-05-08, recorded 2002-11-22
        // Section 7 as ECGConversion wrote it: first block P 286–388, QRS 434–554, T end 854 ms; axes
        // 44/−61/86°; QTc 443 ms with no formula stated; no ventricular rate, RR 29999 (undefined).
        let m = try #require(record.metadata.deviceMeasurements)
        #expect(m.prMs == 148 && m.qrsMs == 120 && m.qtMs == 420)
        #expect(m.pAxisDeg == 44 && m.qrsAxisDeg == -61 && m.tAxisDeg == 86)
        #expect(m.qtcReportedMs == 443 && m.qtcBazettMs == nil)
        #expect(m.heartRateBpm == nil)
    }

    @Test func leadsNumberedFromZeroAreReadAsFromOne() throws {
        let url = try Paths.fixture("scp/synthetic-default-d2.scp")
        var bytes = [UInt8](try Data(contentsOf: url))
        let s3 = try #require(scpSections(bytes)[3])
        for k in 0..<Int(bytes[s3.offset + 16]) { bytes[s3.offset + 16 + 2 + 9 * k] = 0 }  // first sample 1 → 0
        scpFixCRCs(&bytes, section: s3.offset)
        let shifted = try SCPECGReader().read(data: Data(bytes), path: "zero.scp")
        let original = try SCPECGReader().read(url: url)
        #expect(shifted.leads.map(\.millivolts) == original.leads.map(\.millivolts))
    }

    @Test func leadsOverDifferentSampleRangesShareOneTimeline() throws {
        let url = try Paths.fixture("scp/synthetic-raw.scp")
        var bytes = [UInt8](try Data(contentsOf: url))
        let s3 = try #require(scpSections(bytes)[3])
        // Lead 2 (II) recorded from sample 101 on, with the same stored data: its first 100 are missing.
        let entry = s3.offset + 16 + 2 + 9
        bytes[entry] = 101
        let last = 2600
        bytes[entry + 4] = UInt8(last & 0xFF); bytes[entry + 5] = UInt8(last >> 8)
        scpFixCRCs(&bytes, section: s3.offset)
        let record = try SCPECGReader().read(data: Data(bytes), path: "staggered.scp")
        let original = try SCPECGReader().read(url: url)
        #expect(record.sampleCount == 2600)
        let two = try #require(record.lead(.ii)?.millivolts)
        #expect(two[0..<100].allSatisfy { $0.isNaN })
        #expect(Array(two[100...]) == original.lead(.ii)?.millivolts)
        let one = try #require(record.lead(.i)?.millivolts)
        #expect(one[2500...].allSatisfy { $0.isNaN })
    }

    // MARK: hostile files

    func example() throws -> [UInt8] { [UInt8](try Data(contentsOf: Paths.fixture("scp/synthetic-refbeat.scp"))) }

    @Test func everyTruncationIsATypedError() throws {
        let bytes = try example()
        for n in stride(from: 0, to: bytes.count, by: 97) {
            _ = expectFormatError(file: "t.scp") { try SCPECGReader().read(data: Data(bytes[0..<n]), path: "t.scp") }
        }
        // Truncated but with the record length and CRC rewritten to match: a section now runs past the end.
        var cut = Array(bytes[0..<(bytes.count - 300)])
        let n = UInt32(cut.count)
        cut[2] = UInt8(n & 0xFF); cut[3] = UInt8(n >> 8 & 0xFF); cut[4] = UInt8(n >> 16 & 0xFF); cut[5] = UInt8(n >> 24)
        scpFixCRCs(&cut)
        _ = expectFormatError(.invalidValue) { try SCPECGReader().read(data: Data(cut), path: "t.scp") }
    }

    @Test func badRecordCRCIsCorrupt() throws {
        var bytes = try example()
        bytes[bytes.count - 1] ^= 0x55
        let error = expectFormatError(.corrupt) { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
        #expect(error?.location == "byte 0")
    }

    @Test func badSectionCRCNamesTheSection() throws {
        var bytes = try example()
        let s6 = try #require(scpSections(bytes)[6])
        bytes[s6.offset + 40] ^= 0x01
        scpFixCRCs(&bytes)  // record CRC right, section 6 CRC wrong
        let error = expectFormatError(.corrupt) { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
        #expect(error?.location?.hasPrefix("section 6") == true)
    }

    @Test func pointerPastTheEndIsRefused() throws {
        var bytes = try example()
        // Section 6's pointer entry: index moved beyond the record.
        var k = 6 + 16
        while !(bytes[k] == 6 && bytes[k + 1] == 0) { k += 10 }
        bytes[k + 6] = 0xFF; bytes[k + 7] = 0xFF; bytes[k + 8] = 0x0F
        scpFixCRCs(&bytes, section: 6)
        _ = expectFormatError(.invalidValue) { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
    }

    @Test func hugeSampleCountsAreRefusedBeforeAllocation() throws {
        var bytes = try example()
        let s3 = try #require(scpSections(bytes)[3])
        // Lead 1: samples 1 … 99,999,999 — the Huffman stream cannot hold that many.
        let last = UInt32(99_999_999)
        let at = s3.offset + 16 + 2 + 4
        for b in 0..<4 { bytes[at + b] = UInt8(last >> (8 * UInt32(b)) & 0xFF) }
        scpFixCRCs(&bytes, section: s3.offset)
        let error = expectFormatError { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
        #expect(error?.kind == .truncated || error?.kind == .invalidValue)
    }

    @Test func badHuffmanTablesAreRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: Paths.fixture("scp/synthetic-custom-table.scp")))
        let s2 = try #require(scpSections(bytes)[2])
        let body = s2.offset + 16
        // Table 1, code 5 is the switch to table 2: point it at table 9.
        let code5 = body + 2 + 2 + 4 * 9
        #expect(bytes[code5 + 2] == 0)
        var switchBad = bytes
        switchBad[code5 + 3] = 9
        scpFixCRCs(&switchBad, section: s2.offset)
        _ = expectFormatError(.invalidValue) { try SCPECGReader().read(data: Data(switchBad), path: "t.scp") }
        // Code 2 ("10") made "0", the same as code 1: ambiguous.
        var ambiguous = bytes
        ambiguous[body + 2 + 2 + 9 + 0] = 1
        ambiguous[body + 2 + 2 + 9 + 5] = 0
        scpFixCRCs(&ambiguous, section: s2.offset)
        _ = expectFormatError(.invalidValue) { try SCPECGReader().read(data: Data(ambiguous), path: "t.scp") }
        // A table with 60,000 codes.
        bytes[body + 2] = 0x60; bytes[body + 3] = 0xEA
        scpFixCRCs(&bytes, section: s2.offset)
        _ = expectFormatError(.invalidValue) { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
    }

    @Test func garbageHuffmanDataIsATypedError() throws {
        var bytes = try example()
        let s6 = try #require(scpSections(bytes)[6])
        // All ones: every value is a 16-bit escape, so the stream runs out long before 2500 samples.
        let dataStart = s6.offset + 16 + 6 + 2 * 4
        for k in dataStart..<(s6.offset + s6.length) { bytes[k] = 0xFF }
        scpFixCRCs(&bytes, section: s6.offset)
        _ = expectFormatError(.truncated) { try SCPECGReader().read(data: Data(bytes), path: "t.scp") }
    }

    @Test func fuzzFindingsAreTypedErrors() throws {
        let dir = Paths.repo.appendingPathComponent("Fuzz/corpus/scp")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("regression-") }
        for name in files {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            _ = expectFormatError(file: name) { try SCPECGReader().read(data: data, path: name) }
        }
    }
}
