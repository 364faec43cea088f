// SignalPipeline — turns an ECGRecord into the model's input tensor.
//
// Public API (what CardiacModels calls):
//
//   let ops = try JSONDecoder().decode([PreprocessingOp].self, from: data)   // typed, from the manifest
//   let pipeline = SignalPipeline(ops: ops)
//   try pipeline.validate(leads: …, samplingRate: 500, sampleCount: 5000)    // at bundle load
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
//   {"op": "sigmaClip", "sigmas": 4, "scope": "lead"}                (per lead, mean ± sigmas·SD)
//   {"op": "sigmaClip", "sigmas": 4, "scope": "record"}              (MMCL: ±sigmas·SD of all leads, around 0)
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

/// Which samples one sigma clip measures its SD over.
public enum SigmaClipScope: String, Sendable, Equatable, Codable {
    /// Each lead to its own mean ± sigmas·SD.
    case lead
    /// MMCL's clamp (`process_ecg` in its utils/preprocessing.py): every lead to ±sigmas·SD of all
    /// leads' samples together, around zero.
    case record
}

/// One preprocessing step from a model manifest, decoded straight from the manifest JSON
/// (`Codable`): unknown ops, unknown parameter names and non-numbers are refused while decoding,
/// ranges by `SignalPipeline.validate` when the bundle loads.
public enum PreprocessingOp: Sendable, Equatable {
    case resample(rateHz: Double)
    case medianBaselineRemoval(windowsSeconds: [Double])
    case highpassBaselineRemoval(cutoffHz: Double, order: Int)
    case alsBaselineRemoval(lambda: Double, p: Double, iterations: Int)
    case sigmaClip(sigmas: Double, scope: SigmaClipScope)
    case notch(frequencyHz: Double, quality: Double)
    case bandpass(lowHz: Double, highHz: Double, order: Int)
    case savitzkyGolay(windowLength: Int, polyorder: Int)
    case waveletDenoise(wavelet: String, level: Int?)
    case cropOrPad(sampleCount: Int, alignment: CropAlignment)
    case normalise(NormalisationMode, clip: Double?)

    /// The manifest's name of the op (`"op"`), for messages.
    public var name: String {
        switch self {
        case .resample: return "resample"
        case .medianBaselineRemoval, .highpassBaselineRemoval, .alsBaselineRemoval: return "baselineRemoval"
        case .sigmaClip: return "sigmaClip"
        case .notch: return "notch"
        case .bandpass: return "bandpass"
        case .savitzkyGolay: return "savgol"
        case .waveletDenoise: return "waveletDenoise"
        case .cropOrPad: return "cropOrPad"
        case .normalise: return "normalise"
        }
    }
}

extension PreprocessingOp: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes one manifest object; errors are `SignalError.invalidOperation` with the op's index
    /// in the list (they pass through `JSONDecoder` unchanged) and never quote the file's numbers.
    public init(from decoder: Decoder) throws {
        let index = decoder.codingPath.last?.intValue ?? 0
        func bad(_ reason: String) -> SignalError { .invalidOperation(index: index, reason: reason) }
        let c: KeyedDecodingContainer<Key>
        do { c = try decoder.container(keyedBy: Key.self) } catch { throw bad("must be an object") }
        func string(_ key: String) throws -> String? {
            guard c.contains(Key(key)) else { return nil }
            guard let s = try? c.decode(String.self, forKey: Key(key)) else { throw bad("'\(key)' must be a string") }
            return s
        }
        func number(_ key: String) throws -> Double? {
            guard c.contains(Key(key)) else { return nil }
            guard let v = try? c.decode(Double.self, forKey: Key(key)), v.isFinite else { throw bad("'\(key)' must be a finite number") }
            return v
        }
        func integer(_ key: String) throws -> Int? {
            guard let v = try number(key) else { return nil }
            guard v == v.rounded(), abs(v) < 1e9 else { throw bad("'\(key)' must be an integer below 10⁹") }
            return Int(v)
        }
        guard let op = try string("op") else { throw bad("missing 'op'") }
        var method = "median"
        if op == "baselineRemoval" { method = try string("method") ?? "median" }
        let mode = ["normalise", "normalize"].contains(op) ? try string("mode") : nil
        // A misspelt parameter would silently fall back to its default: refuse names the op does not take.
        let allowed: Set<String>
        switch (op, method) {
        case ("resample", _): allowed = ["rate"]
        case ("baselineRemoval", "median"): allowed = ["method", "windowsSeconds"]
        case ("baselineRemoval", "highpass"): allowed = ["method", "cutoffHz", "order"]
        case ("baselineRemoval", "als"): allowed = ["method", "lambda", "p", "iterations"]
        case ("baselineRemoval", _): throw bad("unknown baselineRemoval method '\(method)' (median, highpass, als)")
        case ("sigmaClip", _): allowed = ["sigmas", "scope"]
        case ("notch", _): allowed = ["frequencyHz", "quality"]
        case ("bandpass", _): allowed = ["lowHz", "highHz", "order"]
        case ("savgol", _): allowed = ["windowLength", "polyorder"]
        case ("waveletDenoise", _): allowed = ["wavelet", "level"]
        case ("cropOrPad", _): allowed = ["sampleCount", "align"]
        case ("normalise", _), ("normalize", _): allowed = ["mode", "millivolts", "clip", "groups"]
        default: throw bad("unknown op '\(op)'")
        }
        if let extra = c.allKeys.map(\.stringValue).filter({ $0 != "op" && !allowed.contains($0) }).sorted().first {
            throw bad("'\(op)' has no parameter '\(extra)' (it takes \(allowed.sorted().joined(separator: ", ")))")
        }
        func required(_ key: String) throws -> Double {
            guard let v = try number(key) else { throw bad("'\(op)' needs a numeric '\(key)'") }
            return v
        }
        switch op {
        case "resample":
            self = .resample(rateHz: try required("rate"))
        case "baselineRemoval":
            switch method {
            case "median":
                var windows = [0.2, 0.6]
                if c.contains(Key("windowsSeconds")) {
                    guard let list = try? c.decode([Double].self, forKey: Key("windowsSeconds")) else {
                        throw bad("'windowsSeconds' must be a list of seconds")
                    }
                    windows = list
                }
                self = .medianBaselineRemoval(windowsSeconds: windows)
            case "highpass":
                self = .highpassBaselineRemoval(cutoffHz: try number("cutoffHz") ?? 0.5, order: try integer("order") ?? 2)
            default:
                self = .alsBaselineRemoval(lambda: try number("lambda") ?? 1e7, p: try number("p") ?? 0.3,
                                           iterations: try integer("iterations") ?? 5)
            }
        case "sigmaClip":
            let scopeName = try string("scope") ?? "lead"
            guard let scope = SigmaClipScope(rawValue: scopeName) else { throw bad("unknown sigmaClip scope '\(scopeName)' (lead, record)") }
            self = .sigmaClip(sigmas: try number("sigmas") ?? 4, scope: scope)
        case "notch":
            self = .notch(frequencyHz: try number("frequencyHz") ?? 50, quality: try number("quality") ?? 30)
        case "bandpass":
            self = .bandpass(lowHz: try required("lowHz"), highHz: try required("highHz"), order: try integer("order") ?? 4)
        case "savgol":
            self = .savitzkyGolay(windowLength: try integer("windowLength") ?? 15, polyorder: try integer("polyorder") ?? 3)
        case "waveletDenoise":
            let level = (try? c.decodeNil(forKey: Key("level"))) == true ? nil : try integer("level")
            self = .waveletDenoise(wavelet: try string("wavelet") ?? "db6", level: level)
        case "cropOrPad":
            guard let count = try integer("sampleCount") else { throw bad("'cropOrPad' needs an integer 'sampleCount'") }
            let alignName = try string("align") ?? "start"
            guard let align = CropAlignment(rawValue: alignName) else { throw bad("unknown align '\(alignName)' (start, center)") }
            self = .cropOrPad(sampleCount: count, alignment: align)
        default:
            let clip = try number("clip")
            switch mode {
            case "scale": self = .normalise(.scale(millivolts: try number("millivolts") ?? 1), clip: clip)
            case "minmax": self = .normalise(.minMax, clip: clip)
            case "zscore": self = .normalise(.zScore, clip: clip)
            case "zscore-group":
                if c.contains(Key("groups")) {
                    guard let groups = try? c.decode([[String]].self, forKey: Key("groups")) else {
                        throw bad("'groups' must be a list of lists of lead names")
                    }
                    self = .normalise(.zScoreLeadGroups(groups), clip: clip)
                } else {
                    self = .normalise(.zScoreGroup, clip: clip)
                }
            default: throw bad("unknown normalise mode '\(mode ?? "(none)")' (scale, minmax, zscore, zscore-group)")
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(name, forKey: Key("op"))
        switch self {
        case .resample(let rate): try c.encode(rate, forKey: Key("rate"))
        case .medianBaselineRemoval(let w):
            try c.encode("median", forKey: Key("method")); try c.encode(w, forKey: Key("windowsSeconds"))
        case let .highpassBaselineRemoval(f, order):
            try c.encode("highpass", forKey: Key("method")); try c.encode(f, forKey: Key("cutoffHz")); try c.encode(order, forKey: Key("order"))
        case let .alsBaselineRemoval(lambda, p, iterations):
            try c.encode("als", forKey: Key("method")); try c.encode(lambda, forKey: Key("lambda"))
            try c.encode(p, forKey: Key("p")); try c.encode(iterations, forKey: Key("iterations"))
        case let .sigmaClip(sigmas, scope): try c.encode(sigmas, forKey: Key("sigmas")); try c.encode(scope, forKey: Key("scope"))
        case let .notch(f, q): try c.encode(f, forKey: Key("frequencyHz")); try c.encode(q, forKey: Key("quality"))
        case let .bandpass(lo, hi, order):
            try c.encode(lo, forKey: Key("lowHz")); try c.encode(hi, forKey: Key("highHz")); try c.encode(order, forKey: Key("order"))
        case let .savitzkyGolay(w, p): try c.encode(w, forKey: Key("windowLength")); try c.encode(p, forKey: Key("polyorder"))
        case let .waveletDenoise(w, level): try c.encode(w, forKey: Key("wavelet")); try c.encodeIfPresent(level, forKey: Key("level"))
        case let .cropOrPad(n, align): try c.encode(n, forKey: Key("sampleCount")); try c.encode(align.rawValue, forKey: Key("align"))
        case let .normalise(mode, clip):
            switch mode {
            case .scale(let mv): try c.encode("scale", forKey: Key("mode")); try c.encode(mv, forKey: Key("millivolts"))
            case .minMax: try c.encode("minmax", forKey: Key("mode"))
            case .zScore: try c.encode("zscore", forKey: Key("mode"))
            case .zScoreGroup: try c.encode("zscore-group", forKey: Key("mode"))
            case .zScoreLeadGroups(let g): try c.encode("zscore-group", forKey: Key("mode")); try c.encode(g, forKey: Key("groups"))
            }
            try c.encodeIfPresent(clip, forKey: Key("clip"))
        }
    }
}

/// The bounds `SignalPipeline.validate` holds every op to (docs/model-bundle.md lists them).
public enum PreprocessingLimits {
    /// Resample targets: an ECG is never usefully above 10 kHz; a 5 MHz target would make a 10 s
    /// record 50 M samples per lead.
    public static let resampleRateHz = 10.0...10_000.0
    public static let maxOps = 64
    public static let maxSampleCount = 1 << 20
    public static let filterOrder = 1...8
    public static let alsLambda = 1e-3...1e15
    public static let alsIterations = 1...100
    public static let sigmas = 0.5...100.0
    public static let notchQuality = 0.1...1_000.0
    public static let maxMedianWindows = 4
    public static let millivolts = 1e-6...1e6
    public static let clip = 1e-6...1e6
    public static let maxGroups = 64
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

    public init(leads: [LeadID], values: [Float], sampleCount: Int, samplingRate: Double, offsetSamples: Int, derivedLeads: [LeadID]) {
        self.leads = leads; self.values = values; self.sampleCount = sampleCount; self.samplingRate = samplingRate
        self.offsetSamples = offsetSamples; self.derivedLeads = derivedLeads
    }

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

    /// Decodes a JSON list of ops (the manifest's `input.preprocessing`).
    public init(manifestJSON: Data) throws {
        do { ops = try JSONDecoder().decode([PreprocessingOp].self, from: manifestJSON) } catch let e as SignalError { throw e } catch {
            throw SignalError.invalidOperation(index: 0, reason: "input.preprocessing must be a JSON list of op objects")
        }
    }

    /// Ops as `JSONSerialization` objects (tests and scripts that build them as dictionaries);
    /// they are decoded by the same `Codable` path as a manifest.
    public init(manifestOps: [[String: Any]]) throws {
        guard JSONSerialization.isValidJSONObject(manifestOps) else {
            throw SignalError.invalidOperation(index: 0, reason: "ops are not JSON values")
        }
        try self.init(manifestJSON: try JSONSerialization.data(withJSONObject: manifestOps))
    }

    /// Checks every op's parameters before any record is read, so that a bundle whose pipeline
    /// cannot run (or would allocate without bound) is refused at load: `leads` are the model's
    /// input leads, `samplingRate` / `sampleCount` what the encoder needs. Rates and window
    /// lengths are checked at the rate in effect where it is known (after a `resample`); the ops
    /// before the first `resample` run at the record's own rate and are range-checked only.
    /// Every later check at run time concerns the record, not the manifest.
    public func validate(leads: [String], samplingRate: Double, sampleCount: Int) throws {
        func bad(_ i: Int, _ reason: String) -> SignalError { .invalidOperation(index: i, reason: reason) }
        func inRange<T: Comparable>(_ v: T, _ r: ClosedRange<T>, _ i: Int, _ what: String) throws {
            guard r.contains(v) else { throw bad(i, "\(what) must be in \(r.lowerBound)…\(r.upperBound)") }
        }
        guard ops.count <= PreprocessingLimits.maxOps else {
            throw bad(ops.count - 1, "a pipeline has at most \(PreprocessingLimits.maxOps) ops")
        }
        let L = PreprocessingLimits.self
        var rate: Double? = nil              // nil: the record's own rate (before any resample)
        var lengthFixed = false              // a cropOrPad came after the last resample
        var count: Int? = nil
        for (i, op) in ops.enumerated() {
            // The filter types check their own parameters; build them where the rate is known.
            // Their messages quote the value; say which parameter instead (bounded values only).
            func build(_ make: (Double) throws -> Void) throws {
                do { try make(rate ?? samplingRate) } catch let e as SignalError {
                    guard case let .invalidParameter(_, parameter, _) = e else { throw bad(i, "'\(op.name)' cannot be built") }
                    throw bad(i, "'\(op.name)' parameter '\(parameter)' is out of range" + (rate.map { " at \(Int($0)) Hz" } ?? ""))
                }
            }
            switch op {
            case .resample(let target):
                try inRange(target, L.resampleRateHz, i, "resample 'rate' (Hz)")
                if let rate { try build { _ in _ = try PolyphaseResampler(fromRateHz: rate, toRateHz: target) } }
                rate = target
                lengthFixed = false
            case .medianBaselineRemoval(let windows):
                guard (1...L.maxMedianWindows).contains(windows.count), windows.allSatisfy({ $0 > 0 && $0 <= 10 }) else {
                    throw bad(i, "'windowsSeconds' must be 1…\(L.maxMedianWindows) durations in (0, 10] s")
                }
                if rate != nil { try build { try _ = MedianBaselineRemoval(windowsSeconds: windows, samplingRate: $0) } }
            case let .highpassBaselineRemoval(cutoff, order):
                try inRange(order, L.filterOrder, i, "highpass 'order'")
                guard cutoff > 0, cutoff <= 100 else { throw bad(i, "highpass 'cutoffHz' must be in (0, 100] Hz") }
                if rate != nil {
                    try build { _ = try ButterworthFilter(order: order, band: .highpass(cutoffHz: cutoff), samplingRate: $0) }
                }
            case let .alsBaselineRemoval(lambda, p, iterations):
                try inRange(lambda, L.alsLambda, i, "als 'lambda'")
                guard p > 0, p < 1 else { throw bad(i, "als 'p' must be in (0, 1)") }
                try inRange(iterations, L.alsIterations, i, "als 'iterations'")
            case .sigmaClip(let sigmas, _):
                try inRange(sigmas, L.sigmas, i, "sigmaClip 'sigmas'")
            case let .notch(f0, q):
                try inRange(q, L.notchQuality, i, "notch 'quality'")
                guard f0 > 0, f0 <= 1_000 else { throw bad(i, "notch 'frequencyHz' must be in (0, 1000] Hz") }
                if rate != nil { try build { _ = try NotchFilter(frequencyHz: f0, quality: q, samplingRate: $0) } }
            case let .bandpass(lo, hi, order):
                try inRange(order, L.filterOrder, i, "bandpass 'order'")
                guard lo > 0, lo < hi, hi <= 1_000 else { throw bad(i, "bandpass needs 0 < 'lowHz' < 'highHz' ≤ 1000 Hz") }
                if rate != nil {
                    try build { _ = try ButterworthFilter(order: order, band: .bandpass(lowHz: lo, highHz: hi), samplingRate: $0) }
                }
            case let .savitzkyGolay(window, order):
                guard window % 2 == 1, (3...1001).contains(window) else { throw bad(i, "savgol 'windowLength' must be odd, 3…1001") }
                guard (0...10).contains(order), order < window else { throw bad(i, "savgol 'polyorder' must be 0…10 and below windowLength") }
                try build { _ in _ = try SavitzkyGolayFilter(windowLength: window, polyorder: order) }
            case let .waveletDenoise(name, level):
                guard let w = Wavelet.named(name) else { throw bad(i, "wavelet '\(name)' is not supported (db6, db4)") }
                try build { _ in _ = try WaveletDenoiser(wavelet: w, level: level) }
            case let .cropOrPad(n, _):
                try inRange(n, 1...L.maxSampleCount, i, "cropOrPad 'sampleCount'")
                count = n
                lengthFixed = true
            case let .normalise(mode, clip):
                if let clip { try inRange(clip, L.clip, i, "normalise 'clip'") }
                switch mode {
                case .scale(let mv): try inRange(mv, L.millivolts, i, "normalise 'millivolts'")
                case .zScoreLeadGroups(let groups):
                    guard (1...L.maxGroups).contains(groups.count), groups.allSatisfy({ !$0.isEmpty && $0.count <= L.maxGroups }) else {
                        throw bad(i, "'groups' must be 1…\(L.maxGroups) non-empty lists of lead names")
                    }
                    let ids = leads.map { LeadID(parsing: $0) }
                    var seen = Set<LeadID>()
                    for name in groups.joined() {
                        let id = LeadID(parsing: name)
                        guard ids.contains(id) else {
                            throw bad(i, "'groups' names lead '\(name.prefix(16))', which is not a model input lead (\(leads.joined(separator: ", ")))")
                        }
                        guard seen.insert(id).inserted else { throw bad(i, "'groups' names lead '\(name.prefix(16))' twice") }
                    }
                case .minMax, .zScore, .zScoreGroup: break
                }
            }
        }
        // The encoder needs exactly `sampleCount` samples at `samplingRate`; say so now rather than
        // on the first ECG.
        if let rate, rate != samplingRate {
            throw bad(ops.count - 1, "the last resample's 'rate' differs from input.samplingRate")
        }
        guard let count, lengthFixed else {
            throw bad(ops.count - 1, "a cropOrPad to input.sampleCount must follow the last resample (the encoder needs a fixed length)")
        }
        if count != sampleCount {
            throw bad(ops.count - 1, "the last cropOrPad's 'sampleCount' differs from input.sampleCount")
        }
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
            case let .sigmaClip(sigmas, scope):
                x = try SigmaClip(sigmas: sigmas, scope: scope).apply(x)
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
