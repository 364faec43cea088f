import Foundation

/// Reads HL7 v3 annotated ECG XML (FDA aECG, `<AnnotatedECG>`): the rhythm series' first sequence
/// set; time from the GLIST increment, each lead from SLIST digits × scale + origin.
public struct AECGReader: XMLECGFormat {
    public static let format = ECGFileFormat.hl7aECG

    public init() {}
    public func read(data: Data, path: String) throws -> ECGRecord { try readXML(data: data, path: path) }

    func record(root: XElement, path: String, provenance: Provenance) throws -> ECGRecord {
        let series = root.descendants("series")
        guard let rhythm = series.first(where: { $0.child("code")?.attributes["code"]?.uppercased() == "RHYTHM" }) ?? series.first else {
            throw ECGFormatError(.missingData, file: path, "no <series> element", at: "AnnotatedECG")
        }
        guard let set = rhythm.all("component").compactMap({ $0.child("sequenceSet") }).first else {
            throw ECGFormatError(.missingData, file: path, "rhythm series has no <sequenceSet>", at: "series")
        }
        var fs: Double?
        var leads: [Lead] = []
        for (k, seq) in set.all("component").compactMap({ $0.child("sequence") }).enumerated() {
            let code = seq.child("code")?.attributes["code"] ?? "sequence\(k + 1)"
            let at = "sequenceSet/sequence[\(code)]"
            guard let value = seq.child("value") else {
                throw ECGFormatError(.missingData, file: path, "sequence has no <value>", at: at)
            }
            let type = value.attributes["type"] ?? ""
            if code.hasPrefix("TIME") || type.hasPrefix("GLIST") {
                guard let inc = value.child("increment"), let v = inc.attributes["value"].flatMap(Double.init), v > 0, v.isFinite else {
                    throw ECGFormatError(.invalidValue, file: path, "time sequence has no positive <increment>", at: at)
                }
                let unit = (inc.attributes["unit"] ?? "s").lowercased()
                let seconds: Double
                switch unit {
                case "s": seconds = v
                case "ms": seconds = v / 1000
                case "us": seconds = v / 1e6
                default:
                    throw ECGFormatError(.unsupported, file: path, "time increment unit '\(unit)'", at: at)
                }
                fs = 1 / seconds
                continue
            }
            guard type.hasPrefix("SLIST") else {
                throw ECGFormatError(.unsupported, file: path, "lead value type '\(type)' (only SLIST_PQ / SLIST_INT are read)", at: at)
            }
            func pq(_ name: String, default d: Double) throws -> (Double, Double) {
                guard let e = value.child(name) else { return (d, 0.001) }
                guard let v = e.attributes["value"].flatMap(Double.init), v.isFinite else {
                    throw ECGFormatError(.invalidValue, file: path, "<\(name)> has no numeric value", at: at)
                }
                let unit = e.attributes["unit"] ?? "uV"
                guard let f = millivoltFactor(forUnit: unit) else {
                    throw ECGFormatError(.unsupported, file: path, "<\(name)> unit '\(unit)' is not a voltage", at: at)
                }
                return (v, f)
            }
            let (scale, scaleF) = try pq("scale", default: 1)
            let (origin, originF) = try pq("origin", default: 0)
            guard let digits = value.child("digits")?.text else {
                throw ECGFormatError(.missingData, file: path, "lead has no <digits>", at: at)
            }
            var mv: [Float] = []
            mv.reserveCapacity(digits.utf8.count / 2)
            var index = 0
            for token in digits.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
                guard let d = Double(token), d.isFinite else {
                    throw ECGFormatError(.invalidValue, file: path, "digit '\(token.prefix(20))' is not a number", at: "\(at), sample \(index)")
                }
                mv.append(Float(d * scale * scaleF + origin * originF))
                index += 1
            }
            leads.append(Lead(parsing: code, millivolts: mv))
        }
        guard let rate = fs else {
            throw ECGFormatError(.missingData, file: path, "no time sequence with an increment, so no sampling rate", at: "sequenceSet")
        }
        guard let first = leads.first else {
            throw ECGFormatError(.missingData, file: path, "sequence set has no lead sequences", at: "sequenceSet")
        }
        if let bad = leads.first(where: { $0.millivolts.count != first.millivolts.count }) {
            throw ECGFormatError(.invalidValue, file: path, "lead \(bad.id) has \(bad.millivolts.count) samples, lead \(first.id) has \(first.millivolts.count)", at: "sequenceSet")
        }
        var md = ECGMetadata()
        md.patientID = root.descendants("trialSubject").first?.child("id")?.attributes["extension"]
        md.sex = root.descendants("administrativeGenderCode").first?.attributes["code"].flatMap(parseSex)
        // "Reported Age" (LOINC 21612-7) observation: the sibling <value> carries the number.
        if let ageObs = root.descendants("subjectOf").lazy.compactMap({ $0.descendants("code").first(where: { $0.attributes["code"] == "21612-7" }) != nil ? $0 : nil }).first,
           let v = ageObs.descendants("value").first?.attributes["value"].flatMap(Double.init) {
            md.ageYears = v
        }
        md.device = root.descendants("manufacturedSeriesDevice").first?.value("manufacturerModelName")
        if let t = root.child("effectiveTime")?.child("center")?.attributes["value"] ?? root.child("effectiveTime")?.child("low")?.attributes["value"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyyMMddHHmmss"
            md.acquisitionTime = f.date(from: String(t.prefix(14)))
        }
        md.deviceMeasurements = Self.deviceMeasurements(rhythmSeries: rhythm, root: root)
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: rate, metadata: md,
                                   provenance: provenance)
    }

    /// The MDC numeric annotation codes read as device measurements.
    static let numericCodes: [String] = [
        "MDC_ECG_TIME_PD_PR", "MDC_ECG_TIME_PD_QRS", "MDC_ECG_TIME_PD_QT", "MDC_ECG_TIME_PD_QTc",
        "MDC_ECG_ANGLE_P_FRONT", "MDC_ECG_ANGLE_QRS_FRONT", "MDC_ECG_ANGLE_T_FRONT",
    ]

    /// Device measurements from the annotation sets: the per-beat (or global) numeric annotations
    /// `MDC_ECG_TIME_PD_PR/QRS/QT/QTc` and `MDC_ECG_ANGLE_P/QRS/T_FRONT` of the rhythm series, each
    /// summarised by its median over the beats; when the rhythm series has none, those of the
    /// representative-beat series. The QTc formula is not stated by aECG, so it goes to
    /// `qtcReportedMs`. Values with an unknown unit are skipped. Nil when nothing is annotated.
    static func deviceMeasurements(rhythmSeries: XElement, root: XElement) -> DeviceMeasurements? {
        func collect(_ sets: [XElement]) -> (values: [String: [Double]], author: String?) {
            var values: [String: [Double]] = [:]
            var author: String?
            for set in sets {
                var found = false
                for annotation in set.descendants("annotation") {
                    guard let code = annotation.child("code")?.attributes["code"], numericCodes.contains(code),
                          let value = annotation.child("value"),
                          let v = value.attributes["value"].flatMap(Double.init), v.isFinite else { continue }
                    let unit = (value.attributes["unit"] ?? "").lowercased()
                    let scaled: Double?
                    if code.hasPrefix("MDC_ECG_TIME") {
                        scaled = unit == "ms" || unit.isEmpty ? v : unit == "s" ? v * 1000 : unit == "us" ? v / 1000 : nil
                    } else {
                        scaled = unit == "deg" || unit.isEmpty ? v : unit == "rad" ? v * 180 / Double.pi : nil
                    }
                    guard let scaled else { continue }
                    values[code, default: []].append(scaled)
                    found = true
                }
                if found, author == nil, let device = set.descendants("assignedDevice").first {
                    let name = [device.value("manufacturerModelName"), device.value("softwareName")]
                        .compactMap { $0?.trimmedOfWhitespace(andNewlines: true) }.filter { !$0.isEmpty }
                    if !name.isEmpty { author = name.joined(separator: " ") }
                }
            }
            return (values, author)
        }
        var (values, author) = collect(rhythmSeries.all("subjectOf").compactMap { $0.child("annotationSet") })
        if values.isEmpty {
            let representative = root.descendants("derivedSeries")
                .filter { $0.child("code")?.attributes["code"]?.uppercased() == "REPRESENTATIVE_BEAT" }
            (values, author) = collect(representative.flatMap { $0.descendants("annotationSet") })
        }
        guard !values.isEmpty else { return nil }
        func median(_ code: String) -> Double? {
            guard let v = values[code]?.sorted(), !v.isEmpty else { return nil }
            return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        }
        return DeviceMeasurements(prMs: median("MDC_ECG_TIME_PD_PR"), qrsMs: median("MDC_ECG_TIME_PD_QRS"),
                                  qtMs: median("MDC_ECG_TIME_PD_QT"), pAxisDeg: median("MDC_ECG_ANGLE_P_FRONT"),
                                  qrsAxisDeg: median("MDC_ECG_ANGLE_QRS_FRONT"), tAxisDeg: median("MDC_ECG_ANGLE_T_FRONT"),
                                  source: "HL7 aECG annotations" + (author.map { " (\($0))" } ?? ""),
                                  qtcReportedMs: median("MDC_ECG_TIME_PD_QTc"),
                                  beatCount: values.values.map(\.count).max())
    }
}
