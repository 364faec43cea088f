import ECGFormats
import Foundation

/// The filter a cart prints on the strip ("0.67–150 Hz", "50 Hz notch"): applied to what is drawn
/// or written as displayed (the workstation's traces, the PDF report, `convert --filter`), never to
/// what the model or the measurements see. The one home of the display bands: every front end
/// filters through `apply(to:)`.
///
/// Zero-phase (forward and backward), so waves do not shift in time, with each end extended by
/// mirror reflection over the filter's settling time (`SecondOrderSections.filtfiltMirrored`), so
/// a 10 s excerpt looks as it does inside the whole record — no dive over the last second.
public enum DisplayFilter: String, CaseIterable, Sendable, Codable {
    /// The samples as recorded (named "none" on the command line; `off` in Swift so it never
    /// reads as `Optional.none`).
    case off = "none"
    /// Diagnostic bandwidth 0.67–150 Hz, Butterworth order 2. The AHA 2007 recommendations allow
    /// 0.67 Hz in place of 0.05 Hz for a zero-phase digital high-pass; it keeps baseline wander off
    /// a 10 s strip, and its settling time (about 3 s) lets an excerpt match the whole record,
    /// which a 0.05 Hz high-pass (about 40 s) cannot.
    case diagnostic
    /// Monitoring bandwidth 0.5–40 Hz: steadier baseline and less muscle noise, at the cost of ST fidelity.
    case monitor
    case notch50
    case notch60

    /// Parses a name as typed on the command line or in the workstation: the raw names, plus
    /// "off" for none and the bands written out ("0.67-150", "0.5-40").
    public init?(name: String) {
        let key = name.lowercased().trimmingCharacters(in: .whitespaces)
        switch key {
        case "off": self = .off
        case "0.67-150", "0.67–150": self = .diagnostic
        case "0.5-40", "0.5–40", "monitoring": self = .monitor
        default:
            guard let f = DisplayFilter(rawValue: key) else { return nil }
            self = f
        }
    }

    /// The names `init(name:)` documents, for help and error texts.
    public static var namesText: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// What the strip says, e.g. "filter 0.67–150 Hz".
    public var label: String {
        switch self {
        case .off: return "filter off"
        case .diagnostic: return "filter 0.67–150 Hz"
        case .monitor: return "filter 0.5–40 Hz"
        case .notch50: return "filter 50 Hz notch"
        case .notch60: return "filter 60 Hz notch"
        }
    }

    /// The next setting in the cycle (the key that cycles them wraps around).
    public var next: DisplayFilter {
        let all = DisplayFilter.allCases
        return all[((all.firstIndex(of: self) ?? 0) + 1) % all.count]
    }

    /// The filter as it runs at `samplingRate`: its sections and how a page prints it.
    public func design(samplingRate fs: Double) throws -> (sections: SecondOrderSections, description: String)? {
        switch self {
        case .off: return nil
        case .diagnostic, .monitor:
            let (low, high) = self == .diagnostic ? (0.67, 150.0) : (0.5, 40.0)
            let hasLowpass = high < 0.45 * fs
            let band: FilterBand = hasLowpass ? .bandpass(lowHz: low, highHz: high) : .highpass(cutoffHz: low)
            let filter = try ButterworthFilter(order: 2, band: band, samplingRate: fs)
            let text = hasLowpass
                ? "\(format(low))–\(format(high)) Hz"
                : "\(format(low)) Hz high-pass (no \(format(high)) Hz low-pass at \(format(fs)) Hz)"
            return (filter.sos, text + ", zero-phase Butterworth order 2")
        case .notch50, .notch60:
            let f = self == .notch50 ? 50.0 : 60.0
            guard f < 0.45 * fs else {
                throw SignalError.invalidParameter(step: "display filter", parameter: "notch",
                                                   reason: "\(Int(f)) Hz is above what a \(format(fs)) Hz record holds")
            }
            let notch = try NotchFilter(frequencyHz: f, samplingRate: fs)
            return (notch.section, "\(Int(f)) Hz notch (Q 30), zero-phase")
        }
    }

    /// `record` with every lead filtered. An upper edge at or above 0.45 × the sampling rate is
    /// left out (the record holds nothing above Nyquist), so 0.67–150 Hz on a 250 Hz record is a
    /// 0.67 Hz high-pass. A missing sample (NaN) stays a gap: each run of finite samples is
    /// filtered on its own, so a gap never spreads along the trace. Throws `SignalError` when the
    /// rate is too low for the filter.
    public func apply(to record: ECGRecord) throws -> ECGRecord {
        guard let design = try design(samplingRate: record.samplingRate) else { return record }
        let sos = design.sections
        let pad = sos.settlingSamples()
        var out = record
        for k in out.leads.indices {
            out.leads[k].millivolts = FiniteRuns.map(out.leads[k].millivolts) { run in
                sos.filtfiltMirrored(run.map { Double($0) }, padLength: pad).map { Float($0) }
            }
        }
        return out
    }

    private func format(_ v: Double) -> String { String(format: "%g", v) }
}
