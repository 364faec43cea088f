import Foundation

/// Reads UK Biobank CardioSoft resting ECG XML (`<CardiologyXML>`): `StripData` holds the 10 s
/// signal, one `<WaveformData lead="I">` of comma-separated integers per lead, with `Resolution`
/// in µV per LSB and `SampleRate` in Hz.
public struct UKBXMLReader: XMLECGFormat {
    public static let format = ECGFileFormat.ukbXML

    public init() {}
    public func read(data: Data, path: String) throws -> ECGRecord { try readXML(data: data, path: path) }

    func record(root: XElement, path: String, provenance: Provenance) throws -> ECGRecord {
        guard let strip = root.child("StripData") ?? root.descendants("StripData").first else {
            throw ECGFormatError(.missingData, file: path, "no <StripData> element", at: "CardiologyXML")
        }
        guard let fsText = strip.value("SampleRate"), let fs = Double(fsText), fs > 0, fs.isFinite else {
            throw ECGFormatError(.invalidValue, file: path, "<SampleRate> is missing or not a positive number", at: "StripData")
        }
        let resNode = strip.child("Resolution")
        guard let resText = resNode?.text.trimmedOfWhitespace(andNewlines: true), let res = Double(resText), res > 0, res.isFinite else {
            throw ECGFormatError(.invalidValue, file: path, "<Resolution> is missing or not a positive number", at: "StripData")
        }
        let unit = (resNode?.attributes["units"] ?? "uVperLsb").lowercased()
        let perLSB: Double = unit.hasPrefix("mv") ? res : res / 1000 // µV per LSB unless stated in mV
        let declared = strip.value("ChannelSampleCountTotal").flatMap(Int.init)
        var leads: [Lead] = []
        for (k, wf) in strip.all("WaveformData").enumerated() {
            let name = wf.attributes["lead"] ?? "lead\(k + 1)"
            let at = "StripData/WaveformData[lead=\(name)]"
            var mv: [Float] = []
            var index = 0
            for token in wf.text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }) {
                guard let v = Double(token), v.isFinite else {
                    throw ECGFormatError(.invalidValue, file: path, "sample '\(token.prefix(20))' is not a number", at: "\(at), sample \(index)")
                }
                mv.append(Float(v * perLSB))
                index += 1
            }
            if let d = declared, d != mv.count {
                throw ECGFormatError(mv.count < d ? .truncated : .invalidValue, file: path, "ChannelSampleCountTotal is \(d) but the lead holds \(mv.count) samples", at: at)
            }
            leads.append(Lead(parsing: name, millivolts: mv))
        }
        guard let first = leads.first else {
            throw ECGFormatError(.missingData, file: path, "no <WaveformData> in <StripData>", at: "StripData")
        }
        if let bad = leads.first(where: { $0.millivolts.count != first.millivolts.count }) {
            throw ECGFormatError(.invalidValue, file: path, "lead \(bad.id) has \(bad.millivolts.count) samples, lead \(first.id) has \(first.millivolts.count)", at: "StripData")
        }
        var md = ECGMetadata()
        let patient = root.child("PatientInfo")
        md.patientID = patient?.value("PID")
        md.ageYears = patient?.value("Age").flatMap(Double.init)
        md.sex = patient?.value("Gender").flatMap(parseSex)
        md.device = root.value("DeviceType") ?? root.descendants("DeviceType").first?.value() ?? root.descendants("MachineType").first?.value()
        if let t = root.child("ObservationDateTime"),
           let y = t.value("Year").flatMap(Int.init), let mo = t.value("Month").flatMap(Int.init), let d = t.value("Day").flatMap(Int.init) {
            var c = DateComponents()
            c.year = y; c.month = mo; c.day = d
            c.hour = t.value("Hour").flatMap(Int.init) ?? 0
            c.minute = t.value("Minute").flatMap(Int.init) ?? 0
            c.second = t.value("Second").flatMap(Int.init) ?? 0
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
            md.acquisitionTime = cal.date(from: c)
        }
        if let hr = root.value("RestingECGMeasurements", "VentricularRate") { md.extra["ventricularRate"] = hr }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: fs, metadata: md,
                                   provenance: provenance)
    }
}
