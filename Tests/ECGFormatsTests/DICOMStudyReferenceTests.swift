import Foundation
import Testing
@testable import ECGFormats

/// A DICOM ECG's place in its archive is read so derived series can file into the same study.
@Test func dicomECGCarriesItsStudyAndInstance() throws {
    let url = Paths.records.appendingPathComponent("example-ecgtoolkit.dcm")
    let record = try ECGFileReader.read(url: url)
    let study = try #require(record.metadata.sourceStudy)
    // The ECG Toolkit example's own values (dcmdump): a trailing-dot study UID kept as the archive knows it.
    #expect(study.studyInstanceUID == "1.2.826.0.1.34471.2.44.6.20021122091000.")
    #expect(study.sopClassUID == "1.2.840.10008.5.1.4.1.1.9.1.1")
    #expect(study.sopInstanceUID == "1.2.826.0.1.34471.2.44.6.20021122091000..1")
    #expect(study.patientName == "Clark" && study.patientBirthDate == "19530508")
    #expect(study.accessionNumber == nil && study.studyID == nil)
}

@Test func studyValuesFromAFileAreKeptOnlyWhenValidForTheirVR() {
    #expect(DICOMStudyReference.isValidUID("1.2.840.10008.5.1.4.1.1.9.1.1"))
    #expect(DICOMStudyReference.isValidUID("1.2.3."))                      // real devices' trailing dot
    #expect(!DICOMStudyReference.isValidUID(""))
    #expect(!DICOMStudyReference.isValidUID(".1.2"))
    #expect(!DICOMStudyReference.isValidUID("1.2.x"))
    #expect(!DICOMStudyReference.isValidUID("1.2\r\n(0010,0010)"))
    #expect(!DICOMStudyReference.isValidUID(String(repeating: "1", count: 65)))
    #expect(DICOMStudyReference.cleanText("  ACC42 ", limit: 16) == "ACC42")
    #expect(DICOMStudyReference.cleanText("A\\B", limit: 16) == nil)
    #expect(DICOMStudyReference.cleanText("evil\u{1B}]0;x\u{07}", limit: 64) == nil)
    #expect(DICOMStudyReference.cleanText("name\u{202E}", limit: 64) == nil)
    #expect(DICOMStudyReference.cleanText(String(repeating: "A", count: 17), limit: 16) == nil)
    #expect(DICOMStudyReference.cleanDate("19530508") == "19530508")
    #expect(DICOMStudyReference.cleanDate("19531308") == nil && DICOMStudyReference.cleanDate("1953-05-08") == nil)
}
