import Foundation

/// Writes a record as a DICOM ECG waveform object (PS3.3 A.34): 12-Lead ECG Waveform Storage when
/// the record fits that IOD (1–13 channels, 200–1000 Hz, at most 16 s), else General ECG Waveform
/// Storage (1–24 channels, 200–1000 Hz). One multiplex group ("RHYTHM") of 16-bit signed samples,
/// the stored leads in the file's order, each with an MDC lead code (CID 3001) and a sensitivity in
/// µV per bit chosen per lead (see `sensitivityMicrovolts`), baseline 0. See docs/formats.md.
public enum DICOMWaveformWriter {
    public static let twelveLeadSOPClass = "1.2.840.10008.5.1.4.1.1.9.1.1"
    public static let generalECGSOPClass = "1.2.840.10008.5.1.4.1.1.9.1.2"
    /// Samples equal to this are invalid (NaN in the record); real samples are clamped above it.
    public static let paddingValue: Int16 = Int16.min

    public struct Options: Sendable {
        /// Copy the patient ID and acquisition time from the record; otherwise anonymous placeholders.
        public var includePHI: Bool
        /// Content date/time (and the acquisition time when the record has none).
        public var now: Date
        public var studyInstanceUID: String?
        public init(includePHI: Bool = false, now: Date = Date(), studyInstanceUID: String? = nil) {
            self.includePHI = includePHI; self.now = now; self.studyInstanceUID = studyInstanceUID
        }
    }

    /// Step sizes tried, smallest first: the finest that holds the lead's largest |mV| in ±32767.
    public static let sensitivityStepsMicrovolts: [Double] = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]

    /// The largest |mV| written: ±32767 units at the coarsest step.
    public static var maxAbsMillivolts: Double { 32767 * (sensitivityStepsMicrovolts.last ?? 1) / 1000 }

    /// µV per bit for samples whose largest magnitude is `maxAbsMillivolts`.
    public static func sensitivityMicrovolts(maxAbsMillivolts: Double) -> Double {
        for s in sensitivityStepsMicrovolts where maxAbsMillivolts * 1000 / s <= 32767 { return s }
        return sensitivityStepsMicrovolts.last!
    }

    /// MDC codes (CID 3001 "ECG Leads") of the standard leads.
    static let mdcCodes: [LeadID: (String, String)] = [
        .i: ("2:1", "Lead I"), .ii: ("2:2", "Lead II"), .v1: ("2:3", "Lead V1"), .v2: ("2:4", "Lead V2"),
        .v3: ("2:5", "Lead V3"), .v4: ("2:6", "Lead V4"), .v5: ("2:7", "Lead V5"), .v6: ("2:8", "Lead V6"),
        .iii: ("2:61", "Lead III"), .aVR: ("2:62", "Lead aVR"),
        .aVL: ("2:63", "Lead aVL"), .aVF: ("2:64", "Lead aVF"),
    ]

    public static func encode(_ record: ECGRecord, options: Options = Options()) throws -> Data {
        let leads = record.storedLeadsInFileOrder
        let file = record.provenance.path
        guard !leads.isEmpty else { throw ECGFormatError(.missingData, file: file, "record has no stored leads to write") }
        try record.checkWritable()
        let n = leads.map(\.millivolts.count).min() ?? 0
        guard n > 0 else { throw ECGFormatError(.missingData, file: file, "record has no samples to write") }
        let fs = record.samplingRate
        guard (200...1000).contains(fs) else {
            throw ECGFormatError(.unsupported, file: file, "DICOM ECG waveforms need a sampling rate of 200–1000 Hz; this record has \(formatNumber(fs)) Hz (resample it first)")
        }
        guard leads.count <= 24 else {
            throw ECGFormatError(.unsupported, file: file, "DICOM General ECG waveforms hold at most 24 channels; this record has \(leads.count)")
        }
        try record.checkRange(maxAbsMillivolts: maxAbsMillivolts, firstSamples: n, format: "DICOM waveform")
        let twelveLead = leads.count <= 13 && Double(n) / fs <= 16 && n <= 16384
        let sopClass = twelveLead ? twelveLeadSOPClass : generalECGSOPClass

        // Samples: interleaved int16, per-lead sensitivity, baseline 0.
        var sensitivities: [Double] = []
        var raw = [UInt8](repeating: 0, count: n * leads.count * 2)
        for (k, lead) in leads.enumerated() {
            let finite = lead.millivolts.prefix(n).lazy.filter { $0.isFinite }.map { abs(Double($0)) }
            let s = sensitivityMicrovolts(maxAbsMillivolts: finite.max() ?? 0)
            sensitivities.append(s)
            let perMillivolt = 1000 / s
            for t in 0..<n {
                let v = lead.millivolts[t]
                let d: Int16 = v.isFinite ? Int16(clamping: max(-32767, Int((Double(v) * perMillivolt).rounded()))) : paddingValue
                let u = UInt16(bitPattern: d)
                let p = 2 * (t * leads.count + k)
                raw[p] = UInt8(u & 0xFF); raw[p + 1] = UInt8(u >> 8)
            }
        }

        var ds = DICOMDataSet()
        let md = record.metadata
        let acquired = options.includePHI ? md.acquisitionTime : nil
        // Patient
        if options.includePHI { ds.setEmpty(0x0010_0010, "PN") } else { ds.set(0x0010_0010, "PN", "Anonymous") }  // records carry no names
        ds.set(0x0010_0020, "LO", options.includePHI ? (md.patientID ?? "") : "ANONYMOUS")
        ds.setEmpty(0x0010_0030, "DA")
        if let sex = DICOMValue.sex(md.sex) { ds.set(0x0010_0040, "CS", sex) } else { ds.setEmpty(0x0010_0040, "CS") }
        if let age = md.ageYears.flatMap(DICOMValue.age) { ds.set(0x0010_1010, "AS", age) }
        // General Study
        ds.set(0x0020_000D, "UI", options.studyInstanceUID ?? DICOMUID.random())
        if let acquired { ds.set(0x0008_0020, "DA", DICOMValue.date(acquired)); ds.set(0x0008_0030, "TM", DICOMValue.time(acquired)) } else {
            ds.setEmpty(0x0008_0020, "DA"); ds.setEmpty(0x0008_0030, "TM")
        }
        ds.setEmpty(0x0008_0090, "PN")
        ds.setEmpty(0x0020_0010, "SH")
        ds.setEmpty(0x0008_0050, "SH")
        ds.set(0x0008_1030, "LO", "Resting ECG")
        // General Series
        ds.set(0x0008_0060, "CS", "ECG")
        ds.set(0x0020_000E, "UI", DICOMUID.random())
        ds.set(0x0020_0011, "IS", "1")
        ds.set(0x0008_103E, "LO", "ECG converted by ecg2cmr from \(record.provenance.format.rawValue)")
        // General Equipment
        ds.set(0x0008_0070, "LO", "ecg2cmr")
        ds.set(0x0018_1020, "LO", "ecg2cmr converter")
        if let device = md.device, !device.isEmpty { ds.set(0x0008_1090, "LO", device) }
        // Waveform Identification
        ds.set(0x0020_0013, "IS", "1")
        ds.set(0x0008_0023, "DA", DICOMValue.date(options.now))
        ds.set(0x0008_0033, "TM", DICOMValue.time(options.now))
        ds.set(0x0008_002A, "DT", DICOMValue.dateTime(acquired ?? options.now))
        // Acquisition Context (Type 2: empty)
        ds.setEmpty(0x0040_0555, "SQ")
        // SOP Common
        ds.set(0x0008_0005, "CS", "ISO_IR 192")

        // Waveform: one multiplex group.
        var group = DICOMDataSet()
        group.set(0x003A_0004, "CS", "ORIGINAL")
        group.set(0x003A_0005, us: [UInt16(leads.count)])
        group.set(0x003A_0010, ul: [UInt32(n)])
        group.set(0x003A_001A, "DS", DICOMValue.ds(fs))
        group.set(0x003A_0020, "SH", "RHYTHM")
        var defs: [DICOMDataSet] = []
        for (k, lead) in leads.enumerated() {
            var def = DICOMDataSet()
            var source = DICOMDataSet()
            if let (code, meaning) = mdcCodes[lead.id] {
                source.set(0x0008_0100, "SH", code)
                source.set(0x0008_0102, "SH", "MDC")
                source.set(0x0008_0104, "LO", meaning)
            } else {
                source.set(0x0008_0100, "SH", String(lead.id.description.prefix(16)))
                source.set(0x0008_0102, "SH", "99ECG2CMR")
                source.set(0x0008_0104, "LO", lead.id.description)
            }
            def.set(0x003A_0208, sequence: [source])
            def.set(0x003A_0203, "SH", lead.writtenName)
            def.set(0x003A_0210, "DS", DICOMValue.ds(sensitivities[k]))
            var unit = DICOMDataSet()
            unit.set(0x0008_0100, "SH", "uV")
            unit.set(0x0008_0102, "SH", "UCUM")
            unit.set(0x0008_0103, "SH", "1.4")
            unit.set(0x0008_0104, "LO", "microvolt")
            def.set(0x003A_0211, sequence: [unit])
            def.set(0x003A_0212, "DS", "1")
            def.set(0x003A_0213, "DS", "0")
            def.set(0x003A_0215, "DS", "0")
            def.set(0x003A_021A, us: [16])
            defs.append(def)
        }
        group.set(0x003A_0200, sequence: defs)
        group.set(0x5400_1004, us: [16])
        group.set(0x5400_1006, "CS", "SS")
        group.set(0x5400_100A, binary: "OW", DICOMDataSet.le16(UInt16(bitPattern: paddingValue)))
        group.set(0x5400_1010, binary: "OW", raw)
        ds.set(0x5400_0100, sequence: [group])
        return DICOMFile.encode(ds, sopClassUID: sopClass, sopInstanceUID: DICOMUID.random())
    }

    /// Writes the file via a temporary name, then renames.
    public static func write(_ record: ECGRecord, to url: URL, options: Options = Options()) throws {
        try atomicWrite([(try encode(record, options: options), url)], record: record)
    }
}
