import Foundation
import NeuralCore
import SignalKit

/// The out-of-distribution check of a bundle (manifest `outOfDistribution` + tensors `ood.*`,
/// calibrated by training/ecg2cmr_train/ood.py): a synthetic-data model must say when an ECG
/// is unlike anything it was trained on — a real ECG, a noisy one, a rhythm it never saw.
struct OutOfDistributionModel: Sendable {
    let spec: ModelManifest.OutOfDistributionSpec
    let embeddingMean: [Float]
    let embeddingPrecision: [Float]   // [W × W]
    let inputMean: [Float]
    let inputStd: [Float]
    let components: [Float]           // [k × D], orthonormal rows
    let width: Int
    let inputSize: Int
    let componentCount: Int
    /// The signal-level distance (nil for bundles calibrated before it existed).
    let signal: Signal?
    /// Limits of the one-sided lead statistics (nil for bundles calibrated before them).
    let leadThresholds: [Double]?
    /// The subspace of the lead-gain-v2 statistics (nil for v1 bundles).
    let heartVectorBasis: [[Double]]?

    struct Signal: Sendable {
        let mean: [Double]
        let precision: [Double]   // [F × F]
        let threshold: Double
        let preSamples: Int
        let postSamples: Int
    }

    init(spec: ModelManifest.OutOfDistributionSpec, encoder: ViTEncoder, weights: WeightSource, manifestPath: String) throws {
        guard case let .beats(b, rhythm) = encoder.layout else {
            throw ModelBundleError.invalidManifest(file: manifestPath, reason: "outOfDistribution needs a beat-aware encoder (beatvit1d)")
        }
        self.spec = spec
        width = encoder.width
        let beat = b.preSamples + b.postSamples
        let kept = (beat + spec.beatStride - 1) / spec.beatStride
        inputSize = encoder.leads * kept + rhythm
        componentCount = spec.components
        embeddingMean = try weights.tensor("ood.embedding_mean", shape: [width]).values
        embeddingPrecision = try weights.tensor("ood.embedding_precision", shape: [width, width]).values
        inputMean = try weights.tensor("ood.input_mean", shape: [inputSize]).values
        inputStd = try weights.tensor("ood.input_std", shape: [inputSize]).values
        components = componentCount > 0 ? try weights.tensor("ood.input_components", shape: [componentCount, inputSize]).values : []
        guard inputStd.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ModelBundleError.invalidManifest(file: manifestPath, reason: "ood.input_std must be positive")
        }
        if let sig = spec.signal {
            let f = encoder.leads * OutOfDistributionSignalFeatures.names.count
            guard sig.features == f else {
                throw ModelBundleError.invalidManifest(file: manifestPath, reason: "outOfDistribution.signal.features is \(sig.features); \(encoder.leads) leads give \(f)")
            }
            signal = Signal(mean: try weights.tensor("ood.signal_mean", shape: [f]).values.map(Double.init),
                            precision: try weights.tensor("ood.signal_precision", shape: [f, f]).values.map(Double.init),
                            threshold: sig.threshold, preSamples: b.preSamples, postSamples: b.postSamples)
        } else {
            signal = nil
        }
        leadThresholds = spec.lead?.thresholds
        heartVectorBasis = spec.lead?.heartVectorBasis
    }

    /// The lead statistics of the prepared record (nil when the bundle has none or the record
    /// gives no beats).
    func leadStatistics(record: [Float], leads: Int, sampleCount: Int, samplingRate: Double, beats: BeatFeatures?,
                        preSamples: Int, beatLength: Int) -> [Double]? {
        guard let leadThresholds, let beats,
              let f = OutOfDistributionLeadFeatures.compute(values: record, leads: leads, sampleCount: sampleCount,
                                                            peaks: beats.rPeakIndices, medianBeat: beats.medianBeat,
                                                            preSamples: preSamples, beatLength: beatLength,
                                                            samplingRate: samplingRate, heartVectorBasis: heartVectorBasis),
              f.count >= leadThresholds.count else { return nil }
        // A bundle of an older feature set reads the prefix it was calibrated on.
        let used = Array(f.prefix(leadThresholds.count))
        return used.allSatisfy({ $0.isFinite }) ? used : nil
    }

    /// Mahalanobis distance² of the signal features of the prepared record (nil when the bundle
    /// has no signal block or the record gives no features).
    func signalDistance(record: [Float], leads: Int, sampleCount: Int, samplingRate: Double, beats: BeatFeatures?) -> Double? {
        guard let signal, let beats,
              let f = OutOfDistributionSignalFeatures.compute(values: record, leads: leads, sampleCount: sampleCount,
                                                              peaks: beats.rPeakIndices, medianBeat: beats.medianBeat,
                                                              preSamples: signal.preSamples, postSamples: signal.postSamples,
                                                              samplingRate: samplingRate),
              f.count == signal.mean.count else { return nil }
        let n = f.count
        let c = (0..<n).map { f[$0] - signal.mean[$0] }
        var d = 0.0
        for i in 0..<n {
            var row = 0.0
            for j in 0..<n { row += signal.precision[i * n + j] * c[j] }
            d += c[i] * row
        }
        return d.isFinite ? max(d, 0) : nil
    }

    /// `pooled` = the encoder's pooled vector; `encoderInput` = median beats [L × beat] + rhythm.
    /// `signalDistance` from `signalDistance(record:…)`.
    /// `leadStatistics` from `leadStatistics(record:…)`.
    func verdict(pooled: [Float], encoderInput: [Float], leads: Int, beatSamples: Int, signalDistance: Double? = nil,
                 leadStatistics: [Double]? = nil) -> OutOfDistributionVerdict {
        var c = [Double](repeating: 0, count: width)
        for i in 0..<width { c[i] = Double(pooled[i]) - Double(embeddingMean[i]) }
        var dEmb = 0.0
        for i in 0..<width {
            var row = 0.0
            for j in 0..<width { row += Double(embeddingPrecision[i * width + j]) * c[j] }
            dEmb += c[i] * row
        }
        // Every beatStride-th median-beat sample of each lead, then the rhythm features.
        var z = [Double](repeating: 0, count: inputSize)
        var k = 0
        for l in 0..<leads {
            var s = 0
            while s < beatSamples { z[k] = Double(encoderInput[l * beatSamples + s]); k += 1; s += spec.beatStride }
        }
        for r in (leads * beatSamples)..<encoderInput.count where k < inputSize { z[k] = Double(encoderInput[r]); k += 1 }
        var total = 0.0
        for i in 0..<inputSize {
            z[i] = (z[i] - Double(inputMean[i])) / Double(inputStd[i])
            total += z[i] * z[i]
        }
        var inside = 0.0
        for m in 0..<componentCount {
            var p = 0.0
            for i in 0..<inputSize { p += Double(components[m * inputSize + i]) * z[i] }
            inside += p * p
        }
        let dIn = max(total - inside, 0)
        var score = max(dEmb / spec.embeddingThreshold, dIn / spec.inputThreshold)
        var dSig: Double?, tSig: Double?
        if let signal, let d = signalDistance {
            dSig = d
            tSig = signal.threshold
            score = max(score, d / signal.threshold)
        }
        var stats: [Double]?
        if let leadThresholds, let f = leadStatistics, f.count == leadThresholds.count {
            stats = f
            for (v, t) in zip(f, leadThresholds) { score = max(score, v / t) }
        }
        return OutOfDistributionVerdict(score: score, embeddingDistance: dEmb, inputDistance: dIn,
                                        embeddingThreshold: spec.embeddingThreshold, inputThreshold: spec.inputThreshold,
                                        signalDistance: dSig, signalThreshold: tSig,
                                        leadStatistics: stats, leadThresholds: stats == nil ? nil : leadThresholds)
    }
}
