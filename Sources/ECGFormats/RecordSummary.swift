import Foundation

/// What `ecg2cmr info` reports about a file: the JSON fields are a stable contract
/// (`leads` in the file's order, `samplingRate` in Hz, `sampleCount`, `durationSeconds`, `format`).
public struct RecordSummary: Codable, Sendable, Equatable {
    public struct QualityEntry: Codable, Sendable, Equatable {
        public var lead: String
        public var flags: [String]
        public var usable: Bool
        public init(lead: String, flags: [String], usable: Bool) {
            self.lead = lead
            self.flags = flags
            self.usable = usable
        }
    }

    /// Which part of a long record heart rate, quality and measurements come from.
    public struct AnalysedWindow: Codable, Sendable, Equatable {
        public var startSeconds: Double
        public var durationSeconds: Double
        public var recordDurationSeconds: Double
        /// How it was chosen: "first clean 10 s", "requested window", …
        public var choice: String
        public init(startSeconds: Double, durationSeconds: Double, recordDurationSeconds: Double, choice: String) {
            self.startSeconds = startSeconds
            self.durationSeconds = durationSeconds
            self.recordDurationSeconds = recordDurationSeconds
            self.choice = choice
        }

        /// "0:00:00–0:00:10 of 24:00:00 (first clean 10 s)".
        public var text: String {
            "\(Self.clock(startSeconds))–\(Self.clock(startSeconds + durationSeconds)) of \(Self.clock(recordDurationSeconds)) (\(choice))"
        }

        /// h:mm:ss, with hundredths when the time is not a whole second.
        public static func clock(_ seconds: Double) -> String {
            let whole = Int(max(0, seconds).rounded(.down))
            let hundredths = Int(((max(0, seconds) - Double(whole)) * 100).rounded())
            let base = String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            return hundredths == 0 ? base : base + String(format: ".%02d", min(99, hundredths))
        }
    }

    public var file: String
    public var format: String
    /// Stored leads, in the order the file holds them.
    public var leads: [String]
    /// Leads computed from others (III, aVR, aVL, aVF from I and II), not stored in the file.
    public var derivedLeads: [String]
    public var samplingRate: Double
    public var sampleCount: Int
    public var durationSeconds: Double
    public var metadata: [String: String]
    public var sha256: String
    /// Which bytes `sha256` covers when not the whole file(s) (`Provenance.sha256Scope`: a window
    /// of a long WFDB record); absent for the whole file(s).
    public var sha256Scope: String?
    /// Set when the record is long and only a window of it was analysed (nil: the whole record).
    public var analysedWindow: AnalysedWindow?
    /// Filled by the caller from SignalKit (R-peak detection, lead quality); nil when not analysed.
    public var heartRateBpm: Double?
    /// The lead the R peaks are placed on (beats are found on all of `beatLeads` together).
    public var heartRateLead: String?
    /// The leads whose combined energy the beats were detected on.
    public var beatLeads: [String]?
    /// `info --beats`: the detected beats (R peaks) as 0-based sample indices at the record's rate,
    /// counted from the start of the whole record, for the analysed part (`analysedWindow`).
    public var beats: [Int]?
    public var rhythm: String?
    public var quality: [QualityEntry]?
    /// ecg2cmr's global measurements (SignalKit `GlobalMeasurer`), filled by the caller.
    public var measurements: IntervalMeasurements?
    /// Per-lead amplitudes of the representative beat (mV), filled by the caller.
    public var leadAmplitudes: [LeadAmplitudes]?
    /// The device's own measurements when the file carries them (MUSE 12SL, aECG annotations).
    public var deviceMeasurements: IntervalMeasurements?
    /// With device measurements: the values where ecg2cmr and the device differ by more than the
    /// tolerance (empty when they agree; nil when there is nothing to compare).
    public var measurementDisagreements: [MeasurementDisagreement]?

    public init(record: ECGRecord) {
        file = record.provenance.path
        format = record.provenance.format.rawValue
        leads = record.fileLeadOrder.map(\.description)
        derivedLeads = record.leads.filter(\.isDerived).map(\.id.description)
        samplingRate = record.samplingRate
        sampleCount = record.sampleCount
        durationSeconds = record.durationSeconds
        sha256 = record.provenance.sha256
        sha256Scope = record.provenance.sha256Scope
        var md = record.metadata.extra
        let m = record.metadata
        if let v = m.patientID { md["patientID"] = v }
        if let v = m.ageYears { md["ageYears"] = formatNumber(v) }
        if let v = m.sex { md["sex"] = v.rawValue }
        if let v = m.device { md["device"] = v }
        if let v = m.acquisitionTime { md["acquisitionTime"] = ISO8601DateFormatter().string(from: v) }
        metadata = md
        deviceMeasurements = m.deviceMeasurements
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The human-readable report, one fact per line.
    public func text() -> String {
        var lines: [String] = []
        func row(_ k: String, _ v: String) { lines.append(k.padding(toLength: 12, withPad: " ", startingAt: 0) + v) }
        row("File", file)
        row("Format", format)
        row("Leads", "\(leads.count) stored: " + leads.joined(separator: ", "))
        if !derivedLeads.isEmpty { row("Derived", derivedLeads.joined(separator: ", ") + " (computed from I and II)") }
        row("Sampling", "\(formatNumber(samplingRate)) Hz, \(sampleCount) samples, " + String(format: "%.2f s", durationSeconds))
        if let w = analysedWindow { row("Analysed", w.text + ": heart rate, quality, measurements") }
        if let hr = heartRateBpm {
            let where_ = (beatLeads?.count ?? 0) > 1
                ? " (beats found on \(beatLeads?.count ?? 0) leads\(heartRateLead.map { ", R peaks on \($0)" } ?? ""))"
                : (heartRateLead.map { " (lead \($0))" } ?? "")
            row("Heart rate", String(format: "%.0f bpm", hr) + where_ + (rhythm.map { ", \($0)" } ?? ""))
        } else if quality != nil {
            row("Heart rate", "not determined (too few R peaks detected)")
        }
        if let beats { row("Beats", "\(beats.count) R peaks at samples " + beats.map(String.init).joined(separator: " ")) }
        if let quality {
            let flagged = quality.filter { !$0.flags.isEmpty }
            if flagged.isEmpty {
                row("Quality", "no lead flagged")
            } else {
                for (k, q) in flagged.enumerated() {
                    row(k == 0 ? "Quality" : "", "\(q.lead): \(q.flags.joined(separator: ", "))" + (q.usable ? "" : " — unusable"))
                }
            }
        }
        if measurements != nil || deviceMeasurements != nil {
            lines += measurementTable()
        }
        for key in ["patientID", "ageYears", "sex", "acquisitionTime", "device"] {
            if let v = metadata[key] { row(["patientID": "Patient ID", "ageYears": "Age", "sex": "Sex", "acquisitionTime": "Acquired", "device": "Device"][key] ?? key, v) }
        }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) where !["patientID", "ageYears", "sex", "acquisitionTime", "device"].contains(k) {
            // A key longer than the column keeps every character: it gets a line of its own.
            let value = v.replacingOccurrences(of: "\n", with: " | ")
            if k.count > 11 { lines.append(k); row("", value) } else { row(k, value) }
        }
        row("SHA-256", sha256 + (sha256Scope.map { " (of the \($0))" } ?? ""))
        return lines.joined(separator: "\n")
    }

    /// Measurements as a small table: one column for ecg2cmr, one for the device when present.
    public func measurementTable() -> [String] {
        let columns = [measurements, deviceMeasurements].compactMap { $0 }
        guard !columns.isEmpty else { return [] }
        let rows: [(String, (IntervalMeasurements) -> Double?, String)] = [
            ("Heart rate", { $0.heartRateBpm }, "bpm"), ("PR", { $0.prMs }, "ms"), ("QRS", { $0.qrsMs }, "ms"),
            ("QT", { $0.qtMs }, "ms"), ("QTc Bazett", { $0.qtcBazettMs }, "ms"),
            ("QTc Fridericia", { $0.qtcFridericiaMs }, "ms"), ("P axis", { $0.pAxisDeg }, "°"),
            ("QRS axis", { $0.qrsAxisDeg }, "°"), ("T axis", { $0.tAxisDeg }, "°"),
        ]
        func cell(_ s: String, _ width: Int = 16) -> String { s.padding(toLength: max(width, s.count + 1), withPad: " ", startingAt: 0) }
        let widths = columns.map { max(12, $0.source.count + 2) }
        func line(_ name: String, _ texts: [String]) -> String {
            cell(name) + zip(texts, widths).map { cell($0, $1) }.joined()
        }
        var out = [line("Measurement", columns.map(\.source))]
        for (name, get, unit) in rows {
            out.append(line(name, columns.map { c in get(c).map { String(format: "%.0f ", $0) + unit } ?? "–" }))
        }
        if let qtc = deviceMeasurements?.qtcReportedMs {
            out.append(line("QTc (reported)", (measurements == nil ? [] : ["–"]) + [String(format: "%.0f ms", qtc)]))
        }
        if let note = measurements?.note { out.append("note: " + note) }
        if let disagreements = measurementDisagreements {
            if disagreements.isEmpty {
                out.append("ecg2cmr and the device agree within tolerance (PR/QRS 10 ms, QT/QTc 20 ms, axes 15°, rate 5 bpm)")
            } else {
                out.append("DIFFERS from the device: " + disagreements.map(\.text).joined(separator: "; "))
            }
        }
        return out
    }
}
