// CaseAnalysis — the use-case layer: one ECG record in, everything the front ends show or write
// out (prepared input, scores, Grad-CAM, generated CMR) in one `CaseResult`.
//
//   let cases = try CaseAnalysis.load(bundleAt: CaseAnalysis.locateBundle(modelFolder)!)  // once, at the top
//   let result = try cases.run(record, options: CaseOptions(seed: 7))
//   result.analysis      // risks, subtypes, phenotypes, out-of-distribution verdict
//   result.gradCAM       // carries its own time origin in the record (recordOffsetSeconds)
//   result.cmr           // SAX + LAX cines for the seed
//
// Every front end enters here: `run` (one record) or `run(batch:)` (screening), with
// `CaseOptions.parts` saying what beyond the scores to compute — nothing for a screen line or a
// study score, all of it for an export or a report. The workstation runs the scores first and
// `complete`s a result with each image when it is asked for, then hands it to the exporter, which
// completes only what is missing: the encoder runs once per case.

import CardiacModels
import ECGFormats
import Foundation

/// What a case needs beyond the scores (risks, subtypes, phenotypes, OOD verdict), which are always computed.
public struct CaseParts: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The Grad-CAM of the chosen head (`CaseOptions.gradCAMTarget`, else the default rule).
    public static let gradCAM = CaseParts(rawValue: 1 << 0)
    /// The generated SAX and LAX cines of the seed.
    public static let cmr = CaseParts(rawValue: 1 << 1)
    /// The scores alone: a screening line, a study's model score, an embedding.
    public static let findings: CaseParts = []
    /// Everything an export or a report draws.
    public static let all: CaseParts = [.gradCAM, .cmr]
}

/// What to compute for a case beyond the scores.
public struct CaseOptions: Sendable, Equatable {
    /// Generator seed: the same seed gives the same cines.
    public var seed: UInt64
    /// Frames per cine; nil: the generator's own count (manifest `generator.frames`), else 50.
    public var frameCount: Int?
    /// "head.output" whose Grad-CAM is computed; nil: the first risk head.
    public var gradCAMTarget: String?
    /// The generated heart's anatomy: the printed point estimate (default) or a draw within the
    /// 80 % intervals (`--anatomy range`).
    public var anatomy: AnatomyMode
    /// Which of the Grad-CAM and the cines to compute; the other options speak only of the parts asked for.
    public var parts: CaseParts

    public init(seed: UInt64 = 1, frameCount: Int? = nil, gradCAMTarget: String? = nil, anatomy: AnatomyMode = .pointEstimate,
                parts: CaseParts = .all) {
        self.seed = seed; self.frameCount = frameCount; self.gradCAMTarget = gradCAMTarget; self.anatomy = anatomy
        self.parts = parts
    }
}

/// One case: the record and what the model made of it. `gradCAM` and `cmr` are nil until computed.
public struct CaseResult: Sendable {
    public var record: ECGRecord
    public var modelID: String
    /// The model's input window (leads, rate, length, normalisation of the manifest).
    public var prepared: PreparedECG
    public var analysis: ECGAnalysis
    public var gradCAM: GradCAMMap?
    public var cmr: GeneratedCMR?

    public init(record: ECGRecord, modelID: String, prepared: PreparedECG, analysis: ECGAnalysis,
                gradCAM: GradCAMMap? = nil, cmr: GeneratedCMR? = nil) {
        self.record = record; self.modelID = modelID; self.prepared = prepared; self.analysis = analysis
        self.gradCAM = gradCAM; self.cmr = cmr
    }

    /// Frames per cine of the generated CMR (nil before generation).
    public var frameCount: Int? { cmr?.sax.frames.count }
}

/// The steps `CaseAnalysis.complete` goes through.
public enum CaseStage: Sendable { case gradCAM, generating }

public enum CaseAnalysisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The record cannot be turned into the model's input (path, what the preprocessing said).
    case preparation(path: String, reason: String)
    case unknownHead(modelID: String, requested: String, available: [String])
    case noHeads(modelID: String)
    case gradCAM(target: String, reason: String)
    case generation(reason: String)

    public var description: String {
        switch self {
        case let .preparation(path, reason): return "\(path): \(reason)"
        case let .unknownHead(id, requested, available):
            return "model \(id) has no head output '\(requested)'; it has " + available.joined(separator: ", ")
        case .noHeads(let id): return "model \(id) has no heads for Grad-CAM"
        case let .gradCAM(target, reason): return "Grad-CAM \(target): \(reason)"
        case .generation(let reason): return reason
        }
    }
}

/// Runs the model for cases: the one place where prepare → analyse → Grad-CAM → generate is written.
public struct CaseAnalysis: Sendable {
    public let pipeline: CardiacPipeline
    /// The model it runs, as front ends show and record it.
    public let model: ModelIdentity

    public init(pipeline: CardiacPipeline) { self.pipeline = pipeline; model = ModelIdentity(pipeline.bundle) }

    /// One record: its scores, and of the Grad-CAM of the chosen head and the cines of the seed
    /// what `options.parts` asks for. `stage` is told before each of those steps (as in `complete`).
    public func run(_ record: ECGRecord, options: CaseOptions, stage: ((CaseStage) -> Void)? = nil) throws -> CaseResult {
        try complete(try analyse(record), options: options, stage: stage)
    }

    /// `run` for records already prepared (`prepare`, which a screener does on many threads): the
    /// encoder and heads in stacked forward passes, then what `options.parts` asks for, case by case.
    /// A case whose Grad-CAM or cines fail is a failure of its own; the others stand.
    public func run(batch: [(record: ECGRecord, prepared: PreparedECG)], options: CaseOptions) -> [Result<CaseResult, Error>] {
        analyse(batch: batch).map { analysed in Result { try complete(analysed, options: options) } }
    }

    /// Preprocessing and the encoder + heads only (`run` with `CaseParts.findings`).
    func analyse(_ record: ECGRecord) throws -> CaseResult {
        let prepared = try prepare(record)
        return CaseResult(record: record, modelID: pipeline.bundle.id, prepared: prepared, analysis: pipeline.analyse(prepared))
    }

    /// The model's input window for a record (the manifest's preprocessing).
    public func prepare(_ record: ECGRecord) throws -> PreparedECG {
        do { return try pipeline.prepare(record) } catch {
            throw CaseAnalysisError.preparation(path: record.provenance.path, reason: "\(error)")
        }
    }

    /// Encoder + heads for many prepared records in stacked forward passes (`run(batch:)`).
    func analyse(batch: [(record: ECGRecord, prepared: PreparedECG)]) -> [CaseResult] {
        zip(batch, pipeline.analyse(batch: batch.map(\.prepared))).map { item, analysis in
            CaseResult(record: item.record, modelID: pipeline.bundle.id, prepared: item.prepared, analysis: analysis)
        }
    }

    /// Adds what `options` asks for and `result` lacks (a Grad-CAM of another head, cines of another
    /// seed or length); what is already there is kept, so the encoder never runs again, and a part
    /// not in `options.parts` is left as it is. `stage` is told before each step (progress lines, stage timings).
    public func complete(_ result: CaseResult, options: CaseOptions, stage: ((CaseStage) -> Void)? = nil) throws -> CaseResult {
        var r = result
        if options.parts.contains(.gradCAM) {
            stage?(.gradCAM)
            if let target = try gradCAMTarget(options.gradCAMTarget, analysis: r.analysis) {
                if r.gradCAM?.target != target { r.gradCAM = try gradCAM(r, target: target) }
            } else {
                r.gradCAM = nil
            }
        }
        if options.parts.contains(.cmr) {
            stage?(.generating)
            let frames = frameCount(options.frameCount)
            if r.cmr == nil || r.cmr?.seed != options.seed || r.frameCount != frames || r.cmr?.anatomy != options.anatomy {
                r.cmr = try generate(r.analysis, seed: options.seed, frameCount: frames, anatomy: options.anatomy)
            }
        }
        return r
    }

    /// The Grad-CAM of `target` on the result's prepared input (not prepared again).
    func gradCAM(_ result: CaseResult, target: HeadTarget) throws -> GradCAMMap {
        do { return try pipeline.gradCAM(result.prepared, target: target) } catch {
            throw CaseAnalysisError.gradCAM(target: target.description, reason: "\(error)")
        }
    }

    func generate(_ analysis: ECGAnalysis, seed: UInt64, frameCount: Int? = nil,
                         anatomy: AnatomyMode = .pointEstimate) throws -> GeneratedCMR {
        do { return try pipeline.generateCMR(for: analysis, seed: seed, frameCount: self.frameCount(frameCount), anatomy: anatomy) } catch {
            throw CaseAnalysisError.generation(reason: "\(error)")
        }
    }

    /// Frames per cine: the request, else the generator's own count, else 50.
    public func frameCount(_ requested: Int?) -> Int {
        requested ?? pipeline.bundle.manifest.generator?.frames ?? 50
    }

    /// The head a Grad-CAM is for: "head.output" as requested (checked against the bundle), else
    /// `defaultGradCAMTarget` — nil when nothing is flagged (no highlight; `noGradCAMHint` says how to pick one).
    public func gradCAMTarget(_ requested: String?, analysis: ECGAnalysis) throws -> HeadTarget? {
        let available = pipeline.bundle.headTargets
        if let spec = requested {
            let parts = spec.split(separator: ".", maxSplits: 1).map(String.init)
            let t = HeadTarget(head: parts.first ?? "", output: parts.count > 1 ? parts[1] : "")
            guard available.contains(t) else {
                throw CaseAnalysisError.unknownHead(modelID: pipeline.bundle.id, requested: spec, available: available.map(\.description))
            }
            return t
        }
        guard !available.isEmpty else { throw CaseAnalysisError.noHeads(modelID: pipeline.bundle.id) }
        return Self.defaultGradCAMTarget(analysis)
    }

    /// The Grad-CAM shown by default: the flagged finding the model is surest of — the highest-probability
    /// risk in the high band whose head is not weak. None when nothing is flagged: a highlight over a
    /// finding that is not there (CAD at p 0.43 on a cardiomyopathy case) reads as one.
    public static func defaultGradCAMTarget(_ analysis: ECGAnalysis) -> HeadTarget? {
        analysis.risks.filter { !$0.isWeak && $0.band == .high }.max { $0.probability < $1.probability }?.target
    }

    /// Said where the default Grad-CAM is absent (report footer, ECG sheet, workstation status line).
    public static let noGradCAMHint = "no flagged finding, so no Grad-CAM by default; pick a head with --gradcam-head risk.cad (workstation: :head cad)"
}
