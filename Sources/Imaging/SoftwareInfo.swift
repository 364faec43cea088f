// The one home of the program's name and version: PNG text chunks, PDF metadata, DICOM
// software tags, the export manifest and `ecg2cmr --version` all read it from here.
public enum CMRExportInfo {
    public static let softwareName = "ecg2cmr"
    public static let softwareVersion = "0.1.0"
    public static let syntheticNotice = "synthetic image generated from ECG — not an acquired MRI"
}
