import Foundation
import ECGFormats
import CaseAnalysis
import Imaging

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

/// The real presenter: reads the ECG with ECGFormats, runs the model (the study's CaseAnalysis) only
/// for what the stage shows, reads real CMR frames from PNG.
public final class StudyCasePresenter: CasePresenter {
    public let definition: StudyDefinition
    public let cases: CaseAnalysis?
    public let frameCount: Int
    /// How the case ECGs are read (`study run --sampling-rate` for CSV cases that state no rate).
    public let readerOptions: ECGFileReader.Options

    public init(definition: StudyDefinition, cases: CaseAnalysis?, frameCount: Int = 25, readerOptions: ECGFileReader.Options = .init()) {
        self.definition = definition; self.cases = cases; self.frameCount = frameCount; self.readerOptions = readerOptions
    }

    public func present(caseID: String, stage: StudyDefinition.Stage, ordinal: Int, total: Int) throws -> BlindedCase {
        guard let c = definition.caseByID(caseID) else {
            throw StudyError(.invalidDefinition, "case \(ordinal) is missing from the stored definition")
        }
        let record: ECGRecord
        do { record = try ECGFileReader.read(url: URL(fileURLWithPath: c.ecg), options: readerOptions) } catch {
            // Shown to the reader, whose terminal this is: the case number and the kind of problem,
            // never the path or the reader's message (a folder named "P06-rcm" is the diagnosis).
            // The operator finds the file with `study status` and `ecg2cmr info`.
            let kind = (error as? ECGFormatError).map { " (\($0.kind.rawValue))" } ?? ""
            throw StudyError(.missingFile, "cannot read the ECG of case \(ordinal)\(kind); ask the study operator to check case \(ordinal)'s file with 'ecg2cmr study status' and 'ecg2cmr info'")
        }
        var shown = BlindedCase(ordinal: ordinal, total: total, stageTitle: stage.title, traces: nil, scores: nil,
                                modelCaption: nil, cines: [])
        let needsModel = stage.shows.contains { $0.needsModel }
        var result: CaseResult? = nil
        if needsModel {
            guard let cases, definition.model != nil else {
                throw StudyError(.modelUnavailable, "stage '\(stage.id)' shows model output but no model bundle is loaded")
            }
            // What this stage shows beyond the scores, in one run: the Grad-CAM of the study's head, the cines of its seed.
            var parts = CaseParts.findings
            if stage.shows(.gradCAM) { parts.insert(.gradCAM) }
            if stage.shows(.generatedCMR) { parts.insert(.cmr) }
            let seed = definition.model?.generatorSeed ?? definition.seed
            result = try cases.run(record, options: CaseOptions(seed: seed, frameCount: frameCount,
                                                                gradCAMTarget: definition.model?.target.description, parts: parts))
            let b = cases.model
            shown.modelCaption = "\(b.displayName) (\(b.id))" + (b.isSynthetic ? " — DEMONSTRATION MODEL, synthetic training data" : "")
        }
        if stage.shows(.traces) || stage.shows(.gradCAM) {
            var traces = BlindedTraces(leads: record.leads.map(\.id), samplingRate: record.samplingRate,
                                       millivolts: record.leads.map(\.millivolts), relevance: nil)
            if stage.shows(.gradCAM), let map = result?.gradCAM {
                traces.relevance = Self.relevance(map: map, record: record)
            }
            shown.traces = traces
        }
        if stage.shows(.modelScores), let analysis = result?.analysis {
            shown.scores = analysis.risks.map {
                BlindedScore(label: $0.label, probability: $0.probability, validationAUC: $0.validationAUC, isWeak: $0.isWeak)
            }
        }
        if stage.shows(.generatedCMR), let cmr = result?.cmr {
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
    static func relevance(map: GradCAMMap, record: ECGRecord) -> [[Float]] {
        record.leads.map { lead in
            guard let li = map.leads.firstIndex(of: lead.id) else { return [Float](repeating: 0, count: lead.millivolts.count) }
            return (0..<lead.millivolts.count).map { i in
                let t = Double(i) / record.samplingRate - map.recordOffsetSeconds
                return map.value(lead: li, sample: Int((t * map.samplingRate).rounded(.down)))
            }
        }
    }

    /// Real cine frames from a folder: `sax.npy` / `lax.npy` (uint8 or float32 [frames, height, width],
    /// as the sample data ships them), or PNG frames in `sax/` and `lax/` subfolders, or PNG frames
    /// directly in the folder.
    static func realCines(folder: String, ordinal: Int) throws -> [BlindedCine] {
        let fm = FileManager.default
        var cines: [BlindedCine] = []
        for view in ["sax", "lax"] {
            let npy = folder + "/" + view + ".npy"
            if fm.fileExists(atPath: npy) {
                let (w, h, frames) = try NPYCine.read(path: npy)
                cines.append(BlindedCine(title: "Real \(view.uppercased())", width: w, height: h, frames: frames))
            }
        }
        if !cines.isEmpty { return cines }
        func pngs(_ dir: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        }
        var loops: [(String, String)] = []
        for view in ["sax", "lax"] where !pngs(folder + "/" + view).isEmpty { loops.append(("Real \(view.uppercased())", folder + "/" + view)) }
        if loops.isEmpty, !pngs(folder).isEmpty { loops.append(("Real CMR", folder)) }
        guard !loops.isEmpty else { throw StudyError(.missingFile, file: folder, "no sax.npy / lax.npy or PNG frames for the real CMR of case \(ordinal)") }
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

/// Minimal reader for NumPy `.npy` cines: version 1/2 header, C order, dtype |u1 or <f4, 3-D shape.
enum NPYCine {
    static func read(path: String) throws -> (width: Int, height: Int, frames: [[Float]]) {
        func bad(_ m: String) -> StudyError { StudyError(.invalidDefinition, file: path, "not a usable cine .npy: \(m)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw StudyError(.missingFile, file: path, "cannot read") }
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw bad("missing NUMPY magic") }
        let major = bytes[6]
        let headerLength: Int, start: Int
        if major == 1 { headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10 }
        else if bytes.count > 12 { headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; start = 12 }
        else { throw bad("truncated header") }
        guard start + headerLength <= bytes.count else { throw bad("truncated header") }
        let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw bad("Fortran order is not supported") }
        let isU8 = header.contains("'|u1'") || header.contains("'u1'")
        let isF32 = header.contains("'<f4'")
        guard isU8 || isF32 else { throw bad("dtype must be uint8 or little-endian float32") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else { throw bad("no shape") }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 && $0 < 100_000 }) else { throw bad("shape must be [frames, height, width]") }
        let (f, h, w) = (dims[0], dims[1], dims[2])
        let body = start + headerLength
        let need = f * h * w * (isU8 ? 1 : 4)
        guard bytes.count - body >= need else { throw bad("data is shorter than the shape says") }
        var frames: [[Float]] = []
        frames.reserveCapacity(f)
        for k in 0..<f {
            let base = body + k * h * w * (isU8 ? 1 : 4)
            if isU8 {
                frames.append((0..<h * w).map { Float(bytes[base + $0]) / 255 })
            } else {
                frames.append((0..<h * w).map { i in
                    let o = base + 4 * i
                    let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
                    return min(1, max(0, Float(bitPattern: bits)))
                })
            }
        }
        return (w, h, frames)
    }
}
