import ECGFormats
import Foundation

/// Which part of a record the analyses (heart rate, lead quality, measurements, the model) see.
/// Resting ECGs (up to `wholeRecordUpToSeconds`) are analysed whole, as always. Longer records
/// (Holter, 24-hour) are analysed on one 10 s window, so memory stays bounded by the window:
/// the one starting at `--window START` when given, else the first clean 10 s (every lead usable)
/// within the first `searchSeconds`, else the first 10 s. `info`, `screen` and `view` share this rule.
public struct AnalysisWindow: Sendable {
    public static let seconds = 10.0
    public static let wholeRecordUpToSeconds = 60.0
    public static let searchSeconds = 300.0

    /// The samples analysed (the whole record for short records).
    public let record: ECGRecord
    public let startSeconds: Double
    public let durationSeconds: Double
    /// The whole record's length, for saying "10 s of 24 h".
    public let recordDurationSeconds: Double
    /// True when `record` is the whole record.
    public let isWholeRecord: Bool
    /// How the window was chosen, in words ("first clean 10 s", "requested with --window", …).
    public let choice: String

    /// Chooses the window of `source` to analyse; `requestedStartSeconds` (`--window START`) picks
    /// the window starting there (for any record length).
    /// `requestedSeconds` (`--window-length`) sets that window's length (default 10 s; clipped
    /// at the record's end).
    public static func choose(in source: ECGRecordSource, requestedStartSeconds: Double? = nil,
                              requestedSeconds: Double? = nil) throws -> AnalysisWindow {
        let total = source.durationSeconds
        if let length = requestedSeconds, !(length.isFinite && length >= 1) {
            throw ECGFormatError(.invalidValue, file: source.url.path, "window length \(length) s must be at least 1 s")
        }
        if let start = requestedStartSeconds {
            guard start.isFinite, start >= 0, start < max(total, 1e-9) else {
                throw ECGFormatError(.invalidValue, file: source.url.path, "window start \(start) s lies outside the record (0 – \(String(format: "%.2f", total)) s)")
            }
            return try window(of: source, at: start, length: requestedSeconds ?? seconds, choice: "requested window")
        }
        if total <= wholeRecordUpToSeconds {
            return AnalysisWindow(record: try source.readWhole(), startSeconds: 0, durationSeconds: total,
                                  recordDurationSeconds: total, isWholeRecord: true, choice: "whole record")
        }
        let assessor = try? LeadQualityAssessor(samplingRate: source.samplingRate)
        var start = 0.0
        var first: AnalysisWindow?
        while start + seconds <= min(total, searchSeconds) + 1e-9 {
            let candidate = try window(of: source, at: start, choice: "first clean 10 s")
            if first == nil { first = candidate }
            if let assessor, assessor.assess(candidate.record).allSatisfy(\.isUsable) { return candidate }
            start += seconds
        }
        guard let first else { return try window(of: source, at: 0, choice: "first 10 s") }
        return AnalysisWindow(record: first.record, startSeconds: 0, durationSeconds: first.durationSeconds,
                              recordDurationSeconds: total, isWholeRecord: false,
                              choice: "first 10 s (no clean 10 s in the first \(Int(searchSeconds / 60)) min)")
    }

    private static func window(of source: ECGRecordSource, at start: Double, length: Double = seconds, choice: String) throws -> AnalysisWindow {
        let (first, count) = source.sampleRange(startSeconds: start, durationSeconds: length)
        let record = try source.read(window: first..<(first + count))
        return AnalysisWindow(record: record, startSeconds: Double(first) / source.samplingRate,
                              durationSeconds: Double(count) / source.samplingRate,
                              recordDurationSeconds: source.durationSeconds,
                              isWholeRecord: count == source.sampleCount, choice: choice)
    }

    /// What `info` and `screen` report about the window (nil fields for a whole short record).
    public var summary: RecordSummary.AnalysedWindow {
        .init(startSeconds: startSeconds, durationSeconds: durationSeconds, recordDurationSeconds: recordDurationSeconds, choice: choice)
    }
}
