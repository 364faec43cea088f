import Foundation

/// Reads GE MUSE resting ECG XML (`<RestingECG>`): base64 little-endian int16 lead data, amplitude
/// units per bit, CRC-32 per lead. MUSE stores 8 leads (I, II, V1–V6); III, aVR, aVL, aVF are derived
/// and marked so. The rhythm waveform is read (the median beat is not a 10 s signal).
public struct MUSEXMLReader: XMLECGFormat {
    public static let format = ECGFileFormat.museXML

    public init() {}
    public func read(data: Data, path: String) throws -> ECGRecord { try readXML(data: data, path: path) }

    func record(root: XElement, path: String, provenance: Provenance) throws -> ECGRecord {
        let waveforms = root.all("Waveform")
        guard let wave = waveforms.first(where: { $0.value("WaveformType")?.lowercased() == "rhythm" }) ?? waveforms.first else {
            throw ECGFormatError(.missingData, file: path, "no <Waveform> element", at: "RestingECG")
        }
        let type = wave.value("WaveformType") ?? "?"
        let base = Double(wave.value("SampleBase") ?? "") ?? 0
        let exponent = Int(wave.value("SampleExponent") ?? "0") ?? 0
        guard base > 0, base.isFinite else {
            throw ECGFormatError(.invalidValue, file: path, "sampling rate SampleBase=\(wave.value("SampleBase") ?? "missing") is not a positive number", at: "Waveform[\(type)]")
        }
        guard (-3...6).contains(exponent) else {
            throw ECGFormatError(.invalidValue, file: path, "sampling rate \(wave.value("SampleBase") ?? "") × 10^\(exponent) Hz is outside the 1 Hz – 100 kHz range this tool accepts", at: "Waveform[\(type)]")
        }
        let fs = base * pow(10, Double(exponent))
        var leads: [Lead] = []
        for (k, ld) in wave.all("LeadData").enumerated() {
            let name = ld.value("LeadID") ?? "lead\(k + 1)"
            let at = "Waveform[\(type)]/LeadData[\(name)]"
            guard let b64 = ld.value("WaveFormData") else {
                throw ECGFormatError(.missingData, file: path, "lead has no <WaveFormData>", at: at)
            }
            let bytes = try decodeBase64Strict(b64, file: path, at: at)
            if let crcText = ld.value("LeadDataCRC32") {
                guard let expected = UInt32(crcText) else {
                    throw ECGFormatError(.invalidValue, file: path, "LeadDataCRC32 '\(crcText)' is not a number", at: at)
                }
                let got = CRC32.checksum(bytes)
                if got != expected {
                    throw ECGFormatError(.corrupt, file: path, "CRC-32 mismatch: file says \(expected), data gives \(got)", at: at)
                }
            }
            let sampleSize = Int(ld.value("LeadSampleSize") ?? "2") ?? 2
            guard sampleSize == 2 else {
                throw ECGFormatError(.unsupported, file: path, "LeadSampleSize \(sampleSize) (only 2-byte samples are read)", at: at)
            }
            guard bytes.count % 2 == 0 else {
                throw ECGFormatError(.corrupt, file: path, "lead data is \(bytes.count) bytes, not a whole number of 16-bit samples", at: at)
            }
            var count = bytes.count / 2
            if let declared = ld.value("LeadSampleCountTotal") {
                guard let d = Int(declared), d >= 0 else {
                    throw ECGFormatError(.invalidValue, file: path, "LeadSampleCountTotal '\(declared)' is not a count", at: at)
                }
                guard d <= count else {
                    throw ECGFormatError(.truncated, file: path, "LeadSampleCountTotal says \(d) samples but the data holds \(count)", at: at)
                }
                count = d
            }
            let upb = Double(ld.value("LeadAmplitudeUnitsPerBit") ?? "") ?? .nan
            guard upb.isFinite, upb > 0 else {
                throw ECGFormatError(.invalidValue, file: path, "LeadAmplitudeUnitsPerBit is missing or not positive", at: at)
            }
            let unitText = ld.value("LeadAmplitudeUnits") ?? "MICROVOLTS"
            guard let factor = millivoltFactor(forUnit: unitText) else {
                throw ECGFormatError(.unsupported, file: path, "amplitude unit '\(unitText)' is not a voltage", at: at)
            }
            let scale = upb * factor
            var mv = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for t in 0..<count {
                    let v = Int16(bitPattern: UInt16(raw[2 * t]) | UInt16(raw[2 * t + 1]) << 8)
                    mv[t] = Float(Double(v) * scale)
                }
            }
            leads.append(Lead(parsing: name, millivolts: mv))
        }
        guard !leads.isEmpty else {
            throw ECGFormatError(.missingData, file: path, "waveform has no <LeadData>", at: "Waveform[\(type)]")
        }
        let n = leads[0].millivolts.count
        if let bad = leads.first(where: { $0.millivolts.count != n }) {
            throw ECGFormatError(.invalidValue, file: path, "lead \(bad.id) has \(bad.millivolts.count) samples, lead \(leads[0].id) has \(n)", at: "Waveform[\(type)]")
        }
        var md = ECGMetadata()
        let demo = root.child("PatientDemographics")
        md.patientID = demo?.value("PatientID")
        if let age = demo?.value("PatientAge").flatMap(Double.init) {
            let units = demo?.value("AgeUnits")?.uppercased() ?? "YEARS"
            md.ageYears = units.hasPrefix("MONTH") ? age / 12 : units.hasPrefix("DAY") ? age / 365.25 : age
        }
        md.sex = demo?.value("Gender").flatMap(parseSex)
        let test = root.child("TestDemographics")
        md.device = test?.value("AcquisitionDevice")
        if let d = test?.value("AcquisitionDate"), let t = test?.value("AcquisitionTime") {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "MM-dd-yyyy HH:mm:ss"
            md.acquisitionTime = f.date(from: "\(d) \(t)")
        }
        let statements = root.child("Diagnosis")?.all("DiagnosisStatement").compactMap { $0.value("StmtText") } ?? []
        if !statements.isEmpty { md.extra["diagnosis"] = statements.joined(separator: " ") }
        if let vr = root.value("RestingECGMeasurements", "VentricularRate") { md.extra["ventricularRate"] = vr }
        md.deviceMeasurements = Self.deviceMeasurements(root.child("RestingECGMeasurements"), device: md.device)
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: fs, metadata: md,
                                   provenance: provenance)
    }

    /// 12SL's global measurements (`RestingECGMeasurements`): PRInterval, QRSDuration, QTInterval,
    /// QTCorrected (Bazett), QTcFrederica, PAxis, RAxis, TAxis, VentricularRate. MUSE writes an empty
    /// element or nothing when 12SL could not measure (e.g. no PR in atrial fibrillation); a value
    /// that is not a number is treated the same way. Nil when the element has no value at all.
    static func deviceMeasurements(_ element: XElement?, device: String?) -> DeviceMeasurements? {
        guard let element else { return nil }
        func number(_ name: String) -> Double? {
            guard let text = element.value(name)?.trimmedOfWhitespace(andNewlines: true),
                  let v = Double(text), v.isFinite else { return nil }
            return v
        }
        let source = "GE MUSE 12SL" + (device.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
        let m = DeviceMeasurements(prMs: number("PRInterval"), qrsMs: number("QRSDuration"), qtMs: number("QTInterval"),
                                   qtcBazettMs: number("QTCorrected"), qtcFridericiaMs: number("QTcFrederica") ?? number("QTcFridericia"),
                                   pAxisDeg: number("PAxis"), qrsAxisDeg: number("RAxis"), tAxisDeg: number("TAxis"),
                                   heartRateBpm: number("VentricularRate"), source: source)
        return m.isEmpty ? nil : m
    }
}
