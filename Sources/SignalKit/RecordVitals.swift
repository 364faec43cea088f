import ECGFormats

/// What SignalKit says about a record before any model: heart rate and rhythm (R peaks on the
/// best lead), per-lead quality, and the global measurements. Computed once per record and read by
/// every front end (`info`, `screen`, the workstation, the report); a part that cannot be
/// computed is left empty (`nil`, no quality entries) or, for measurements, says why.
public struct RecordVitals: Sendable {
    /// The lead R peaks are placed on and the beats (found on all usable leads); nil when no lead is usable.
    public var beats: (lead: LeadID, analysis: BeatAnalysis)?
    /// The leads the beats were found on together.
    public var beatLeads: [LeadID] = []
    /// Every lead's quality flags; nil when the rate is outside what the assessor handles.
    public var quality: [LeadQuality]?
    /// ecg2cmr's global measurements; nil with `measurementNote` saying why when they could not be made.
    public var measurements: GlobalMeasurements?
    public var measurementNote: String?

    public init(of record: ECGRecord) {
        let found = try? MultiLeadQRSDetector.detect(in: record)
        beats = found.map { ($0.referenceLead, $0.analysis) }
        beatLeads = found?.leadsUsed ?? []
        quality = (try? LeadQualityAssessor(samplingRate: record.samplingRate))?.assess(record)
        (measurements, measurementNote) = GlobalMeasurer.attempt(record)
    }

    public var heartRateBpm: Double? { beats?.analysis.heartRateBpm }
    public var rhythm: RhythmHint? { beats?.analysis.rhythm }

    /// Lead name → quality problems, only leads that have some (screening results' `qualityFlags`).
    public var qualityFlags: [String: [String]]? {
        quality.map { quality in Dictionary(quality.filter { !$0.flags.isEmpty }.map { ($0.lead.description, $0.flags.map(\.title)) },
                   uniquingKeysWith: { _, last in last }) }
    }

    /// The measurements in their contract form; when they failed, every value null and `note` says why.
    public var measurementSummary: IntervalMeasurements {
        measurements?.summary ?? IntervalMeasurements(source: "ecg2cmr", note: measurementNote)
    }
}
