import ECGFormats
import Foundation

/// Why a signal-processing step refused its input or parameters. Every case says which step and
/// what was wrong, so the workstation can show it to the user as is.
public enum SignalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter is out of range (`step`, parameter name, what is wrong).
    case invalidParameter(step: String, parameter: String, reason: String)
    /// The signal is too short for the step (`needed` samples, `got` samples).
    case signalTooShort(step: String, needed: Int, got: Int)
    /// The signal contains NaN or infinity (first offending sample index).
    case nonFiniteSample(step: String, lead: String, index: Int)
    /// A lead the model needs is neither in the record nor derivable from I and II.
    case missingLead(String)
    /// Leads of one record differ in length.
    case leadLengthMismatch(lead: String, expected: Int, got: Int)
    /// A manifest preprocessing entry could not be understood.
    case invalidOperation(index: Int, reason: String)

    public var description: String {
        switch self {
        case let .invalidParameter(step, parameter, reason):
            return "\(step): parameter '\(parameter)' \(reason)"
        case let .signalTooShort(step, needed, got):
            return "\(step): signal has \(got) samples, needs more than \(needed)"
        case let .nonFiniteSample(step, lead, index):
            return "\(step): lead \(lead) has a non-finite sample at index \(index)"
        case let .missingLead(name):
            // Only III, aVR, aVL and aVF follow from I and II; say which case applies so the
            // message never claims a lead could be derived from itself.
            if LeadDerivation.derivable.contains(LeadID(parsing: name)) {
                return "lead \(name) is not in the record and cannot be derived: that needs both leads I and II"
            }
            return "lead \(name) is not in the record (only III, aVR, aVL and aVF can be derived, from I and II)"
        case let .leadLengthMismatch(lead, expected, got):
            return "lead \(lead) has \(got) samples, expected \(expected)"
        case let .invalidOperation(index, reason):
            return "preprocessing op #\(index): \(reason)"
        }
    }
}

@inline(__always)
func toDouble(_ x: [Float]) -> [Double] { x.map { Double($0) } }

@inline(__always)
func toFloat(_ x: [Double]) -> [Float] { x.map { Float($0) } }

/// `Int(x)` that cannot trap: NaN becomes 0 and values beyond ±2^52 are clamped, so a hostile
/// sampling rate or duration turns into a refused (too long / too short) window, never a crash.
@inline(__always)
public func checkedInt(_ x: Double) -> Int {
    guard x.isFinite else { return x.isNaN ? 0 : (x > 0 ? 1 << 52 : -(1 << 52)) }
    return Int(max(-4.5e15, min(4.5e15, x)))
}
