import ECGFormats
import Foundation
import SignalKit

/// One ECG ready for the encoder: the manifest's preprocessing output (`SignalKit.PreprocessedSignal`:
/// leads, rate, length, lead-major values, crop offset, derived leads) plus, for beat-aware models,
/// its beats. The signal fields are read through; they have one home, the signal.
public struct PreparedECG: Sendable {
    public var signal: PreprocessedSignal
    /// R peaks, median beats and rhythm features of `values` (beat-aware models; SignalKit.BeatExtractor).
    public var beats: BeatFeatures?

    public init(signal: PreprocessedSignal, beats: BeatFeatures? = nil) {
        self.signal = signal
        self.beats = beats
    }

    /// An input made directly (tests, benchmarks): `sourceOffsetSeconds` is rounded to whole samples.
    public init(leads: [LeadID], samplingRate: Double, sampleCount: Int, values: [Float], sourceOffsetSeconds: Double = 0,
                beats: BeatFeatures? = nil) {
        self.init(signal: PreprocessedSignal(leads: leads, values: values, sampleCount: sampleCount, samplingRate: samplingRate,
                                             offsetSamples: Int((sourceOffsetSeconds * samplingRate).rounded()), derivedLeads: []),
                  beats: beats)
    }

    public var leads: [LeadID] { signal.leads }
    public var samplingRate: Double { signal.samplingRate }
    public var sampleCount: Int { signal.sampleCount }
    /// Lead-major `[leads × sampleCount]`, in the units the manifest's normalisation produces.
    public var values: [Float] { signal.values }
    /// Where sample 0 sits in the source record, in seconds (negative when padded in front).
    public var sourceOffsetSeconds: Double { signal.recordTimeSeconds(ofSample: 0) }
}

/// One output of one head group, e.g. ("risk", "cad").
public struct HeadTarget: Hashable, Sendable, Codable, CustomStringConvertible {
    public var head: String
    public var output: String
    public init(head: String, output: String) { self.head = head; self.output = output }
    public var description: String { "\(head).\(output)" }
}

public enum RiskBand: String, Sendable { case low, intermediate, high }

public struct RiskScore: Sendable {
    public var target: HeadTarget
    public var label: String
    public var probability: Double
    /// Validation AUC of this output (nil when the bundle does not report one).
    public var validationAUC: Double?
    /// Weak heads (validation AUC < `weakValidationAUC`) must be shown as such, never as confident findings.
    public var isWeak: Bool
    /// [low→intermediate, intermediate→high] probability cut-offs.
    public var bands: [Double]
    public var band: RiskBand

    /// The weak rule's cut-off, when the bundle does not say `weak` itself (docs/model-bundle.md).
    /// The one Swift home; Python's is `ecg2cmr_train.bundle.WEAK_AUC`.
    public static let weakValidationAUC = 0.65
}

public struct SubtypeScore: Sendable {
    public var target: HeadTarget
    public var label: String
    public var probability: Double
}

public struct PhenotypeValue: Sendable {
    public var target: HeadTarget
    public var label: String
    /// De-standardised value in `unit`.
    public var value: Double
    public var unit: String
    public var referenceRange: ClosedRange<Double>?
    public var validationR: Double?
    public var isOutOfRange: Bool
    /// Validation r below the bundle's bar (manifest `weak`): shown like a weak risk head.
    public var isWeak: Bool = false
    /// The 80 % interval in `unit` (heteroscedastic heads with a calibrated scale; nil otherwise):
    /// value ± interval80Scale·σ·std, σ the head's own predicted spread for this ECG — with the
    /// scale of the ECG's interval cell when the bundle has cells.
    public var interval80: ClosedRange<Double>? = nil
    /// The interval cell whose calibration `interval80` uses ("dcm", … or "none"); nil without cells.
    public var interval80Cell: String? = nil
}

/// Whether an ECG lies inside what the model was trained on: two or three distances to the
/// training distribution, each divided by its threshold (one rule on the synthetic validation
/// split, docs/MODEL_CARD.md); outside when any exceeds 1.
public struct OutOfDistributionVerdict: Codable, Sendable, Equatable {
    /// max(embedding / threshold, input / threshold, signal / threshold, each lead statistic /
    /// its limit): ≤ 1 inside, > 1 outside.
    public var score: Double
    /// Mahalanobis distance² of the pooled embedding to the training embeddings.
    public var embeddingDistance: Double
    /// Squared residual of the standardised median-beat + rhythm vector outside the training
    /// data's principal components.
    public var inputDistance: Double
    public var embeddingThreshold: Double
    public var inputThreshold: Double
    /// Mahalanobis distance² of the signal-level features of the prepared record
    /// (`OutOfDistributionSignalFeatures`); nil when the bundle has no signal block.
    public var signalDistance: Double? = nil
    public var signalThreshold: Double? = nil
    /// The one-sided lead statistics (`OutOfDistributionLeadFeatures.names` order) and their
    /// limits; nil when the bundle has none.
    public var leadStatistics: [Double]? = nil
    public var leadThresholds: [Double]? = nil
    public var isOutside: Bool { score > 1 }

    /// What every front end says when `isOutside` (one wording for screen, sheet and manifest).
    public static let warning = "this ECG is unlike the model's training data (out of distribution): its scores and generated images are not reliable"
    /// Why a flagged ECG's outputs are withheld as findings (screen `withheld`, export manifest,
    /// report and workstation).
    public static let withheldReason = "out of distribution: the ECG is unlike the model's training data, so its outputs are withheld as findings"
    /// How withheld outputs are labelled when shown on request (greyed).
    public static let unreliableLabel = "unreliable: out of distribution"
}

public struct ECGAnalysis: Sendable {
    public var modelID: String
    public var isSynthetic: Bool
    /// The aligned ECG embedding (conditions the CMR generator).
    public var embedding: [Float]
    public var risks: [RiskScore]
    public var subtypes: [SubtypeScore]
    public var phenotypes: [PhenotypeValue]
    /// Raw head outputs by group (logits / standardised values), for audits and tests; a
    /// heteroscedastic group's log σ is under "<group>.logSigma".
    public var rawHeads: [String: [Float]]
    /// nil when the bundle carries no out-of-distribution calibration (e.g. demo-v1).
    public var outOfDistribution: OutOfDistributionVerdict? = nil
    /// The interval cell whose calibration the 80 % intervals use ("dcm", … or "none"); nil when
    /// the bundle has one calibration for every ECG.
    public var intervalCell: String? = nil

    /// The disease group the intervals are calibrated on, in the reader's words ("DCM", "prior MI");
    /// nil when the ECG is in no disease cell.
    public var intervalCellLabel: String? {
        guard let c = intervalCell, c != ModelManifest.IntervalCellSpec.noCell else { return nil }
        let words = ["dcm": "DCM", "hcm": "HCM", "rcm": "RCM", "pulmonary_hypertension": "pulmonary hypertension",
                     "prior_mi": "prior MI"]
        return words[c] ?? c.replacingOccurrences(of: "_", with: " ")
    }

    /// Non-nil when the outputs must not be drawn as findings anywhere (the ECG is out of
    /// distribution): the reason every front end gives.
    public var withheldReason: String? { outOfDistribution?.isOutside == true ? OutOfDistributionVerdict.withheldReason : nil }
}

public struct GradCAMSegment: Sendable {
    public var lead: LeadID
    public var startSeconds: Double
    public var endSeconds: Double
    public var weight: Float
}

/// Grad-CAM relevance over leads × time, scaled to 0…1.
public struct GradCAMMap: Sendable {
    public var target: HeadTarget
    public var leads: [LeadID]
    public var samplingRate: Double
    public var sampleCount: Int
    /// Lead-major `[leads × sampleCount]`, 0…1.
    public var values: [Float]
    /// Width of one encoder token in samples (the map's native resolution).
    public var patchSamples: Int
    /// Beat-aware models: relevance of the rhythm (RR) token on the same 0…1 scale (it has no
    /// place on the traces).
    public var rhythmRelevance: Float? = nil
    /// Where sample 0 of the map sits in the source record, in seconds (the prepared input's
    /// `sourceOffsetSeconds`), so the map is drawn on the record without a separate offset.
    public var recordOffsetSeconds: Double = 0

    public func value(lead: Int, sample: Int) -> Float {
        guard lead >= 0, lead < leads.count, sample >= 0, sample < sampleCount else { return 0 }
        return values[lead * sampleCount + sample]
    }

    /// The map at time `t` of the record (seconds from its first sample); nil outside the map.
    public func value(lead: LeadID, atRecordSeconds t: Double) -> Float? {
        guard let li = leads.firstIndex(of: lead), samplingRate > 0 else { return nil }
        let s = Int(((t - recordOffsetSeconds) * samplingRate).rounded(.down))
        guard s >= 0, s < sampleCount, li * sampleCount + s < values.count else { return nil }
        return values[li * sampleCount + s]
    }

    /// The `count` most relevant (lead, token-window) segments, strongest first; weight = mean map
    /// value over the window. Windows with zero relevance are never returned.
    public func topSegments(count: Int) -> [GradCAMSegment] {
        let p = max(1, patchSamples)
        var segments: [GradCAMSegment] = []
        for l in 0..<leads.count {
            var start = 0
            while start < sampleCount {
                let end = min(sampleCount, start + p)
                var s: Float = 0
                for i in start..<end { s += values[l * sampleCount + i] }
                let w = s / Float(end - start)
                if w > 0 {
                    segments.append(GradCAMSegment(lead: leads[l], startSeconds: Double(start) / samplingRate,
                                                   endSeconds: Double(end) / samplingRate, weight: w))
                }
                start = end
            }
        }
        segments.sort { $0.weight > $1.weight }
        return Array(segments.prefix(max(0, count)))
    }
}

/// How often a pipeline ran each part of the model (front ends show that a case is analysed once).
public struct ModelRunCounts: Sendable, Equatable {
    /// ECGs through the encoder and heads (`analyse`, one per ECG of a batch).
    public var analyses = 0
    /// Grad-CAM forward + backward passes (one per `gradCAMs` call).
    public var gradCAMPasses = 0
    /// CMR generations (SAX + LAX cines).
    public var generations = 0
    public init(analyses: Int = 0, gradCAMPasses: Int = 0, generations: Int = 0) {
        self.analyses = analyses; self.gradCAMPasses = gradCAMPasses; self.generations = generations
    }
}

public enum CMRView: String, Sendable, Codable, CaseIterable { case sax, lax }

public struct CineLoop: Sendable {
    public var view: CMRView
    /// The view's name on sheets and in DICOM series ("SAX", "LAX").
    public var label: String { view.rawValue.uppercased() }
    public var width: Int
    public var height: Int
    /// Frames of grey values 0…1, row-major `[height × width]` each.
    public var frames: [[Float]]
    /// Cardiac phase of each frame in [0, 1) (0 = end-diastole).
    public var phases: [Double]
}

public struct GeneratedCMR: Sendable {
    public var modelID: String
    public var seed: UInt64
    public var sax: CineLoop
    public var lax: CineLoop
    /// Which anatomy the cines draw (every front end labels a `withinInterval80` picture as such).
    public var anatomy: AnatomyMode = .pointEstimate
}

/// Which anatomy a generated cine draws (`--anatomy point|range`).
public enum AnatomyMode: String, Sendable, Codable, CaseIterable {
    /// The phenotype head's point estimate — the numbers printed beside the picture.
    case pointEstimate = "point"
    /// A draw from the head's predicted distribution, kept inside every output's 80 % interval.
    case withinInterval80 = "range"

    /// The anatomy draw's random stream is seed + this ("anat"), apart from the residual noise
    /// (seed) and the pose (seed + "pose").
    static let streamOffset: UInt64 = 0x616E_6174

    /// How a picture drawn this way is labelled.
    public var caption: String {
        switch self {
        case .pointEstimate: return "anatomy = the predicted values shown"
        case .withinInterval80: return "anatomy drawn within the 80 % intervals (not the point estimate)"
        }
    }
}

public enum CardiacPipelineError: Error, CustomStringConvertible, Equatable {
    case noGenerator(modelID: String)
    case noAnatomyRange(modelID: String)
    case unknownTarget(HeadTarget, modelID: String)
    case preprocessing(String)
    case inputShape(String)

    public var description: String {
        switch self {
        case .noGenerator(let id): return "model \(id) has no CMR generator"
        case .noAnatomyRange(let id): return "model \(id) predicts no calibrated anatomy intervals, so it cannot draw within them (use --anatomy point)"
        case let .unknownTarget(t, id): return "model \(id) has no head output \(t)"
        case .preprocessing(let s): return "preprocessing failed: \(s)"
        case .inputShape(let s): return "input does not match the model: \(s)"
        }
    }
}
