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
    /// Filled by the caller from SignalKit (R-peak detection, lead quality); nil when not analysed.
    public var heartRateBpm: Double?
    public var heartRateLead: String?
    public var rhythm: String?
    public var quality: [QualityEntry]?

    public init(record: ECGRecord) {
        file = record.provenance.path
        format = record.provenance.format.rawValue
        leads = record.fileLeadOrder.map(\.description)
        derivedLeads = record.leads.filter(\.isDerived).map(\.id.description)
        samplingRate = record.samplingRate
        sampleCount = record.sampleCount
        durationSeconds = record.durationSeconds
        sha256 = record.provenance.sha256
        var md = record.metadata.extra
        let m = record.metadata
        if let v = m.patientID { md["patientID"] = v }
        if let v = m.ageYears { md["ageYears"] = formatNumber(v) }
        if let v = m.sex { md["sex"] = v.rawValue }
        if let v = m.device { md["device"] = v }
        if let v = m.acquisitionTime { md["acquisitionTime"] = ISO8601DateFormatter().string(from: v) }
        metadata = md
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
        if let hr = heartRateBpm {
            row("Heart rate", String(format: "%.0f bpm", hr) + (heartRateLead.map { " (lead \($0))" } ?? "") + (rhythm.map { ", \($0)" } ?? ""))
        } else if quality != nil {
            row("Heart rate", "not determined (too few R peaks detected)")
        }
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
        for key in ["patientID", "ageYears", "sex", "acquisitionTime", "device"] {
            if let v = metadata[key] { row(["patientID": "Patient ID", "ageYears": "Age", "sex": "Sex", "acquisitionTime": "Acquired", "device": "Device"][key] ?? key, v) }
        }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) where !["patientID", "ageYears", "sex", "acquisitionTime", "device"].contains(k) {
            row(k.count > 11 ? String(k.prefix(10)) + "…" : k, v.replacingOccurrences(of: "\n", with: " | "))
        }
        row("SHA-256", sha256)
        return lines.joined(separator: "\n")
    }
}
