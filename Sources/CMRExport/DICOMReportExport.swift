import ECGFormats
import Imaging
import Foundation

/// Writes the one-page PDF report as a DICOM Encapsulated PDF instance (1.2.840.10008.5.1.4.1.1.104.1),
/// so a PACS that holds the generated cines also holds the report, in the same study. The PDF bytes
/// are stored unchanged in Encapsulated Document (0042,0011); Encapsulated Document Length (0042,0015)
/// gives the PDF's own length (the element is padded with one zero byte when that length is odd).
/// See docs/export.md.
public enum DICOMReportWriter {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.104.1"

    public struct Context: Sendable {
        public var study: DICOMStudyFiling
        public var seriesInstanceUID: String
        public var sopInstanceUID: String
        public var seriesNumber: Int
        public var modelID: String
        public var softwareVersion: String
        public var includePHI: Bool
        public var metadata: ECGMetadata

        public init(study: DICOMStudyFiling, seriesInstanceUID: String, sopInstanceUID: String, seriesNumber: Int, modelID: String,
                    softwareVersion: String, includePHI: Bool, metadata: ECGMetadata) {
            self.study = study; self.seriesInstanceUID = seriesInstanceUID; self.sopInstanceUID = sopInstanceUID
            self.seriesNumber = seriesNumber; self.modelID = modelID
            self.softwareVersion = softwareVersion; self.includePHI = includePHI; self.metadata = metadata
        }
    }

    public static let documentTitle = "ecg2cmr ECG report (model output, not a diagnosis)"

    public static func encode(pdf: Data, context c: Context) throws -> Data {
        guard pdf.starts(with: Array("%PDF-".utf8)) else { throw CMRExportError.invalidOption("Encapsulated PDF: the document is not a PDF") }
        guard pdf.count < Int(UInt32.max) - 1 else { throw CMRExportError.invalidOption("Encapsulated PDF: document too large (\(pdf.count) bytes)") }
        var ds = DICOMDataSet()
        let md = c.metadata
        ds.setPatient(md, includePHI: c.includePHI)
        // General Study (the cines' study when written by export --pdf --dicom), then the document's
        // content date/time and acquisition datetime, also only with --include-phi.
        ds.setGeneralStudy(c.study, md, includePHI: c.includePHI)
        if c.includePHI, let t = md.acquisitionTime {
            ds.set(0x0008_0023, "DA", DICOMValue.date(t)); ds.set(0x0008_0033, "TM", DICOMValue.time(t))
            ds.set(0x0008_002A, "DT", DICOMValue.dateTime(t))
        } else {
            ds.setEmpty(0x0008_0023, "DA"); ds.setEmpty(0x0008_0033, "TM")
            ds.setEmpty(0x0008_002A, "DT")
        }
        // Encapsulated Document Series
        ds.set(0x0008_0060, "CS", "DOC")
        ds.set(0x0020_000E, "UI", c.seriesInstanceUID)
        ds.set(0x0020_0011, "IS", String(c.seriesNumber))
        ds.set(0x0008_103E, "LO", "ecg2cmr ECG report - model output, not a diagnosis")
        // General Equipment + SC Equipment (WSD: produced by a workstation, not scanned)
        ds.set(0x0008_0070, "LO", "ecg2cmr")
        ds.set(0x0018_1020, "LO", ["ecg2cmr \(c.softwareVersion)", "model \(c.modelID)"])
        ds.set(0x0008_0064, "CS", "WSD")
        // Encapsulated Document
        ds.set(0x0020_0013, "IS", "1")
        ds.set(0x0028_0301, "CS", c.includePHI ? "YES" : "NO")
        ds.set(0x0042_0010, "ST", documentTitle)
        ds.setEmpty(0x0040_A043, "SQ")
        ds.setSourceReference(c.study, sequence: 0x0042_0013)
        // The IOD has no free-text comment: the input's SHA-256, model and seed are printed on the page itself.
        ds.set(0x0042_0012, "LO", "application/pdf")
        ds.set(0x0042_0011, binary: "OB", [UInt8](pdf))
        ds.set(0x0042_0015, ul: [UInt32(pdf.count)])
        return DICOMFile.encode(ds, sopClassUID: sopClassUID, sopInstanceUID: c.sopInstanceUID)
    }
}
