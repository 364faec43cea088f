import Foundation
import ECGFormats
import CardiacModels
import CMRExport

/// Everything a reader may see of one case in one stage — and nothing else. It is built from the
/// stage's `shows` list; it carries no case id, file name, patient metadata or label, so a view
/// that renders only this value cannot leak them (the blinding test renders every screen to check).
public struct BlindedCase: Sendable {
    /// "Case 3 of 24": the position in this reader's randomised order.
    public var ordinal: Int
    public var total: Int
    public var stageTitle: String
    public var traces: BlindedTraces?
    /// Present only when the stage shows model scores.
    public var scores: [BlindedScore]?
    /// Which model produced the scores / Grad-CAM / generated CMR, with its disclaimer.
    public var modelCaption: String?
    public var cines: [BlindedCine]
}

/// Lead traces without any metadata or provenance.
public struct BlindedTraces: Sendable {
    public var leads: [LeadID]
    public var samplingRate: Double
    public var millivolts: [[Float]]
    /// Grad-CAM relevance 0…1 per lead and sample (same shape as `millivolts`), when the stage shows it.
    public var relevance: [[Float]]?
    public var durationSeconds: Double { samplingRate > 0 ? Double(millivolts.first?.count ?? 0) / samplingRate : 0 }
}

public struct BlindedScore: Sendable {
    public var label: String
    public var probability: Double
    public var validationAUC: Double?
    public var isWeak: Bool
}

/// A cine loop to show: grey frames 0…1, row-major.
public struct BlindedCine: Sendable {
    /// e.g. "Generated SAX" / "Real LAX".
    public var title: String
    public var width: Int
    public var height: Int
    public var frames: [[Float]]
}

/// Builds the blinded view of a case for a stage.
public protocol CasePresenter {
    func present(caseID: String, stage: StudyDefinition.Stage, ordinal: Int, total: Int) throws -> BlindedCase
}

/// The real presenter: reads the ECG with ECGFormats, runs the CardiacPipeline only for what the
/// stage shows, reads real CMR frames from PNG.
public final class StudyCasePresenter: CasePresenter {
    public let definition: StudyDefinition
    public let pipeline: CardiacPipeline?
    public let frameCount: Int

    public init(definition: StudyDefinition, pipeline: CardiacPipeline?, frameCount: Int = 25) {
        self.definition = definition; self.pipeline = pipeline; self.frameCount = frameCount
    }

    public func present(caseID: String, stage: StudyDefinition.Stage, ordinal: Int, total: Int) throws -> BlindedCase {
        guard let c = definition.caseByID(caseID) else {
            throw StudyError(.invalidDefinition, "case \(ordinal) is missing from the stored definition")
        }
        let record: ECGRecord
        do { record = try ECGFileReader.read(url: URL(fileURLWithPath: c.ecg)) } catch {
            // The operator sees the file in the error; the reader's screen only says "case N".
            throw StudyError(.missingFile, file: c.ecg, "cannot read the ECG of case \(ordinal): \(error)")
        }
        var shown = BlindedCase(ordinal: ordinal, total: total, stageTitle: stage.title, traces: nil, scores: nil,
                                modelCaption: nil, cines: [])
        let needsModel = stage.shows.contains { $0.needsModel }
        var prepared: PreparedECG? = nil
        var analysis: ECGAnalysis? = nil
        if needsModel {
            guard let pipeline, let spec = definition.model else {
                throw StudyError(.modelUnavailable, "stage '\(stage.id)' shows model output but no model bundle is loaded")
            }
            let p = try pipeline.prepare(record)
            prepared = p
            analysis = pipeline.analyse(p)
            let b = pipeline.bundle
            shown.modelCaption = "\(b.displayName) (\(b.id))" + (b.isSynthetic ? " — DEMONSTRATION MODEL, synthetic training data" : "")
            _ = spec
        }
        if stage.shows(.traces) || stage.shows(.gradCAM) {
            var traces = BlindedTraces(leads: record.leads.map(\.id), samplingRate: record.samplingRate,
                                       millivolts: record.leads.map(\.millivolts), relevance: nil)
            if stage.shows(.gradCAM), let pipeline, let prepared, let spec = definition.model {
                let map = try pipeline.gradCAM(prepared, target: spec.target)
                traces.relevance = Self.relevance(map: map, offsetSeconds: prepared.sourceOffsetSeconds, record: record)
            }
            shown.traces = traces
        }
        if stage.shows(.modelScores), let analysis {
            shown.scores = analysis.risks.map {
                BlindedScore(label: $0.label, probability: $0.probability, validationAUC: $0.validationAUC, isWeak: $0.isWeak)
            }
        }
        if stage.shows(.generatedCMR), let pipeline, let analysis {
            let seed = (definition.model?.generatorSeed ?? definition.seed)
            let cmr = try pipeline.generateCMR(embedding: analysis.embedding, seed: seed, frameCount: frameCount)
            for loop in [cmr.sax, cmr.lax] {
                shown.cines.append(BlindedCine(title: "Generated \(loop.view.rawValue.uppercased())", width: loop.width,
                                               height: loop.height, frames: loop.frames))
            }
        }
        if stage.shows(.realCMR), let dir = c.realCMR {
            shown.cines.append(contentsOf: try Self.realCines(folder: dir, ordinal: ordinal))
        }
        return shown
    }

    /// Maps a Grad-CAM map (on the model's resampled, cropped input) back onto the record's samples.
    static func relevance(map: GradCAMMap, offsetSeconds: Double, record: ECGRecord) -> [[Float]] {
        record.leads.map { lead in
            guard let li = map.leads.firstIndex(of: lead.id) else { return [Float](repeating: 0, count: lead.millivolts.count) }
            return (0..<lead.millivolts.count).map { i in
                let t = Double(i) / record.samplingRate - offsetSeconds
                return map.value(lead: li, sample: Int((t * map.samplingRate).rounded(.down)))
            }
        }
    }

    /// Real cine frames: PNGs in the folder (one loop), or in its `sax` / `lax` subfolders.
    static func realCines(folder: String, ordinal: Int) throws -> [BlindedCine] {
        let fm = FileManager.default
        func pngs(_ dir: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        }
        var loops: [(String, String)] = []
        for view in ["sax", "lax"] where !pngs(folder + "/" + view).isEmpty { loops.append(("Real \(view.uppercased())", folder + "/" + view)) }
        if loops.isEmpty, !pngs(folder).isEmpty { loops.append(("Real CMR", folder)) }
        guard !loops.isEmpty else { throw StudyError(.missingFile, file: folder, "no PNG frames for the real CMR of case \(ordinal)") }
        return try loops.map { title, dir in
            var frames: [[Float]] = []
            var w = 0, h = 0
            for name in pngs(dir) {
                let image: GreyImage
                do { image = try PNGCodec.decodeGrey(contentsOf: URL(fileURLWithPath: dir + "/" + name)) } catch {
                    throw StudyError(.missingFile, file: dir + "/" + name, "cannot read real CMR frame: \(error)")
                }
                if frames.isEmpty { w = image.width; h = image.height }
                guard image.width == w, image.height == h else {
                    throw StudyError(.invalidDefinition, file: dir + "/" + name, "frame is \(image.width)×\(image.height), others \(w)×\(h)")
                }
                frames.append(image.pixels.map { Float($0) / 255 })
            }
            return BlindedCine(title: title, width: w, height: h, frames: frames)
        }
    }
}
