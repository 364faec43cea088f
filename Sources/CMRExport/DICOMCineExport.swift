import ECGFormats
import Foundation
import Imaging

/// Physical size of a generated CMR pixel. The one place these numbers live.
public enum CineGeometry {
    /// Millimetres per pixel of the generator's own output (SAX 80×80, LAX 96×96 in the v2 model),
    /// the canonical crops the model was trained on: SAX 1.55 mm, LAX 1.6 mm.
    public static let canonicalPixelSpacingMillimetres: [String: Double] = ["SAX": 1.55, "LAX": 1.6]

    /// Millimetres per exported pixel: the canonical spacing scaled by source width / exported width.
    public static func pixelSpacing(view: String, sourceWidth: Int, outputWidth: Int) -> Double {
        let canonical = canonicalPixelSpacingMillimetres[view.uppercased()] ?? 1.6
        return canonical * Double(sourceWidth) / Double(max(1, outputWidth))
    }
}

/// Writes a generated cine as one Multi-frame Grayscale Byte Secondary Capture Image
/// (1.2.840.10008.5.1.4.1.1.7.2): 8-bit MONOCHROME2 frames, Cine module with Frame Time, ImageType
/// DERIVED\SECONDARY, Conversion Type SYN (synthetic image). See docs/export.md.
public enum DICOMCineWriter {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.7.2"

    public struct Context: Sendable {
        public var view: String
        public var seriesNumber: Int
        public var study: DICOMStudyFiling
        public var seriesInstanceUID: String
        public var sopInstanceUID: String
        public var frameTimeMilliseconds: Double
        public var heartRateBpm: Double
        public var heartRateSource: String
        public var pixelSpacingMillimetres: Double
        public var modelID: String
        public var modelDescription: String
        public var weightsSHA256: String
        public var inputSHA256: String
        public var seed: UInt64
        public var softwareVersion: String
        public var includePHI: Bool
        public var metadata: ECGMetadata
    }

    /// `frames` are the exported frames (all the same size) with the label already burned in.
    public static func encode(frames: [GreyImage], context c: Context) throws -> Data {
        guard let first = frames.first, frames.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
            throw CMRExportError.invalidOption("DICOM cine needs at least one frame, all of one size")
        }
        var ds = DICOMDataSet()
        let md = c.metadata
        ds.setPatient(md, includePHI: c.includePHI)
        ds.setGeneralStudy(c.study, md, includePHI: c.includePHI)
        // General Series
        ds.set(0x0008_0060, "CS", "OT")
        ds.set(0x0020_000E, "UI", c.seriesInstanceUID)
        ds.set(0x0020_0011, "IS", String(c.seriesNumber))
        ds.set(0x0008_103E, "LO", "SYNTHETIC \(c.view) cine from ECG - not an acquired MRI")
        ds.set(0x0018_0015, "CS", "HEART")
        // General Equipment + SC Equipment
        ds.set(0x0008_0070, "LO", "ecg2cmr")
        ds.set(0x0018_1020, "LO", ["ecg2cmr \(c.softwareVersion)", "model \(c.modelID)"])
        ds.set(0x0008_0064, "CS", "SYN")
        ds.set(0x0018_1016, "LO", "ecg2cmr")
        ds.set(0x0018_1019, "LO", ["ecg2cmr \(c.softwareVersion)"])
        // General Image
        ds.set(0x0020_0013, "IS", "1")
        ds.setEmpty(0x0020_0020, "CS")
        ds.setEmpty(0x0008_0023, "DA")
        ds.setEmpty(0x0008_0033, "TM")
        ds.set(0x0008_0008, "CS", ["DERIVED", "SECONDARY"])
        ds.setSourceReference(c.study, sequence: 0x0008_2112)
        ds.set(0x0008_2111, "ST", "Synthetic image: generated from a 12-lead ECG by model \(c.modelID) (\(c.modelDescription)); not an acquired MRI. Generator seed \(c.seed).")
        ds.set(0x0020_4000, "LT", comments(c))
        ds.set(0x0028_2110, "CS", "00")
        ds.set(0x0028_0301, "CS", "YES")
        ds.set(0x0028_0302, "CS", "NO")
        // Image Pixel
        ds.set(0x0028_0002, us: [1])
        ds.set(0x0028_0004, "CS", "MONOCHROME2")
        ds.set(0x0028_0010, us: [UInt16(first.height)])
        ds.set(0x0028_0011, us: [UInt16(first.width)])
        ds.set(0x0028_0100, us: [8])
        ds.set(0x0028_0101, us: [8])
        ds.set(0x0028_0102, us: [7])
        ds.set(0x0028_0103, us: [0])
        ds.set(0x0028_0030, "DS", [DICOMValue.ds(c.pixelSpacingMillimetres), DICOMValue.ds(c.pixelSpacingMillimetres)])
        ds.set(0x0028_1052, "DS", "0")
        ds.set(0x0028_1053, "DS", "1")
        ds.set(0x0028_1054, "LO", "US")
        ds.set(0x2050_0020, "CS", "IDENTITY")
        // Multi-frame + Cine
        ds.set(0x0028_0008, "IS", String(frames.count))
        ds.set(0x0028_0009, at: [0x0018_1063])
        ds.set(0x0018_1063, "DS", DICOMValue.ds(c.frameTimeMilliseconds))
        ds.set(0x0018_1244, us: [0])
        ds.set(0x0008_2144, "IS", String(max(1, Int((1000 / c.frameTimeMilliseconds).rounded()))))
        ds.set(0x0018_0040, "IS", String(max(1, Int((1000 / c.frameTimeMilliseconds).rounded()))))
        var pixels = [UInt8]()
        pixels.reserveCapacity(frames.count * first.width * first.height)
        for f in frames { pixels += f.pixels }
        ds.set(0x7FE0_0010, binary: "OB", pixels)
        return DICOMFile.encode(ds, sopClassUID: sopClassUID, sopInstanceUID: c.sopInstanceUID)
    }

    static func comments(_ c: Context) -> String {
        "SYNTHETIC IMAGE GENERATED FROM ECG - NOT AN ACQUIRED MRI. " +
            "model \(c.modelID) (weights sha256 \(c.weightsSHA256)); input ECG sha256 \(c.inputSHA256); seed \(c.seed); " +
            "heart rate \(String(format: "%.1f", c.heartRateBpm)) bpm (\(c.heartRateSource)), frame time \(DICOMValue.ds(c.frameTimeMilliseconds)) ms; " +
            "ecg2cmr \(c.softwareVersion)"
    }
}

/// How the DICOM series of one case are filed: the study they join, its accession number, and the
/// source ECG instance they were derived from (when the input was a DICOM ECG).
public struct DICOMStudyFiling: Sendable, Equatable {
    public var studyInstanceUID: String
    public var accessionNumber: String?
    public var studyID: String?
    public var referringPhysician: String?
    public var sourceSOPClassUID: String?
    public var sourceSOPInstanceUID: String?

    public init(studyInstanceUID: String, accessionNumber: String? = nil, studyID: String? = nil, referringPhysician: String? = nil,
                sourceSOPClassUID: String? = nil, sourceSOPInstanceUID: String? = nil) {
        self.studyInstanceUID = studyInstanceUID; self.accessionNumber = accessionNumber; self.studyID = studyID
        self.referringPhysician = referringPhysician
        self.sourceSOPClassUID = sourceSOPClassUID; self.sourceSOPInstanceUID = sourceSOPInstanceUID
    }

    /// The source ECG's own study (its UID, accession, ID, referring physician and instance).
    public init(source s: DICOMStudyReference) {
        self.init(studyInstanceUID: s.studyInstanceUID, accessionNumber: s.accessionNumber, studyID: s.studyID,
                  referringPhysician: s.referringPhysician, sourceSOPClassUID: s.sopClassUID, sourceSOPInstanceUID: s.sopInstanceUID)
    }
}

extension DICOMDataSet {
    /// The Patient module of every instance this tool writes: identifiers, name, birth date, sex
    /// and age only with --include-phi (copied from the ECG's metadata and, for a DICOM ECG, its
    /// Patient module); otherwise "Anonymous".
    mutating func setPatient(_ md: ECGMetadata, includePHI: Bool) {
        if includePHI {
            if let name = md.sourceStudy?.patientName { set(0x0010_0010, "PN", name) } else { setEmpty(0x0010_0010, "PN") }
            set(0x0010_0020, "LO", md.patientID ?? "")
            if let sex = DICOMValue.sex(md.sex) { set(0x0010_0040, "CS", sex) } else { setEmpty(0x0010_0040, "CS") }
            if let age = md.ageYears.flatMap(DICOMValue.age) { set(0x0010_1010, "AS", age) }
            if let born = md.sourceStudy?.patientBirthDate { set(0x0010_0030, "DA", born) } else { setEmpty(0x0010_0030, "DA") }
        } else {
            set(0x0010_0010, "PN", "Anonymous")
            set(0x0010_0020, "LO", "ANONYMOUS")
            setEmpty(0x0010_0040, "CS")
            setEmpty(0x0010_0030, "DA")
        }
    }

    /// The General Study module shared by the cines and the report of one case: the study they
    /// file into (with its accession number), and the study date and time (the ECG's acquisition)
    /// and referring physician only with --include-phi.
    mutating func setGeneralStudy(_ study: DICOMStudyFiling, _ md: ECGMetadata, includePHI: Bool) {
        set(0x0020_000D, "UI", study.studyInstanceUID)
        if includePHI, let t = md.acquisitionTime {
            set(0x0008_0020, "DA", DICOMValue.date(t)); set(0x0008_0030, "TM", DICOMValue.time(t))
        } else {
            setEmpty(0x0008_0020, "DA"); setEmpty(0x0008_0030, "TM")
        }
        if includePHI, let r = study.referringPhysician { set(0x0008_0090, "PN", r) } else { setEmpty(0x0008_0090, "PN") }
        if let id = study.studyID { set(0x0020_0010, "SH", id) } else { setEmpty(0x0020_0010, "SH") }
        if let a = study.accessionNumber { set(0x0008_0050, "SH", a) } else { setEmpty(0x0008_0050, "SH") }
        set(0x0008_1030, "LO", "SYNTHETIC CMR generated from ECG by ecg2cmr")
    }

    /// The source ECG instance the series derive from, as one item of `sequence` (Source Image
    /// Sequence for the cines, Source Instance Sequence for the report).
    mutating func setSourceReference(_ study: DICOMStudyFiling, sequence tag: UInt32) {
        guard let cls = study.sourceSOPClassUID, let inst = study.sourceSOPInstanceUID else { return }
        var item = DICOMDataSet()
        item.set(0x0008_1150, "UI", cls)
        item.set(0x0008_1155, "UI", inst)
        set(tag, sequence: [item])
    }
}
