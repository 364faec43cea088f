import Foundation
import Testing
@testable import ECGFormats

/// The DICOM writer: UIDs, value encoding, Part 10 framing, and ECG waveforms that read back.
@Suite struct DICOMWriterTests {
    static let records = Paths.records

    @Test func uuidUIDsAreTheDecimalValue() {
        // The ITU-T X.667 example: f81d4fae-7dec-11d0-a765-00a0c91e6bf6.
        #expect(DICOMUID.fromUUID(UUID(uuidString: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")!) == "2.25.329800735698586629295641978511506172918")
        #expect(DICOMUID.fromUUID(UUID(uuidString: "00000000-0000-0000-0000-000000000001")!) == "2.25.1")
        #expect(DICOMUID.fromUUID(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!) == "2.25.0")
        let named = DICOMUID.named("a"), other = DICOMUID.named("b")
        #expect(named == DICOMUID.named("a") && named != other)
        for uid in [named, other, DICOMUID.random(), DICOMFile.implementationClassUID] {
            #expect(uid.count <= 64 && uid.hasPrefix("2.25.") && uid.allSatisfy { $0.isNumber || $0 == "." })
            #expect(!uid.dropFirst(5).hasPrefix("0") || uid == "2.25.0")
        }
    }

    @Test func valuesArePaddedToEvenLengthAndCut() {
        var ds = DICOMDataSet()
        ds.set(0x0008_0060, "CS", "OT")
        ds.set(0x0020_000D, "UI", "1.2.3")          // odd: NUL pad
        ds.set(0x0008_103E, "LO", "abc")            // odd: space pad
        ds.set(0x0010_0020, "LO", String(repeating: "x", count: 80))
        ds.set(0x0028_0010, us: [512])
        let b = ds.encoded()
        // (0008,0060) CS len 2 "OT", then (0008,103E) LO len 4 "abc ", then (0010,0020) 64, (0020,000D) UI "1.2.3\0", (0028,0010) US.
        #expect(Array(b[0..<10]) == [0x08, 0, 0x60, 0, 0x43, 0x53, 2, 0, 0x4F, 0x54])
        #expect(Array(b[10..<22]) == [0x08, 0, 0x3E, 0x10, 0x4C, 0x4F, 4, 0, 0x61, 0x62, 0x63, 0x20])
        #expect(Array(b[22..<30]) == [0x10, 0, 0x20, 0, 0x4C, 0x4F, 64, 0])
        let ui = 30 + 64
        #expect(Array(b[ui..<(ui + 14)]) == [0x20, 0, 0x0D, 0, 0x55, 0x49, 6, 0] + Array("1.2.3".utf8) + [0])
        #expect(Array(b[(ui + 14)...]) == [0x28, 0, 0x10, 0, 0x55, 0x53, 2, 0, 0, 2])
        #expect(DICOMValue.ds(1.55) == "1.55")
        #expect(DICOMValue.ds(1000.0 / 3).count <= 16)
        #expect(DICOMValue.ds(-1e-20).count <= 16)
        #expect(DICOMValue.age(78.4) == "078Y")
    }

    @Test func part10HeaderHasPreambleMetaGroupLengthAndTransferSyntax() throws {
        var ds = DICOMDataSet()
        ds.set(0x0008_0060, "CS", "OT")
        let file = [UInt8](DICOMFile.encode(ds, sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: "2.25.1"))
        #expect(file[0..<128].allSatisfy { $0 == 0 })
        #expect(String(decoding: file[128..<132], as: UTF8.self) == "DICM")
        // (0002,0000) UL 4 <length>: the meta group's bytes after it.
        #expect(Array(file[132..<140]) == [0x02, 0, 0, 0, 0x55, 0x4C, 4, 0])
        let length = Int(file[140]) | Int(file[141]) << 8 | Int(file[142]) << 16 | Int(file[143]) << 24
        let metaEnd = 144 + length
        #expect(file[metaEnd] == 0x08 && file[metaEnd + 1] == 0)     // the data set starts right after
        let meta = String(decoding: file[144..<metaEnd], as: UTF8.self)
        #expect(meta.contains(DICOMFile.explicitVRLittleEndian))
        #expect(meta.contains(DICOMFile.implementationClassUID))
        #expect(file.count % 2 == 0)
    }

    @Test func waveformReadsBackWithinHalfAMicrovolt() throws {
        let url = Self.records.appendingPathComponent("cinc2021/E07500.hea")
        let record = try ECGFileReader.read(url: url)
        let data = try DICOMWaveformWriter.encode(record)
        let text = String(decoding: data.prefix(400), as: UTF8.self)
        #expect(text.contains(DICOMWaveformWriter.twelveLeadSOPClass))
        let back = try DICOMWaveformReader().read(data: data, path: "written.dcm")
        #expect(back.fileLeadOrder == record.fileLeadOrder)
        #expect(back.samplingRate == record.samplingRate)
        for lead in record.storedLeadsInFileOrder {
            let other = try #require(back.lead(lead.id))
            #expect(other.millivolts.count == lead.millivolts.count)
            let worst = zip(lead.millivolts, other.millivolts).map { abs(Double($0) - Double($1)) }.max() ?? 0
            #expect(worst <= 0.0005 + 1e-6, "\(lead.id): \(worst) mV")
        }
        // Anonymous unless asked.
        #expect(String(decoding: data, as: UTF8.self).contains("ANONYMOUS"))
    }

    @Test func recordsBeyondTheTwelveLeadIODUseGeneralECGAndWeirdRatesAreRefused() throws {
        let ptb = try ECGFileReader.read(url: Self.records.appendingPathComponent("s0010_re.hea"))   // 38 s: too long for 12-lead
        let data = try DICOMWaveformWriter.encode(ptb)
        #expect(String(decoding: data.prefix(400), as: UTF8.self).contains(DICOMWaveformWriter.generalECGSOPClass))
        let back = try DICOMWaveformReader().read(data: data, path: "ptb.dcm")
        #expect(back.storedLeadsInFileOrder.count == ptb.storedLeadsInFileOrder.count && back.sampleCount == ptb.sampleCount)
        var slow = ptb
        slow.samplingRate = 100
        #expect(throws: ECGFormatError.self) { try DICOMWaveformWriter.encode(slow) }
    }

    /// NaN samples are written as the Waveform Padding Value (-32768, declared in (5400,100A));
    /// real samples never take it (clamped to -32767). Readers (ours, pydicom) return it as a number.
    @Test func invalidSamplesBecomeThePaddingValue() throws {
        let leads = LeadID.standard12.map { Lead(id: $0, millivolts: (0..<1000).map { Float(sin(Double($0) / 20)) }) }
        var record = ECGRecord(leads: leads, samplingRate: 500, metadata: ECGMetadata(), provenance: Provenance(format: .csv, path: "x.csv", sha256: ""))
        record.leads[0].millivolts[10] = .nan
        let back = try DICOMWaveformReader().read(data: try DICOMWaveformWriter.encode(record), path: "nan.dcm")
        #expect(back.leads[0].millivolts[10] == -32768 * 0.0005)
        #expect(abs(back.leads[0].millivolts[11] - record.leads[0].millivolts[11]) < 0.0005)
    }
}
