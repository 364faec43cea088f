import ECGFormats
import Foundation

/// The filter a cart prints on the strip ("0.05–150 Hz", "50 Hz notch"): applied to what is drawn,
/// never to what the model or the measurements see. Zero-phase (filtfilt), so waves do not shift in time.
public enum DisplayFilter: String, CaseIterable, Sendable, Codable {
    case off
    /// AHA diagnostic bandwidth: keeps ST segments and QRS notches faithful.
    case diagnostic = "0.05-150"
    /// Monitoring bandwidth: steadier baseline and less muscle noise, at the cost of ST fidelity.
    case monitoring = "0.5-40"
    case notch50 = "notch50"
    case notch60 = "notch60"

    /// What the strip says, e.g. "filter 0.05–150 Hz".
    public var label: String {
        switch self {
        case .off: return "filter off"
        case .diagnostic: return "filter 0.05–150 Hz"
        case .monitoring: return "filter 0.5–40 Hz"
        case .notch50: return "filter 50 Hz notch"
        case .notch60: return "filter 60 Hz notch"
        }
    }

    /// The next setting in the cycle (the key that cycles them wraps around).
    public var next: DisplayFilter {
        let all = DisplayFilter.allCases
        return all[((all.firstIndex(of: self) ?? 0) + 1) % all.count]
    }

    /// `record` with every lead filtered. An upper edge at or above 0.45 × the sampling rate is
    /// left out (the record holds nothing above Nyquist), so 0.05–150 Hz on a 250 Hz record is a
    /// 0.05 Hz high-pass. Throws `SignalError` when the record is too short or the rate too low.
    public func apply(to record: ECGRecord) throws -> ECGRecord {
        let fs = record.samplingRate
        let filterLead: ([Float]) throws -> [Float]
        switch self {
        case .off: return record
        case .diagnostic, .monitoring:
            let (low, high) = self == .diagnostic ? (0.05, 150.0) : (0.5, 40.0)
            let band: FilterBand = high < 0.45 * fs ? .bandpass(lowHz: low, highHz: high) : .highpass(cutoffHz: low)
            let filter = try ButterworthFilter(order: 2, band: band, samplingRate: fs)
            filterLead = { try filter.filtfilt($0) }
        case .notch50, .notch60:
            let f = self == .notch50 ? 50.0 : 60.0
            guard f < 0.45 * fs else {
                throw SignalError.invalidParameter(step: "display filter", parameter: "notch",
                                                   reason: "\(Int(f)) Hz is above what a \(Int(fs)) Hz record holds")
            }
            let notch = try NotchFilter(frequencyHz: f, samplingRate: fs)
            filterLead = { try notch.filtfilt($0) }
        }
        var out = record
        for k in out.leads.indices { out.leads[k].millivolts = try filterLead(out.leads[k].millivolts) }
        return out
    }
}
