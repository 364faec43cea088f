import ECGFormats
import Foundation
import SignalKit

/// Any JSON value (preprocessing op parameters are free-form dictionaries).
public enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Plain Foundation value (for APIs taking `[String: Any]`).
    public var foundationValue: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let n): return n
        case .string(let s): return s
        case .array(let a): return a.map { $0.foundationValue }
        case .object(let o): return o.mapValues { $0.foundationValue }
        }
    }
}

/// `manifest.json` of a model bundle (docs/model-bundle.md). Unknown keys are ignored.
public struct ModelManifest: Codable, Sendable {
    public struct WeightsFile: Codable, Sendable { public var file: String; public var sha256: String? }

    public struct InputSpec: Codable, Sendable {
        public var leads: [String]
        public var samplingRate: Double
        public var sampleCount: Int
        /// Typed ops, decoded from the manifest and validated at load (`SignalPipeline.validate`).
        public var preprocessing: [PreprocessingOp]
    }

    public struct EncoderSpec: Codable, Sendable {
        public var type: String
        public var patchSize: Int
        public var width: Int
        public var depth: Int
        public var heads: Int
        public var mlpRatio: Double
        public var layerNormEps: Double?
        public var projectionDim: Int?
        /// `attention` (default), `cls`, `mean` or `mha` (docs/model-bundle.md).
        public var pooling: String?
        /// A learned class token (`encoder.cls_token`) is prepended as token 0; `pos_embed` then has
        /// one more row, the class position first.
        public var classToken: Bool?
        /// `beatvit1d`: how the median beats are cut from the prepared input (SignalKit.BeatExtractor).
        public var beats: BeatFeatureSpec?
        /// `beatvit1d`: names of the rhythm token's features, in order (must equal
        /// `BeatFeatures.rhythmFeatureNames`: the engine computes them).
        public var rhythmFeatures: [String]?
        /// `beatvit1d`: a wide branch whose features sit beside the pooled vector at the heads.
        public var wide: WideSpec?
    }

    /// The wide branch (docs/model-bundle.md): input = every `beatStride`-th median-beat sample of
    /// every lead, then per lead the beat's maximum and minimum, then the rhythm features
    /// (`inputs` values); standardised by `wide.mean` / `wide.std`, then two GELU layers
    /// (`wide.fc1`, `wide.fc2`, `hidden` wide). The heads read concat(pooled, wide features).
    public struct WideSpec: Codable, Sendable {
        public var hidden: Int
        public var beatStride: Int
        public var inputs: Int
    }

    public struct GradCAMSpec: Codable, Sendable { public var layer: String }

    public enum HeadKind: String, Codable, Sendable { case sigmoid, softmax, regression }

    public struct HeadOutputSpec: Codable, Sendable {
        public var id: String
        public var label: String
        public var validationAUC: Double?
        public var weak: Bool?
        public var bands: [Double]?
        public var unit: String?
        public var mean: Double?
        public var std: Double?
        public var referenceRange: [Double]?
        public var validationR: Double?
        /// Heteroscedastic regression heads: the 80 % interval is value ± interval80Scale·σ·std
        /// (σ = exp of the head's log-σ output; the scale is split-conformal on validation).
        public var interval80Scale: Double?
        /// With interval cells (`UncertaintySpec.cells`): the scale of each cell, "none" included;
        /// the ECG's cell picks one, in place of `interval80Scale`.
        public var interval80Scales: [String: Double]?

        /// The 80 % interval's scale for an ECG in `cell` (nil: no cells).
        public func interval80Scale(cell: String?) -> Double? {
            if let cell, let q = interval80Scales?[cell] { return q }
            return interval80Scale
        }
    }

    /// An interval cell (docs/model-bundle.md): an ECG belongs to the first cell, in manifest order,
    /// whose probability — the product of the named outputs ("head.output" of sigmoid or softmax
    /// heads) — is above `above`; to "none" when it belongs to none. Each cell has its own
    /// split-conformal scales, so an ECG that suggests a disease gets intervals calibrated on that
    /// disease group instead of on everyone.
    public struct IntervalCellSpec: Codable, Sendable {
        public var name: String
        public var product: [String]
        public var above: Double
        public static let noCell = "none"
    }

    /// A regression head that predicts a distribution: a Gaussian whose log σ (standardised units)
    /// is the output of the linear layer `logSigma` on the same features as the head.
    public struct UncertaintySpec: Codable, Sendable {
        public var kind: String
        public var logSigma: String
        public var coverage: Double?
        public var cells: [IntervalCellSpec]?
    }

    public struct HeadSpec: Codable, Sendable {
        public var name: String
        public var kind: HeadKind
        public var outputs: [HeadOutputSpec]
        public var uncertainty: UncertaintySpec?
    }

    public struct ViewSpec: Codable, Sendable {
        public var name: String
        public var size: Int
        public var baseSize: Int
        public var channels: [Int]
    }

    public struct PriorSpec: Codable, Sendable {
        public var layers: Int
        public var hidden: Int
        public var timeEmbedding: Int
    }

    public struct DiffusionSpec: Codable, Sendable {
        public var steps: Int
        public var betaStart: Double
        public var betaEnd: Double
        public var samplingSteps: Int
    }

    /// Where the anatomy part of the decoder latent comes from (generator type `anatomy`): the raw
    /// (standardised) outputs of one regression head, in this order.
    public struct AnatomySpec: Codable, Sendable {
        public var head: String
        public var outputs: [String]
        /// Asks the decoder for larger volumes where it draws them smaller than asked (fitted by
        /// `python -m ecg2cmr_train.drawsize`); nil draws the head's values as they are.
        public var sizeCorrection: SizeCorrectionSpec?
    }

    /// The decoder is asked for each `scale` volume × factor(requested `by` volume in mL), the factor
    /// piecewise linear over `knotsMl` and constant beyond the ends, so the cine shows the volume
    /// printed beside it; all `scale` volumes get the same factor, so the asked EF is unchanged.
    public struct SizeCorrectionSpec: Codable, Sendable {
        public var by: String
        public var scale: [String]
        public var knotsMl: [Double]
        public var factors: [Double]
    }

    /// The nuisance pose a seed draws: rotation uniform in ±rotationDegrees, shift in ±shiftPixels.
    public struct PoseSpec: Codable, Sendable {
        public var rotationDegrees: Double
        public var shiftPixels: Double
    }

    /// What the generated cines were measured to carry on the validation split (shown beside them).
    public struct InformativenessSpec: Codable, Sendable {
        public var subjects: Int?
        /// r(EF measured on generated SAX frames, true EF).
        public var efVsTrueEF: Double?
        /// r(end-diastolic blood-pool area on generated SAX frames, true EDV).
        public var edAreaVsTrueEDV: Double?
        /// r(EF measured on generated SAX frames, the model's own EF head).
        public var efVsModelEF: Double?

        /// One sentence for the cine panel and the export manifest.
        public var statement: String {
            func r(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a" }
            let n = subjects.map { " (\($0) validation subjects)" } ?? ""
            return "generated EF agrees with the true EF at r = \(r(efVsTrueEF)), ED area with the true EDV at r = \(r(edAreaVsTrueEDV)), with the model's EF head at r = \(r(efVsModelEF))\(n)"
        }
    }

    public struct GeneratorSpec: Codable, Sendable {
        /// nil / "latent": v1, the prior draws the whole latent; "anatomy": v2, the anatomy head
        /// decides the anatomy and the prior draws only the residual.
        public var type: String?
        public var latentSize: Int
        public var residualSize: Int?
        public var views: [ViewSpec]
        public var prior: PriorSpec
        public var diffusion: DiffusionSpec
        public var frames: Int
        public var anatomy: AnatomySpec?
        /// Classifier-free guidance weight (1 = plain conditional sampling).
        public var guidance: Double?
        public var pose: PoseSpec?
        public var informativeness: InformativenessSpec?
    }

    /// Calibration of the out-of-distribution check (tensors `ood.*` in the weights).
    public struct OutOfDistributionSpec: Codable, Sendable {
        public var embeddingThreshold: Double
        public var inputThreshold: Double
        public var percentile: Double?
        public var validationFlagged: Double?
        public var validationSubjects: Int?
        public var calibrationSubjects: Int?
        public var beatStride: Int
        public var components: Int
        /// How the thresholds were set (text), and the validation share the rule aims at.
        public var rule: String?
        public var targetFlagged: Double?
        /// The signal-level distance (tensors `ood.signal_mean`, `ood.signal_precision`); absent
        /// in bundles calibrated before it existed, which keep the two other distances.
        public var signal: SignalSpec?
        /// One-sided lead statistics (`OutOfDistributionLeadFeatures`), each with its own limit;
        /// absent in bundles calibrated before them.
        public var lead: LeadSpec?
        /// The validation share the whole rule (distances and lead statistics) may flag.
        public var totalTargetFlagged: Double?

        public struct LeadSpec: Codable, Sendable {
            /// Must be `OutOfDistributionLeadFeatures.featureSet`.
            public var featureSet: String
            /// Must equal `OutOfDistributionLeadFeatures.names` (the order of `thresholds`).
            public var features: [String]
            public var thresholds: [Double]
            public var percentile: Double?
            /// lead-gain-v2: the simulator's heart-vector lead transform [8 × 3] (rows I, II, V1–V6).
            public var heartVectorBasis: [[Double]]?
        }

        public struct SignalSpec: Codable, Sendable {
            /// Must be `OutOfDistributionSignalFeatures.featureSet`: the features are computed here.
            public var featureSet: String
            public var features: Int
            public var threshold: Double
        }
    }

    public var formatVersion: Int
    public var id: String
    public var displayName: String?
    public var synthetic: Bool?
    public var disclaimer: String?
    public var weights: [WeightsFile]
    public var input: InputSpec
    public var encoder: EncoderSpec
    public var gradcam: GradCAMSpec?
    public var heads: [HeadSpec]
    public var generator: GeneratorSpec?
    public var outOfDistribution: OutOfDistributionSpec?
}

extension ModelManifest {
    /// Largest size any manifest dimension may declare (width, sample count, channels, …). Real
    /// bundles are far below it; the bound keeps every size product the loader forms (tokens ×
    /// width, channels × base², …) inside `Int` before the weight shapes are checked.
    public static let maxDimension = 1 << 20
    /// Layer counts become arrays of layers, and `steps` an array of doubles, at load.
    public static let maxDepth = 256
    public static let maxDiffusionSteps = 100_000
    public static let maxFrames = 1_000
    public static let maxLeads = 64
    /// A manifest is a few kB of JSON; anything far larger is refused before it is read whole.
    public static let maxManifestBytes = 4 << 20

    /// Decodes `manifest.json` bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> ModelManifest {
        guard data.count <= maxManifestBytes else {
            throw ModelBundleError.invalidManifest(file: path, reason: "larger than \(maxManifestBytes >> 20) MB (not a model manifest)")
        }
        do {
            return try JSONDecoder().decode(ModelManifest.self, from: data)
        } catch let e as SignalError {
            throw ModelBundleError.invalidManifest(file: path, reason: "input.preprocessing: \(e)")
        } catch let e as DecodingError {
            throw ModelBundleError.invalidManifest(file: path, reason: ModelBundle.describe(e))
        } catch {
            throw ModelBundleError.invalidManifest(file: path, reason: error.localizedDescription)
        }
    }

    /// Interval cells must name outputs of sigmoid / softmax heads, thresholds in (0, 1), and give
    /// every output of the head a finite scale for each cell and for "none".
    static func checkIntervalCells(_ cells: [IntervalCellSpec], of h: HeadSpec, in heads: [HeadSpec],
                                   _ bad: (String) -> Error) throws {
        var names = Set<String>()
        for c in cells {
            guard !c.name.isEmpty, c.name != ModelManifest.IntervalCellSpec.noCell, names.insert(c.name).inserted else {
                throw bad("head group '\(h.name)': interval cell '\(c.name)' is empty, 'none' or repeated")
            }
            guard c.above.isFinite, c.above > 0, c.above < 1, !c.product.isEmpty else {
                throw bad("head group '\(h.name)': interval cell '\(c.name)' needs outputs and a threshold in (0, 1)")
            }
            for ref in c.product {
                let parts = ref.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2, let g = heads.first(where: { $0.name == parts[0] }), g.kind != .regression,
                      g.outputs.contains(where: { $0.id == parts[1] }) else {
                    throw bad("head group '\(h.name)': interval cell '\(c.name)' reads '\(ref)', not an output of a sigmoid or softmax head")
                }
            }
        }
        for o in h.outputs {
            for name in names.union([ModelManifest.IntervalCellSpec.noCell]) {
                guard let q = o.interval80Scales?[name], q.isFinite, q >= 0 else {
                    throw bad("regression output '\(h.name).\(o.id)' has no finite interval80Scales['\(name)'] for its interval cells")
                }
            }
        }
    }

    /// The checks that need no weights: format version, weights file names, and every declared
    /// size and number in range, so that building the layers cannot overflow, allocate from an
    /// absurd count or convert a NaN to `Int`. Shape consistency is checked against the weights.
    public func validate(path: String) throws {
        func bad(_ reason: String) -> ModelBundleError { .invalidManifest(file: path, reason: reason) }
        func size(_ value: Int, _ key: String, min: Int = 1, max: Int = ModelManifest.maxDimension) throws {
            guard (min...max).contains(value) else { throw bad("\(key) must be in \(min)…\(max)") }
        }
        func finite(_ value: Double?, _ key: String) throws {
            if let value, !value.isFinite { throw bad("\(key) must be a finite number") }
        }
        guard formatVersion == 1 else { throw ModelBundleError.unsupportedFormatVersion(file: path, version: formatVersion) }
        // Names are printed on terminals and written into CSV headers and reports: no control or
        // bidi characters (an id of "ESC]0;…BEL" retitled the window; "ESC[2J" cleared it).
        func plain(_ text: String?, _ key: String) throws {
            guard let text, TerminalText.sanitize(text) != text else { return }
            throw bad("\(key) '\(TerminalText.sanitize(text))' contains control, line-separator or bidi characters")
        }
        try plain(id, "id")
        try plain(displayName, "displayName")
        // Each output has one column in every table: two outputs of one id would fill a column with
        // the wrong one's values, silently.
        var seenOutputs = Set<String>(), seenHeads = Set<String>()
        for h in heads {
            try plain(h.name, "heads name")
            guard seenHeads.insert(h.name).inserted else { throw bad("two heads are named '\(h.name)'") }
            for o in h.outputs {
                try plain(o.id, "heads '\(h.name)' output id")
                try plain(o.label, "heads '\(h.name)' output '\(o.id)' label")
                try plain(o.unit, "heads '\(h.name)' output '\(o.id)' unit")
                guard seenOutputs.insert(o.id).inserted else { throw bad("two outputs have the id '\(o.id)' (output ids must be unique across heads)") }
            }
        }
        for h in heads {
            guard let cells = h.uncertainty?.cells else { continue }
            for c in cells { try plain(c.name, "heads '\(h.name)' interval cell") }
            try Self.checkIntervalCells(cells, of: h, in: heads, bad)
        }
        guard !weights.isEmpty else { throw bad("\"weights\" lists no files") }
        for (i, w) in weights.enumerated() {
            // A bundle is one directory: a name with a path in it could point at /dev/zero or a FIFO.
            guard !w.file.isEmpty, w.file != ".", w.file != "..", !w.file.contains("/"), !w.file.contains("\0") else {
                throw bad("weights[\(i)].file '\(w.file)' must be a file name inside the bundle directory")
            }
        }
        try size(input.leads.count, "input.leads count", max: Self.maxLeads)
        guard input.samplingRate.isFinite, input.samplingRate > 0, input.samplingRate <= 100_000 else {
            throw bad("input.samplingRate must be in (0, 100000] Hz")
        }
        try size(input.sampleCount, "input.sampleCount")
        do {
            try SignalPipeline(ops: input.preprocessing).validate(leads: input.leads, samplingRate: input.samplingRate,
                                                                  sampleCount: input.sampleCount)
        } catch let e as SignalError {
            throw bad("input.preprocessing: \(e)")
        }
        try size(encoder.patchSize, "encoder.patchSize")
        try size(encoder.width, "encoder.width")
        try size(encoder.depth, "encoder.depth", max: Self.maxDepth)
        try size(encoder.heads, "encoder.heads")
        let hidden = Double(encoder.width) * encoder.mlpRatio
        guard encoder.mlpRatio.isFinite, hidden.rounded() >= 1, hidden.rounded() <= Double(Self.maxDimension) else {
            throw bad("encoder.mlpRatio gives an MLP width outside 1…\(Self.maxDimension)")
        }
        if let eps = encoder.layerNormEps, !(eps.isFinite && eps > 0) { throw bad("encoder.layerNormEps must be a positive number") }
        if let d = encoder.projectionDim { try size(d, "encoder.projectionDim", min: 0) }
        for h in heads {
            try size(h.outputs.count, "heads '\(h.name)' output count", min: 0)
            for o in h.outputs {
                let key = "heads '\(h.name)' output '\(o.id)'"
                try finite(o.mean, "\(key) mean")
                try finite(o.std, "\(key) std")
                try finite(o.validationAUC, "\(key) validationAUC")
                try finite(o.validationR, "\(key) validationR")
                for v in (o.bands ?? []) + (o.referenceRange ?? []) { try finite(v, "\(key) bands/referenceRange") }
            }
        }
        if encoder.type == "beatvit1d" {
            guard let b = encoder.beats, let names = encoder.rhythmFeatures else {
                throw bad("encoder type 'beatvit1d' needs encoder.beats and encoder.rhythmFeatures")
            }
            try size(b.preSamples, "encoder.beats.preSamples", min: 0, max: 100_000)
            try size(b.postSamples, "encoder.beats.postSamples", max: 100_000)
            guard !b.detectionLeads.isEmpty, b.detectionLeads.count <= Self.maxLeads else {
                throw bad("encoder.beats.detectionLeads must name 1…\(Self.maxLeads) leads")
            }
            guard names == BeatFeatures.rhythmFeatureNames else {
                throw bad("encoder.rhythmFeatures \(names) are not the ones this engine computes (\(BeatFeatures.rhythmFeatureNames))")
            }
        }
        if let o = outOfDistribution {
            guard o.embeddingThreshold.isFinite, o.embeddingThreshold > 0, o.inputThreshold.isFinite, o.inputThreshold > 0 else {
                throw bad("outOfDistribution thresholds must be positive numbers")
            }
            try size(o.beatStride, "outOfDistribution.beatStride", max: 10_000)
            try size(o.components, "outOfDistribution.components", min: 0)
            if let lead = o.lead {
                guard let names = OutOfDistributionLeadFeatures.featureSets[lead.featureSet] else {
                    throw bad("outOfDistribution.lead.featureSet \"\(lead.featureSet)\" is not one this engine computes (\(OutOfDistributionLeadFeatures.featureSets.keys.sorted().joined(separator: ", ")))")
                }
                guard lead.features == names else {
                    throw bad("outOfDistribution.lead.features must be \(names) for \(lead.featureSet)")
                }
                if !OutOfDistributionLeadFeatures.subspaceStatistics.isDisjoint(with: names) {
                    guard let basis = lead.heartVectorBasis, OutOfDistributionLeadFeatures.subspaceComplement(basis) != nil else {
                        throw bad("outOfDistribution.lead.heartVectorBasis must be 8 rows (I, II, V1–V6) of 3 independent finite columns for \(lead.featureSet)")
                    }
                }
                guard lead.thresholds.count == lead.features.count, lead.thresholds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                    throw bad("outOfDistribution.lead.thresholds must be \(lead.features.count) positive numbers")
                }
            }
            if let sig = o.signal {
                guard sig.threshold.isFinite, sig.threshold > 0 else { throw bad("outOfDistribution.signal.threshold must be a positive number") }
                guard sig.featureSet == OutOfDistributionSignalFeatures.featureSet else {
                    throw bad("outOfDistribution.signal.featureSet \"\(sig.featureSet)\" is not one this engine computes (\(OutOfDistributionSignalFeatures.featureSet))")
                }
                try size(sig.features, "outOfDistribution.signal.features")
            }
        }
        guard let g = generator else { return }
        try size(g.latentSize, "generator.latentSize")
        try size(g.frames, "generator.frames", max: Self.maxFrames)
        for v in g.views {
            try size(v.size, "generator view '\(v.name)' size")
            try size(v.baseSize, "generator view '\(v.name)' baseSize")
            try size(v.channels.count, "generator view '\(v.name)' channel count", max: 16)
            for c in v.channels { try size(c, "generator view '\(v.name)' channels") }
        }
        try size(g.prior.layers, "generator.prior.layers", max: Self.maxDepth)
        try size(g.prior.hidden, "generator.prior.hidden")
        try size(g.prior.timeEmbedding, "generator.prior.timeEmbedding")
        try size(g.diffusion.steps, "generator.diffusion.steps", max: Self.maxDiffusionSteps)
        try size(g.diffusion.samplingSteps, "generator.diffusion.samplingSteps", max: Self.maxDiffusionSteps)
        try finite(g.diffusion.betaStart, "generator.diffusion.betaStart")
        try finite(g.diffusion.betaEnd, "generator.diffusion.betaEnd")
        try finite(g.guidance, "generator.guidance")
        if let r = g.residualSize { try size(r, "generator.residualSize") }
        if let p = g.pose {
            guard p.rotationDegrees.isFinite, (0...180).contains(p.rotationDegrees), p.shiftPixels.isFinite,
                  (0...1000).contains(p.shiftPixels) else {
                throw bad("generator.pose: rotationDegrees must be in 0…180 and shiftPixels in 0…1000")
            }
        }
        if g.type == "anatomy" {
            guard let a = g.anatomy, let r = g.residualSize, g.pose != nil else {
                throw bad("generator type 'anatomy' needs anatomy, residualSize and pose")
            }
            guard a.outputs.count + r == g.latentSize else {
                throw bad("generator: \(a.outputs.count) anatomy outputs + residualSize \(r) ≠ latentSize \(g.latentSize)")
            }
        } else if let t = g.type, t != "latent" {
            throw bad("generator.type '\(t)' is not supported (latent, anatomy)")
        }
    }
}
