// SignalPipeline — turns an ECGRecord into the model's input tensor.
//
// Public API (what CardiacModels calls):
//
//   let pipeline = try SignalPipeline(manifestOps: manifest["input"]["preprocessing"])   // [[String: Any]]
//   // or: try JSONDecoder().decode([PreprocessingOp].self, from: data) → SignalPipeline(ops:)
//   let input = try pipeline.apply(to: record, leads: [.i, .ii, …, .v6])
//   input.values        // [Float], lead-major: values[lead * input.sampleCount + t]
//   input.sampleCount   // samples per lead after all ops
//   input.samplingRate  // Hz after resampling
//   input.offsetSamples // index (at the resampled rate) of the first output sample in the record
//   input.derivedLeads  // leads computed from I and II because the file did not store them
//
// Ops (docs/model-bundle.md; the Python twin is training/ecg2cmr_train/preprocess.py and the
// Swift results are tested against it):
//   {"op": "resample", "rate": 250}
//   {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]}
//   {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5, "order": 2}
//   {"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5}
//   {"op": "sigmaClip", "sigmas": 4}                                 (per lead, mean ± sigmas·SD)
//   {"op": "notch", "frequencyHz": 50, "quality": 30}
//   {"op": "bandpass", "lowHz": 0.5, "highHz": 40, "order": 4}
//   {"op": "savgol", "windowLength": 15, "polyorder": 3}
//   {"op": "waveletDenoise", "wavelet": "db6", "level": 5}        (level optional)
//   {"op": "cropOrPad", "sampleCount": 2500, "align": "start"}      (align: start | center)
//   {"op": "normalise", "mode": "scale" | "minmax" | "zscore" | "zscore-group", "millivolts": 1, "clip": 8}
//   {"op": "normalise", "mode": "zscore-group", "groups": [["I","II","III"], ["aVR","aVL","aVF"], ["V1",…,"V6"]]}
//
// Intermediate values are Double (as the float64 Python reference); the result is Float.
import ECGFormats
import Foundation

/// One preprocessing step from a model manifest.
public enum PreprocessingOp: Sendable, Equatable {
    case resample(rateHz: Double)
    case medianBaselineRemoval(windowsSeconds: [Double])
    case highpassBaselineRemoval(cutoffHz: Double, order: Int)
    case alsBaselineRemoval(lambda: Double, p: Double, iterations: Int)
    case sigmaClip(sigmas: Double)
    case notch(frequencyHz: Double, quality: Double)
    case bandpass(lowHz: Double, highHz: Double, order: Int)
    case savitzkyGolay(windowLength: Int, polyorder: Int)
    case waveletDenoise(wavelet: String, level: Int?)
    case cropOrPad(sampleCount: Int, alignment: CropAlignment)
    case normalise(NormalisationMode, clip: Double?)

    /// Decodes one manifest dictionary (values as `JSONSerialization` produces them).
    public init(json: [String: Any], index: Int = 0) throws {
        func bad(_ reason: String) -> SignalError { .invalidOperation(index: index, reason: reason) }
        func number(_ key: String) -> Double? {
            if let d = json[key] as? Double { return d }
            if let i = json[key] as? Int { return Double(i) }
            if let n = json[key] as? NSNumber { return n.doubleValue }
            return nil
        }
        func required(_ key: String) throws -> Double {
            guard let v = number(key), v.isFinite else { throw bad("'\(json["op"] ?? "?")' needs a numeric '\(key)'") }
            return v
        }
        func integer(_ key: String, default d: Int) throws -> Int {
            guard json[key] != nil else { return d }
            guard let v = number(key), v.isFinite, v == v.rounded(), abs(v) < 1e9 else { throw bad("'\(key)' must be an integer") }
            return Int(v)
        }
        guard let op = json["op"] as? String else { throw bad("missing 'op'") }
        switch op {
        case "resample":
            self = .resample(rateHz: try required("rate"))
        case "baselineRemoval":
            let method = json["method"] as? String ?? "median"
            switch method {
            case "median":
                var windows = [0.2, 0.6]
                if let raw = json["windowsSeconds"] {
                    guard let list = raw as? [Any] else { throw bad("'windowsSeconds' must be a list of seconds") }
                    windows = try list.map { item -> Double in
                        if let d = item as? Double { return d }
                        if let i = item as? Int { return Double(i) }
                        if let n = item as? NSNumber { return n.doubleValue }
                        throw bad("'windowsSeconds' must be a list of seconds")
                    }
                }
                self = .medianBaselineRemoval(windowsSeconds: windows)
            case "highpass":
                self = .highpassBaselineRemoval(cutoffHz: number("cutoffHz") ?? 0.5, order: try integer("order", default: 2))
            case "als":
                self = .alsBaselineRemoval(lambda: number("lambda") ?? 1e7, p: number("p") ?? 0.3,
                                           iterations: try integer("iterations", default: 5))
            default:
                throw bad("unknown baselineRemoval method '\(method)' (median, highpass, als)")
            }
        case "sigmaClip":
            self = .sigmaClip(sigmas: number("sigmas") ?? 4)
        case "notch":
            self = .notch(frequencyHz: number("frequencyHz") ?? 50, quality: number("quality") ?? 30)
        case "bandpass":
            self = .bandpass(lowHz: try required("lowHz"), highHz: try required("highHz"), order: try integer("order", default: 4))
        case "savgol":
            self = .savitzkyGolay(windowLength: try integer("windowLength", default: 15), polyorder: try integer("polyorder", default: 3))
        case "waveletDenoise":
            let level: Int? = json["level"] == nil || json["level"] is NSNull ? nil : try integer("level", default: 0)
            self = .waveletDenoise(wavelet: json["wavelet"] as? String ?? "db6", level: level)
        case "cropOrPad":
            guard json["sampleCount"] != nil else { throw bad("'cropOrPad' needs an integer 'sampleCount'") }
            let count = try integer("sampleCount", default: 0)
            let alignName = json["align"] as? String ?? "start"
            guard let align = CropAlignment(rawValue: alignName) else { throw bad("unknown align '\(alignName)' (start, center)") }
            self = .cropOrPad(sampleCount: count, alignment: align)
        case "normalise", "normalize":
            let clip = number("clip")
            switch json["mode"] as? String {
            case "scale": self = .normalise(.scale(millivolts: number("millivolts") ?? 1), clip: clip)
            case "minmax": self = .normalise(.minMax, clip: clip)
            case "zscore": self = .normalise(.zScore, clip: clip)
            case "zscore-group":
                if let raw = json["groups"] {
                    guard let list = raw as? [Any], !list.isEmpty else { throw bad("'groups' must be a list of lists of lead names") }
                    let groups = try list.map { g -> [String] in
                        guard let names = g as? [Any], !names.isEmpty else { throw bad("'groups' must be a list of lists of lead names") }
                        return try names.map { n in
                            guard let s = n as? String else { throw bad("'groups' must be a list of lists of lead names") }
                            return s
                        }
                    }
                    self = .normalise(.zScoreLeadGroups(groups), clip: clip)
                } else {
                    self = .normalise(.zScoreGroup, clip: clip)
                }
            default: throw bad("unknown normalise mode '\(json["mode"] ?? "nil")' (scale, minmax, zscore, zscore-group)")
            }
        default:
            throw bad("unknown op '\(op)'")
        }
    }
}

extension PreprocessingOp: Decodable {
    /// Decodes from a manifest with `JSONDecoder` (same keys as `init(json:)`).
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(JSONValue.self)
        guard case .object = value else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "preprocessing op must be an object")
        }
        do {
            self = try PreprocessingOp(json: value.foundationObject as? [String: Any] ?? [:], index: decoder.codingPath.last?.intValue ?? 0)
        } catch let error as SignalError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }
}

/// Just enough JSON to hand a decoded op to `init(json:)`.
private enum JSONValue: Decodable {
    case number(Double), string(String), bool(Bool), null, array([JSONValue]), object([String: JSONValue])
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    var foundationObject: Any {
        switch self {
        case .number(let d): return d
        case .string(let s): return s
        case .bool(let b): return b
        case .null: return NSNull()
        case .array(let a): return a.map(\.foundationObject)
        case .object(let o): return o.mapValues(\.foundationObject)
        }
    }
}

/// The model input produced by a pipeline.
public struct PreprocessedSignal: Sendable, Equatable {
    public var leads: [LeadID]
    /// Lead-major: `values[lead * sampleCount + t]`.
    public var values: [Float]
    public var sampleCount: Int
    public var samplingRate: Double
    /// Index, at `samplingRate`, of output sample 0 in the (resampled) record; negative when
    /// zeros were padded in front.
    public var offsetSamples: Int
    /// Leads that were computed from I and II because the record did not store them.
    public var derivedLeads: [LeadID]

    /// Time in the original record (seconds from its first sample) of output sample `t`, for
    /// drawing overlays such as Grad-CAM maps on the unprocessed trace. Resampling keeps the
    /// time origin, so only the crop offset and the output rate matter.
    public func recordTimeSeconds(ofSample t: Int) -> Double {
        Double(t + offsetSamples) / samplingRate
    }

    public func lead(_ index: Int) -> ArraySlice<Float> {
        values[(index * sampleCount)..<((index + 1) * sampleCount)]
    }
}

/// Applies manifest preprocessing ops in order (see the top of this file).
public struct SignalPipeline: Sendable {
    public let ops: [PreprocessingOp]

    public init(ops: [PreprocessingOp]) { self.ops = ops }

    public init(manifestOps: [[String: Any]]) throws {
        ops = try manifestOps.enumerated().map { try PreprocessingOp(json: $0.element, index: $0.offset) }
    }

    /// Picks `leads` from the record (deriving III, aVR, aVL, aVF from I and II when missing)
    /// and runs the ops.
    public func apply(to record: ECGRecord, leads wanted: [LeadID]) throws -> PreprocessedSignal {
        var derived: [LeadID] = []
        let n = record.sampleCount
        let signals: [[Float]] = try wanted.map { id in
            let lead: Lead
            if let stored = record.lead(id) {
                lead = stored
            } else {
                lead = try LeadDerivation.derive(id, from: record)
            }
            if lead.isDerived { derived.append(id) }
            guard lead.millivolts.count == n else {
                throw SignalError.leadLengthMismatch(lead: id.description, expected: n, got: lead.millivolts.count)
            }
            return lead.millivolts
        }
        var out = try apply(leadMajor: signals, samplingRate: record.samplingRate, leadNames: wanted.map(\.description))
        out.leads = wanted
        out.derivedLeads = derived
        return out
    }

    /// Runs the ops on lead-major signals (all leads the same length) in millivolts.
    public func apply(leadMajor input: [[Float]], samplingRate: Double, leadNames: [String]? = nil) throws -> PreprocessedSignal {
        guard samplingRate > 0, samplingRate.isFinite else {
            throw SignalError.invalidParameter(step: "pipeline", parameter: "samplingRate", reason: "must be positive (got \(samplingRate))")
        }
        let names = leadNames ?? input.indices.map { "#\($0)" }
        let n0 = input.first?.count ?? 0
        for (k, lead) in input.enumerated() {
            guard lead.count == n0 else { throw SignalError.leadLengthMismatch(lead: names[k], expected: n0, got: lead.count) }
            if let bad = lead.firstIndex(where: { !$0.isFinite }) {
                throw SignalError.nonFiniteSample(step: "pipeline", lead: names[k], index: bad)
            }
        }
        var x = input.map(toDouble)
        var rate = samplingRate
        var offset = 0
        for op in ops {
            switch op {
            case .resample(let target):
                let r = try PolyphaseResampler(fromRateHz: rate, toRateHz: target)
                x = x.map { r.apply($0) }
                rate = target
            case .medianBaselineRemoval(let windows):
                let f = try MedianBaselineRemoval(windowsSeconds: windows, samplingRate: rate)
                x = x.map { f.apply($0) }
            case let .alsBaselineRemoval(lambda, p, iterations):
                let f = try ALSBaselineRemoval(lambda: lambda, p: p, iterations: iterations)
                x = x.map { f.apply($0) }
            case .sigmaClip(let sigmas):
                let f = try SigmaClip(sigmas: sigmas)
                x = x.map { f.apply($0) }
            case .highpassBaselineRemoval(let cutoff, let order):
                let f = try ButterworthFilter(order: order, band: .highpass(cutoffHz: cutoff), samplingRate: rate)
                x = try x.map { try f.filtfilt($0) }
            case .notch(let f0, let q):
                let f = try NotchFilter(frequencyHz: f0, quality: q, samplingRate: rate)
                x = try x.map { try f.filtfilt($0) }
            case .bandpass(let lo, let hi, let order):
                let f = try ButterworthFilter(order: order, band: .bandpass(lowHz: lo, highHz: hi), samplingRate: rate)
                x = try x.map { try f.filtfilt($0) }
            case .savitzkyGolay(let window, let order):
                let f = try SavitzkyGolayFilter(windowLength: window, polyorder: order)
                x = try x.map { try f.apply($0) }
            case .waveletDenoise(let name, let level):
                guard let w = Wavelet.named(name) else {
                    throw SignalError.invalidParameter(step: "waveletDenoise", parameter: "wavelet", reason: "'\(name)' is not supported (db6, db4)")
                }
                let f = try WaveletDenoiser(wavelet: w, level: level)
                x = try x.map { try f.apply($0) }
            case .cropOrPad(let count, let align):
                let c = try CropOrPad(sampleCount: count, alignment: align)
                offset += c.offset(forInputCount: x.first?.count ?? 0)
                x = x.map { c.apply($0) }
            case .normalise(let mode, let clip):
                x = try Normaliser(mode: mode, clip: clip).apply(x, leadNames: names)
            }
        }
        let count = x.first?.count ?? 0
        var values = [Float]()
        values.reserveCapacity(count * x.count)
        for lead in x { values.append(contentsOf: lead.lazy.map { Float($0) }) }
        return PreprocessedSignal(leads: names.map { LeadID(parsing: $0) }, values: values, sampleCount: count, samplingRate: rate,
                                  offsetSamples: offset, derivedLeads: [])
    }
}
