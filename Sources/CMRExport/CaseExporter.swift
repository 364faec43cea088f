// CMRExport — exports generated CMR, the ECG sheet and provenance for one ECG ("a case").
//
// Entry points (the TUI's export key calls the first one):
//
//   let exporter = try CaseExporter(pipeline: pipeline, options: ExportOptions(seed: 7))
//   let result = try exporter.export(record: record, into: outputFolder) { progress in
//       // called on worker threads, serialised; progress.fraction 0…1, progress.stage, progress.message
//   }
//   result.caseDirectory   // <outputFolder>/<case name>, complete (manifest written last, folder renamed in)
//   result.skipped         // true when an identical complete export was already there
//
//   BatchExporter.export(files:exporter:into:progress:)   // many files, per-file errors, used by `ecg2cmr export`
//   CaseExporter.regenerate(manifestAt:into:)             // re-create an export from its manifest.json alone
//
// A case folder is built under a hidden staging name in the output folder (every file fsync'd),
// then renamed to its final name, so an interrupted export never leaves a partial case — or a
// half-written file — under a final name. See docs/export.md.

import CardiacModels
import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
import SignalKit

public struct ExportProgress: Sendable {
    public enum Stage: String, Sendable { case analysing, gradCAM, generating, writing, done, skipped }
    public var caseName: String
    public var stage: Stage
    public var completedFiles: Int
    public var totalFiles: Int
    /// 0…1 over the whole case.
    public var fraction: Double
    public var message: String { stage == .writing ? "writing \(completedFiles)/\(totalFiles)" : stage.rawValue }
}

public struct CaseExportResult: Sendable {
    public var caseDirectory: URL
    public var manifest: ExportManifest
    /// True when a complete export with the same input, model, options and file hashes already existed.
    public var skipped: Bool
    /// Wall seconds per stage: "model" (preprocessing, heads, Grad-CAM), "generate" (CMR generator),
    /// "files" (scaling, layouts, PNG encoding, durable writes, manifest, rename). Empty when skipped.
    public var stageSeconds: [String: Double] = [:]
}

public final class CaseExporter: @unchecked Sendable {
    public let pipeline: CardiacPipeline
    public let options: ExportOptions
    public let softwareVersion: String

    public init(pipeline: CardiacPipeline, options: ExportOptions, softwareVersion: String = CMRExportInfo.softwareVersion) throws {
        try options.validate()
        self.pipeline = pipeline
        self.options = options
        self.softwareVersion = softwareVersion
    }

    /// The model work of every export (one home: `CaseAnalysis`).
    public var caseAnalysis: CaseAnalysis { CaseAnalysis(pipeline: pipeline) }

    /// The one home of case-folder naming (CLI `export`, `screen --with-cmr`, the TUI's export):
    /// a readable stem from the file name, then `-` and 8 hex digits of the input's SHA-256 (of its
    /// path when the reader computed no hash), so `A/ecg.hea` and `B/ecg.hea` exported into one
    /// folder get two cases and never replace each other, while re-exporting the same input maps to
    /// the same folder (and is skipped when complete).
    public static func caseName(for record: ECGRecord) -> String {
        caseStem(for: record) + "-" + inputTag(for: record)
    }

    /// The readable part of `caseName`: the file stem, or the case folder for files named `ecg.*`
    /// (letters, digits, `-`, `_`, `.`; no leading dot; at most 100 characters).
    public static func caseStem(for record: ECGRecord) -> String {
        let url = URL(fileURLWithPath: record.provenance.path)
        var stem = url.deletingPathExtension().lastPathComponent
        if stem.lowercased() == "ecg" || stem.lowercased().hasPrefix("ecg-") {
            let parent = url.deletingLastPathComponent().lastPathComponent
            if !parent.isEmpty && parent != "/" && parent != "." { stem = parent }
        }
        var name = String(stem.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) ? Character($0) : "_" })
        while name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? "case" : String(name.prefix(100))
    }

    static func inputTag(for record: ECGRecord) -> String {
        let sha = record.provenance.sha256
        if sha.count >= 8 { return String(sha.prefix(8)) }
        return String(SHA256Hex.of(Data(URL(fileURLWithPath: record.provenance.path).standardizedFileURL.path.utf8)).prefix(8))
    }

    // MARK: export

    public func export(record: ECGRecord, caseName: String? = nil, into outputDirectory: URL,
                       progress: ((ExportProgress) -> Void)? = nil) throws -> CaseExportResult {
        try export(record: record, analysed: nil, caseName: caseName, into: outputDirectory, progress: progress)
    }

    /// Writes the export of a case the caller has already analysed (the workstation's export key):
    /// only what `result` lacks for these options — another Grad-CAM head, cines of another seed —
    /// is computed; the encoder does not run again. Same files as `export(record:)` of the record.
    public func export(_ result: CaseResult, caseName: String? = nil, into outputDirectory: URL,
                       progress: ((ExportProgress) -> Void)? = nil) throws -> CaseExportResult {
        try export(record: result.record, analysed: result, caseName: caseName, into: outputDirectory, progress: progress)
    }

    /// What the model work of an export asks of `CaseAnalysis`.
    public var caseOptions: CaseOptions {
        CaseOptions(seed: options.seed, frameCount: options.frameCount, gradCAMTarget: options.gradCAMTarget, anatomy: options.anatomy)
    }

    /// The case with everything an export of these options draws (analysis, Grad-CAM, cines).
    func completeCase(_ record: ECGRecord, analysed: CaseResult?, stage: ((CaseStage) -> Void)? = nil) throws -> CaseResult {
        do {
            return try caseAnalysis.complete(try analysed ?? caseAnalysis.analyse(record), options: caseOptions, stage: stage)
        } catch let e as CaseAnalysisError {
            switch e {
            case .unknownHead, .noHeads: throw CMRExportError.invalidOption(e.description)
            case .preparation, .gradCAM, .generation: throw CMRExportError.generation(e.description)
            }
        }
    }

    private func export(record: ECGRecord, analysed: CaseResult?, caseName: String?, into outputDirectory: URL,
                        progress: ((ExportProgress) -> Void)?) throws -> CaseExportResult {
        let name = caseName ?? Self.caseName(for: record)
        let fm = FileManager.default
        do { try fm.createDirectory(at: outputDirectory, withIntermediateDirectories: true) } catch {
            throw CMRExportError.io(path: outputDirectory.path, reason: "cannot create folder: \(error.localizedDescription)")
        }
        let caseDir = outputDirectory.appendingPathComponent(name, isDirectory: true)
        let report = ProgressReporter(caseName: name, sink: progress)
        if let existing = completeManifest(caseDirectory: caseDir, record: record) {
            report.send(.skipped, fraction: 1)
            return CaseExportResult(caseDirectory: caseDir, manifest: existing, skipped: true)
        }

        // Model work: analysis, Grad-CAM for the chosen head, CMR generation.
        let clock = ContinuousClock()
        var mark = clock.now
        var stageSeconds: [String: Double] = [:]
        func lap(_ stage: String) {
            let now = clock.now
            let d = now - mark
            stageSeconds[stage] = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            mark = now
        }
        report.send(.analysing, fraction: 0)
        let result = try completeCase(record, analysed: analysed) { stage in
            switch stage {
            case .gradCAM: report.send(.gradCAM, fraction: 0.05)
            case .generating: lap("model"); report.send(.generating, fraction: 0.1)
            }
        }
        lap("generate")
        guard let cam = result.gradCAM, let cmr = result.cmr else { throw CMRExportError.generation("the case has no Grad-CAM or no generated CMR") }
        let prepared = result.prepared, analysis = result.analysis, target = cam.target
        let frameCount = caseAnalysis.frameCount(options.frameCount)
        let sax = cmr.sax, lax = cmr.lax
        let phases = CardiacPhases.detect(in: sax)
        let realName = options.realDirectory.map { FileManager.default.fileExists(atPath: URL(fileURLWithPath: $0).appendingPathComponent(name).path) } == true
            ? name : Self.caseStem(for: record)
        let real = try RealSeries.load(directory: options.realDirectory, caseName: realName)

        // Files to write: each job renders and encodes independently (deterministic, parallel).
        let texts = pngText(record: record)
        var jobs: [FileJob] = []
        let selected: [Int] = options.frames == .all
            ? Array(0..<frameCount)
            : Array(Set([phases.endDiastoleFrame, phases.endSystoleFrame])).sorted()
        let size = options.size, filter = options.filter
        for loop in [sax, lax] {
            let folder = loop.label.lowercased()
            for i in selected {
                let phase = cmr.sax.phases.indices.contains(i) ? cmr.sax.phases[i] : Double(i) / Double(frameCount)
                let description = "\(loop.label) frame \(i) of \(frameCount), cardiac phase \(String(format: "%.3f", phase)), seed \(options.seed), \(filter.rawValue) \(loop.width)x\(loop.height) to \(size)x\(size)"
                jobs.append(FileJob(path: "\(folder)/" + Self.frameFileName(i), kind: "\(folder)-frame") {
                    let img = try Resampler.resample(loop.frames[i], width: loop.width, height: loop.height, toWidth: size, height: size, filter: filter)
                    return try PNGCodec.encode(img, text: texts + [PNGText("Description", description)])
                })
            }
            if options.saveFloatFrames {
                jobs.append(FileJob(path: "\(folder)/frames.npy", kind: "\(folder)-float-frames") {
                    NPYWriter.encode(loop.frames.flatMap { $0 }, shape: [loop.frames.count, loop.height, loop.width])
                })
            }
        }
        for i in selected {
            jobs.append(FileJob(path: "montage/" + Self.frameFileName(i), kind: "montage") {
                var panels: [(label: String, image: GreyImage)] = [
                    ("SAX", try Resampler.resample(sax.frames[i], width: sax.width, height: sax.height, toWidth: size, height: size, filter: filter)),
                    ("LAX", try Resampler.resample(lax.frames[i], width: lax.width, height: lax.height, toWidth: size, height: size, filter: filter)),
                ]
                for series in real.series {
                    let frame = series.frames[i * series.frames.count / max(1, frameCount)]
                    panels.append(("REAL \(series.label)", try CineLayouts.fitted(frame, size: size, filter: filter)))
                }
                let description = "montage frame \(i) of \(frameCount): " + panels.map(\.label).joined(separator: " | ")
                return try PNGCodec.encode(CineLayouts.montage(panels), text: texts + [PNGText("Description", description)])
            })
        }
        let modelID = pipeline.bundle.id
        jobs.append(FileJob(path: "contact-sheet.png", kind: "contact-sheet") { [options] in
            let title = "\(modelID) seed \(options.seed) - ED frame \(phases.endDiastoleFrame) (green), ES frame \(phases.endSystoleFrame) (red) - synthetic, not an acquired MRI"
            let sheet = try CineLayouts.contactSheet([sax, lax], phases: phases, thumbnail: options.contactSheetThumbnail,
                                                     filter: filter, title: title)
            return try PNGCodec.encode(sheet, text: texts + [PNGText("Description", "all frames; " + CardiacPhases.rule)])
        })
        jobs.append(FileJob(path: "preview.png", kind: "animated-preview") { [options] in
            let p = options.previewPanelSize
            var frames: [GreyImage] = []
            for i in 0..<frameCount {
                frames.append(CineLayouts.montage([
                    ("SAX", try Resampler.resample(sax.frames[i], width: sax.width, height: sax.height, toWidth: p, height: p, filter: filter)),
                    ("LAX", try Resampler.resample(lax.frames[i], width: lax.width, height: lax.height, toWidth: p, height: p, filter: filter)),
                ]))
            }
            // One cardiac cycle per second (60 bpm): the generator has no heart rate.
            return try PNGCodec.encodeAnimation(frames, delayMilliseconds: 1000 / frameCount,
                                                text: texts + [PNGText("Description", "animated PNG (APNG), one cycle per second, SAX | LAX")])
        })
        let camLabel = gradCAMLabel(target: target, analysis: analysis)
        // Measured once for the report's values and the DICOM cine's frame time.
        let measured: (measurements: GlobalMeasurements?, note: String?) = options.pdfPaper != nil || options.dicom
            ? GlobalMeasurer.attempt(record) : (nil, nil)
        // The report is drawn once: report.pdf and its Encapsulated PDF carry the same bytes.
        var reportPDF: RenderOnce?
        if let paper = options.pdfPaper {
            let content = reportContent(record: record, measured: measured, analysis: analysis, cam: cam, camLabel: camLabel,
                                        sax: sax, lax: lax, phases: phases)
            let once = RenderOnce { try ECGReportWriter.pdf(content, paper: paper) }
            reportPDF = once
            jobs.append(FileJob(path: Self.reportFileName, kind: "report-pdf") { try once.data() })
        }
        var dicomSeries: ExportManifest.DICOMSeries?
        if options.dicom {
            let (series, dicomJobs) = dicomJobs(record: record, heartRate: Self.cineHeartRate(measured.measurements), views: [sax, lax],
                                                 frameCount: frameCount, reportPDF: reportPDF)
            dicomSeries = series
            jobs += dicomJobs
        }
        jobs.append(FileJob(path: "ecg.png", kind: "ecg-sheet") { [options, pipeline] in
            let highlight = ECGHighlight(label: camLabel, map: cam)
            var header = ["ecg2cmr \(self.softwareVersion)  model \(modelID)\(pipeline.bundle.isSynthetic ? " (synthetic demonstration model)" : "")  Grad-CAM \(camLabel)"]
            if analysis.outOfDistribution?.isOutside == true { header.append("WARNING: " + OutOfDistributionVerdict.warning) }
            if !pipeline.bundle.disclaimer.isEmpty { header.append(pipeline.bundle.disclaimer) }
            header.append(self.phiLine(record))
            let sheet = try ECGPaperRenderer(pixelsPerMillimetre: options.ecgPixelsPerMillimetre).render(record, highlight: highlight, header: header)
            let ecgTexts = texts.filter { $0.keyword != "Disclaimer" } + [
                PNGText("Description", "12-lead ECG from the input file, 25 mm/s, 10 mm/mV; orange overlay = Grad-CAM of \(camLabel) from model \(modelID) (model output, not a diagnosis)"),
            ]
            return try PNGCodec.encode(sheet, text: ecgTexts)
        })


        // Render + write into the staging folder, holding the folder's lock (taken only now, so an
        // export that fails in the model leaves the folder untouched).
        let folderLock = try ExportFolderLock.hold(outputDirectory)
        defer { folderLock.release() }
        Staging.removeStale(caseName: name, in: outputDirectory)
        let staging = try Staging.create(caseName: name, in: outputDirectory)
        var entries: [ExportManifest.FileEntry]
        do {
            for folder in Set(jobs.compactMap { $0.path.contains("/") ? String($0.path.split(separator: "/")[0]) : nil }) {
                try fm.createDirectory(at: staging.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            entries = try runJobs(jobs, staging: staging, report: report)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        entries.sort { $0.path < $1.path }

        let manifest = makeManifest(record: record, caseName: name, prepared: prepared, analysis: analysis, target: target, cam: cam,
                                    cmr: cmr, frameCount: frameCount, phases: phases, real: real, dicom: dicomSeries, files: entries)
        do {
            try AtomicFile.writeDurably(try manifest.encoded(), to: staging.appendingPathComponent(ExportManifest.fileName))
            try Staging.commit(staging, to: caseDir)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        lap("files")
        report.send(.done, fraction: 1)
        return CaseExportResult(caseDirectory: caseDir, manifest: manifest, skipped: false, stageSeconds: stageSeconds)
    }

    /// `frame_000.png` … (three digits up to 999 frames).
    public static func frameFileName(_ index: Int) -> String { String(format: "frame_%03d.png", index) }

    // MARK: completeness

    /// The manifest of an existing export of `record` with these options and this model when every
    /// listed file is present with its recorded SHA-256; nil otherwise.
    public func completeManifest(caseDirectory: URL, record: ECGRecord) -> ExportManifest? {
        let url = caseDirectory.appendingPathComponent(ExportManifest.fileName)
        guard FileManager.default.fileExists(atPath: url.path), let m = try? ExportManifest.load(from: url) else { return nil }
        guard m.input.sha256 == record.provenance.sha256, m.model.weightsSHA256 == pipeline.bundle.weightsSHA256,
              m.model.id == pipeline.bundle.id, m.options == options, m.software.version == softwareVersion,
              !m.files.isEmpty else { return nil }
        for f in m.files {
            guard let sha = try? SHA256Hex.ofFile(caseDirectory.appendingPathComponent(f.path)), sha == f.sha256 else { return nil }
        }
        return m
    }

    // MARK: regeneration

    /// Re-creates an export from its manifest alone: loads the model from the recorded folder
    /// (or `modelDirectory`), re-reads the recorded input file, checks both SHA-256s, and exports
    /// with the recorded options into `outputDirectory`. Returns the paths whose bytes differ
    /// from the manifest (empty when the regeneration is exact).
    public static func regenerate(manifestAt url: URL, into outputDirectory: URL, modelDirectory: URL? = nil,
                                  progress: ((ExportProgress) -> Void)? = nil) throws -> (result: CaseExportResult, mismatchedFiles: [String]) {
        let manifest = try ExportManifest.load(from: url)
        let bundle: ModelBundle
        do { bundle = try ModelBundle.load(from: modelDirectory ?? URL(fileURLWithPath: manifest.model.directory)) } catch {
            throw CMRExportError.manifest(path: url.path, reason: "cannot load model \(manifest.model.id): \(error)")
        }
        guard bundle.weightsSHA256 == manifest.model.weightsSHA256 else {
            throw CMRExportError.modelChanged(expected: manifest.model.weightsSHA256, actual: bundle.weightsSHA256)
        }
        let record = try ECGFileReader.read(url: URL(fileURLWithPath: manifest.input.path))
        guard record.provenance.sha256 == manifest.input.sha256 else {
            throw CMRExportError.inputChanged(path: manifest.input.path, expectedSHA256: manifest.input.sha256, actualSHA256: record.provenance.sha256)
        }
        let pipeline = try CardiacPipeline(bundle: bundle)
        let exporter = try CaseExporter(pipeline: pipeline, options: manifest.options, softwareVersion: manifest.software.version)
        let result = try exporter.export(record: record, caseName: manifest.caseName, into: outputDirectory, progress: progress)
        let recorded = Dictionary(manifest.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a })
        let produced = Dictionary(result.manifest.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a })
        let mismatched = Set(recorded.keys).union(produced.keys).filter { recorded[$0] != produced[$0] }.sorted()
        return (result, mismatched)
    }

    // MARK: DICOM

    /// The heart rate that times the DICOM cine: the ECG's measured rate, else 60 bpm (said so).
    static func cineHeartRate(_ measurements: GlobalMeasurements?) -> (bpm: Double, source: String) {
        if let hr = measurements?.heartRateBpm, hr.isFinite, (20...300).contains(hr) {
            return (hr, "measured from the ECG")
        }
        return (60, "not measurable from the ECG; 60 bpm assumed")
    }

    /// One multi-frame DICOM per view (every frame of the cycle, whatever --frames says), in one study.
    /// UIDs are name-based (2.25 + a UUID from SHA-256 of the input, model, options and software version),
    /// so a regenerated export is byte-identical and any other export gets other UIDs.
    private func dicomJobs(record: ECGRecord, heartRate: (bpm: Double, source: String), views: [CineLoop], frameCount: Int,
                           reportPDF: RenderOnce?) -> (ExportManifest.DICOMSeries, [FileJob]) {
        let b = pipeline.bundle
        let identity = dicomIdentity(record)
        let studyUID = DICOMUID.named(identity + "|study")
        let (hr, hrSource) = heartRate
        let frameTime = 60000 / hr / Double(frameCount)
        let size = options.size, filter = options.filter
        var viewsOut: [ExportManifest.DICOMSeries.View] = []
        var jobs: [FileJob] = []
        let r = SyntheticLabel.rect(forSize: size)
        for (k, loop) in views.enumerated() {
            let path = "dicom/\(loop.label.lowercased()).dcm"
            let context = DICOMCineWriter.Context(
                view: loop.label, seriesNumber: k + 1, studyInstanceUID: studyUID,
                seriesInstanceUID: DICOMUID.named(identity + "|series|" + loop.label),
                sopInstanceUID: DICOMUID.named(identity + "|instance|" + loop.label),
                frameTimeMilliseconds: frameTime, heartRateBpm: hr, heartRateSource: hrSource,
                pixelSpacingMillimetres: CineGeometry.pixelSpacing(view: loop.label, sourceWidth: loop.width, outputWidth: size),
                modelID: b.id, modelDescription: b.displayName + (b.isSynthetic ? ", synthetic demonstration model" : ""),
                weightsSHA256: b.weightsSHA256, inputSHA256: record.provenance.sha256, seed: options.seed,
                softwareVersion: softwareVersion, includePHI: options.includePHI, metadata: record.metadata)
            viewsOut.append(.init(view: loop.label, path: path, seriesInstanceUID: context.seriesInstanceUID,
                                  sopInstanceUID: context.sopInstanceUID, frames: frameCount,
                                  pixelSpacingMillimetres: context.pixelSpacingMillimetres, labelRect: [r.x, r.y, r.width, r.height]))
            jobs.append(FileJob(path: path, kind: "\(loop.label.lowercased())-dicom") {
                var frames: [GreyImage] = []
                for i in 0..<frameCount {
                    var img = try Resampler.resample(loop.frames[i], width: loop.width, height: loop.height, toWidth: size, height: size, filter: filter)
                    SyntheticLabel.burn(into: &img)
                    frames.append(img)
                }
                return try DICOMCineWriter.encode(frames: frames, context: context)
            })
        }
        var report: ExportManifest.DICOMSeries.Document?
        if let reportPDF {
            let context = reportDICOMContext(record: record, identity: identity, studyUID: studyUID, seriesNumber: views.count + 1)
            report = .init(path: "dicom/report.dcm", sopClassUID: DICOMReportWriter.sopClassUID, seriesInstanceUID: context.seriesInstanceUID,
                           sopInstanceUID: context.sopInstanceUID, encapsulates: Self.reportFileName)
            jobs.append(FileJob(path: "dicom/report.dcm", kind: "report-dicom") {
                try DICOMReportWriter.encode(pdf: try reportPDF.data(), context: context)
            })
        }
        let series = ExportManifest.DICOMSeries(sopClassUID: DICOMCineWriter.sopClassUID, studyInstanceUID: studyUID,
                                                heartRateBpm: hr, heartRateSource: hrSource, frameTimeMilliseconds: frameTime,
                                                views: viewsOut, report: report)
        return (series, jobs)
    }

    public static let reportFileName = "report.pdf"

    /// What the name-based UIDs of one export are derived from: input, model, options, software version.
    private func dicomIdentity(_ record: ECGRecord) -> String {
        let b = pipeline.bundle
        return "ecg2cmr export|\(record.provenance.sha256)|\(b.id)|\(b.weightsSHA256)|\(String(describing: options))|\(softwareVersion)"
    }

    private func reportDICOMContext(record: ECGRecord, identity: String, studyUID: String, seriesNumber: Int) -> DICOMReportWriter.Context {
        DICOMReportWriter.Context(studyInstanceUID: studyUID, seriesInstanceUID: DICOMUID.named(identity + "|series|report"),
                                  sopInstanceUID: DICOMUID.named(identity + "|instance|report"), seriesNumber: seriesNumber,
                                  modelID: pipeline.bundle.id,
                                  softwareVersion: softwareVersion, includePHI: options.includePHI, metadata: record.metadata)
    }

    /// `ecg2cmr report --dicom`: the report PDF as an Encapsulated PDF instance of its own study
    /// (name-based UIDs from the input, model, options and software version, as for an export).
    public func reportDICOM(record: ECGRecord, pdf: Data) throws -> Data {
        let identity = dicomIdentity(record)
        return try DICOMReportWriter.encode(pdf: pdf, context: reportDICOMContext(record: record, identity: identity,
                                                                                  studyUID: DICOMUID.named(identity + "|study"), seriesNumber: 1))
    }

    // MARK: report

    /// The one-page PDF report of `record` alone (`ecg2cmr report`): runs the model (analysis, the
    /// Grad-CAM of `options.gradCAMTarget`, CMR generation with `options.seed`) and draws the page.
    public func reportPDF(record: ECGRecord, paper: PaperSize = .a4, filter: ECGDisplayFilter = .diagnostic) throws -> Data {
        let result = try completeCase(record, analysed: nil)
        guard let cam = result.gradCAM, let cmr = result.cmr else { throw CMRExportError.generation("the case has no Grad-CAM or no generated CMR") }
        let analysis = result.analysis, target = cam.target
        let sax = cmr.sax, lax = cmr.lax
        let content = reportContent(record: record, measured: GlobalMeasurer.attempt(record), analysis: analysis, cam: cam,
                                    camLabel: gradCAMLabel(target: target, analysis: analysis),
                                    sax: sax, lax: lax, phases: CardiacPhases.detect(in: sax))
        return try ECGReportWriter.pdf(content, paper: paper, filter: filter)
    }

    func reportContent(record: ECGRecord, measured: (measurements: GlobalMeasurements?, note: String?), analysis: ECGAnalysis,
                       cam: GradCAMMap, camLabel: String, sax: CineLoop, lax: CineLoop, phases: CardiacPhases) -> ECGReportContent {
        let b = pipeline.bundle
        let measurements = measured.measurements?.summary, note = measured.note
        let highlight = ECGHighlight(label: camLabel, map: cam)
        var content = ECGReportContent(record: record, analysis: analysis, highlight: highlight, sax: sax, lax: lax, phases: phases,
                                       measurements: measurements, measurementNote: note, modelID: b.id, modelDisplayName: b.displayName,
                                       modelFormatVersion: b.manifest.formatVersion, weightsSHA256: b.weightsSHA256, isSynthetic: b.isSynthetic,
                                       disclaimer: b.disclaimer, softwareVersion: softwareVersion, seed: options.seed,
                                       includePHI: options.includePHI, generatorStatement: b.manifest.generator?.informativeness?.statement)
        content.anatomy = options.anatomy
        return content
    }

    // MARK: pieces

    private func gradCAMLabel(target: HeadTarget, analysis: ECGAnalysis) -> String {
        if let r = analysis.risks.first(where: { $0.target == target }) {
            return "\(target) \(r.label) p=\(String(format: "%.2f", r.probability))\(r.isWeak ? " (weak head)" : "")"
        }
        if let s = analysis.subtypes.first(where: { $0.target == target }) {
            return "\(target) \(s.label) p=\(String(format: "%.2f", s.probability))"
        }
        if let p = analysis.phenotypes.first(where: { $0.target == target }) {
            return "\(target) \(p.label) \(String(format: "%.1f", p.value)) \(p.unit)"
        }
        return target.description
    }

    private func pngText(record: ECGRecord) -> [PNGText] {
        let b = pipeline.bundle
        var t = [
            PNGText("Disclaimer", CMRExportInfo.syntheticNotice),
            PNGText("Software", "\(CMRExportInfo.softwareName) \(softwareVersion)"),
            PNGText("Model", "\(b.id) (\(b.displayName)), weights sha256 \(b.weightsSHA256)\(b.isSynthetic ? ", synthetic demonstration model" : "")"),
            PNGText("Source", "ECG file sha256 \(record.provenance.sha256)"),
        ]
        if options.includePHI {
            let m = record.metadata
            if let id = m.patientID { t.append(PNGText("Patient ID", id)) }
            if let age = m.ageYears { t.append(PNGText("Patient age", String(format: "%.0f years", age))) }
            if let sex = m.sex { t.append(PNGText("Patient sex", sex.rawValue)) }
            if let time = m.acquisitionTime { t.append(PNGText("Acquisition time", ISO8601DateFormatter().string(from: time))) }
        }
        return t
    }

    private func phiLine(_ record: ECGRecord) -> String {
        guard options.includePHI else { return "patient identifiers withheld (export with --include-phi to show them)" }
        let m = record.metadata
        var parts: [String] = []
        parts.append("patient \(m.patientID ?? "(no ID in file)")")
        if let a = m.ageYears { parts.append(String(format: "age %.0f", a)) }
        if let s = m.sex { parts.append("sex \(s.rawValue)") }
        if let t = m.acquisitionTime { parts.append("acquired \(ISO8601DateFormatter().string(from: t))") }
        return parts.joined(separator: "  ")
    }

    private func runJobs(_ jobs: [FileJob], staging: URL, report: ProgressReporter) throws -> [ExportManifest.FileEntry] {
        let lock = NSLock()
        var entries: [ExportManifest.FileEntry] = []
        var firstError: Error?
        var done = 0
        report.send(.writing, completed: 0, total: jobs.count, fraction: 0.15)
        // Two workers: the machine's cores; each job is independent, so the output does not depend on scheduling.
        DispatchQueue.concurrentPerform(iterations: jobs.count) { index in
            lock.lock(); let failed = firstError != nil; lock.unlock()
            if failed { return }
            let job = jobs[index]
            do {
                let data = try job.render()
                try AtomicFile.writeDurably(data, to: staging.appendingPathComponent(job.path))
                let entry = ExportManifest.FileEntry(path: job.path, sha256: SHA256Hex.of(data), bytes: data.count, kind: job.kind)
                lock.lock()
                entries.append(entry); done += 1
                let d = done
                lock.unlock()
                report.send(.writing, completed: d, total: jobs.count, fraction: 0.15 + 0.85 * Double(d) / Double(jobs.count))
            } catch {
                lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
            }
        }
        if let firstError { throw firstError }
        return entries
    }

    private func makeManifest(record: ECGRecord, caseName: String, prepared: PreparedECG, analysis: ECGAnalysis, target: HeadTarget,
                              cam: GradCAMMap, cmr: GeneratedCMR, frameCount: Int, phases: CardiacPhases, real: RealSeries,
                              dicom: ExportManifest.DICOMSeries?, files: [ExportManifest.FileEntry]) -> ExportManifest {
        let b = pipeline.bundle
        let iso = ISO8601DateFormatter()
        let findings = CaseFindings(analysis)
        var patient: ExportManifest.Patient?
        if options.includePHI {
            let m = record.metadata
            patient = .init(id: m.patientID, ageYears: m.ageYears, sex: m.sex?.rawValue, acquisitionTime: m.acquisitionTime.map { iso.string(from: $0) })
        }
        return ExportManifest(
            formatVersion: 1,
            software: .init(name: CMRExportInfo.softwareName, version: softwareVersion),
            createdAt: iso.string(from: Date()),
            caseName: caseName,
            notice: CMRExportInfo.syntheticNotice + (b.isSynthetic ? "; model trained on a synthetic cohort, demonstration only" : ""),
            model: .init(id: b.id, displayName: b.displayName, directory: b.directory.standardizedFileURL.path, weightsSHA256: b.weightsSHA256,
                         synthetic: b.isSynthetic, disclaimer: b.disclaimer),
            input: .init(path: URL(fileURLWithPath: record.provenance.path).standardizedFileURL.path, sha256: record.provenance.sha256,
                         format: record.provenance.format.rawValue, leads: record.leads.map(\.id.description),
                         samplingRate: record.samplingRate, durationSeconds: record.durationSeconds,
                         modelWindowOffsetSeconds: prepared.sourceOffsetSeconds),
            patient: patient,
            options: options,
            scaling: .init(filter: options.filter, rule: Self.scalingRule(options.filter),
                           saxSourceSize: [cmr.sax.width, cmr.sax.height], laxSourceSize: [cmr.lax.width, cmr.lax.height],
                           outputSize: [options.size, options.size]),
            phases: .init(endDiastoleFrame: phases.endDiastoleFrame, endSystoleFrame: phases.endSystoleFrame, rule: CardiacPhases.rule,
                          frameCount: frameCount, framePhases: cmr.sax.phases),
            risks: findings.risks,
            subtypes: findings.subtypes,
            phenotypes: findings.phenotypes,
            gradCAM: .init(target: target.description, topSegments: cam.topSegments(count: 10).map {
                .init(lead: $0.lead.description, startSeconds: $0.startSeconds, endSeconds: $0.endSeconds, weight: Double($0.weight))
            }),
            realCMR: real.series.isEmpty ? nil : .init(directory: real.directory, files: real.files),
            outOfDistribution: analysis.outOfDistribution.map {
                .init(outside: $0.isOutside, score: $0.score, embeddingDistance: $0.embeddingDistance, inputDistance: $0.inputDistance,
                      embeddingThreshold: $0.embeddingThreshold, inputThreshold: $0.inputThreshold,
                      warning: $0.isOutside ? OutOfDistributionVerdict.warning : nil)
            },
            generatorInformativeness: b.manifest.generator?.informativeness.map {
                .init(subjects: $0.subjects, efVsTrueEF: $0.efVsTrueEF, edAreaVsTrueEDV: $0.edAreaVsTrueEDV,
                      efVsModelEF: $0.efVsModelEF, statement: $0.statement)
            },
            dicom: dicom,
            files: files)
    }

    static func scalingRule(_ filter: ResamplingFilter) -> String {
        "grey = floor(clamp(v, 0, 1) * 255 + 0.5) after separable \(filter.rawValue) resampling (rows then columns, in Double) with pixel centres aligned: source x = (i + 0.5) * src/dst - 0.5, kernel stretched by max(1, src/dst), weights normalised, edge pixels repeated"
    }
}

/// Bytes rendered at most once, shared by the jobs that need them (first caller renders, others wait).
final class RenderOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Data, Error>?
    private let make: () throws -> Data
    init(_ make: @escaping () throws -> Data) { self.make = make }
    func data() throws -> Data {
        lock.lock(); defer { lock.unlock() }
        if let result { return try result.get() }
        let r = Result { try make() }
        result = r
        return try r.get()
    }
}

/// One output file: its path in the case folder, its kind, and how to produce its bytes.
struct FileJob {
    var path: String
    var kind: String
    var render: () throws -> Data
}

/// Serialises progress callbacks from the worker threads.
final class ProgressReporter: @unchecked Sendable {
    let caseName: String
    let sink: ((ExportProgress) -> Void)?
    let lock = NSLock()
    init(caseName: String, sink: ((ExportProgress) -> Void)?) { self.caseName = caseName; self.sink = sink }
    func send(_ stage: ExportProgress.Stage, completed: Int = 0, total: Int = 0, fraction: Double) {
        guard let sink else { return }
        lock.lock(); defer { lock.unlock() }
        sink(ExportProgress(caseName: caseName, stage: stage, completedFiles: completed, totalFiles: total, fraction: fraction))
    }
}

/// Real CMR frames shown beside the generated ones: `<dir>/<case>/sax/*.png` and `<dir>/<case>/lax/*.png`
/// (or PNGs directly in `<dir>/<case>/`, taken as one series), frames in file-name order.
struct RealSeries {
    struct Series { var label: String; var frames: [GreyImage] }
    var directory: String = ""
    var series: [Series] = []
    var files: [ExportManifest.FileEntry] = []

    static func load(directory: String?, caseName: String) throws -> RealSeries {
        guard let directory else { return RealSeries() }
        let base = URL(fileURLWithPath: directory).appendingPathComponent(caseName, isDirectory: true)
        var out = RealSeries(directory: base.path)
        func pngs(in dir: URL) -> [URL] {
            ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.pathExtension.lowercased() == "png" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        var groups: [(String, [URL])] = [("SAX", pngs(in: base.appendingPathComponent("sax"))), ("LAX", pngs(in: base.appendingPathComponent("lax")))]
        if groups.allSatisfy({ $0.1.isEmpty }) { groups = [("CMR", pngs(in: base))] }
        for (label, urls) in groups where !urls.isEmpty {
            var frames: [GreyImage] = []
            for u in urls {
                frames.append(try PNGCodec.decodeGrey(contentsOf: u))
                let data = (try? Data(contentsOf: u)) ?? Data()
                out.files.append(.init(path: u.path, sha256: SHA256Hex.of(data), bytes: data.count, kind: "real-\(label.lowercased())"))
            }
            out.series.append(Series(label: label, frames: frames))
        }
        return out
    }
}

/// Case folders are assembled under `.<case>.partial-<pid>-<n>` and renamed into place.
enum Staging {
    static func create(caseName: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(".\(caseName).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))", isDirectory: true)
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false) } catch {
            throw CMRExportError.io(path: url.path, reason: "cannot create staging folder: \(error.localizedDescription)")
        }
        return url
    }

    /// Makes `staging` the case folder: fsync its folders, move any old case folder aside, rename, fsync the parent.
    static func commit(_ staging: URL, to final: URL) throws {
        let fm = FileManager.default
        for sub in (try? fm.contentsOfDirectory(at: staging, includingPropertiesForKeys: [.isDirectoryKey])) ?? [] {
            if (try? sub.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true { AtomicFile.fsyncDirectory(sub) }
        }
        AtomicFile.fsyncDirectory(staging)
        let parent = final.deletingLastPathComponent()
        var old: URL?
        if fm.fileExists(atPath: final.path) {
            let aside = parent.appendingPathComponent(".\(final.lastPathComponent).old-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            guard rename(final.path, aside.path) == 0 else { throw AtomicFile.posixError(final.path, "move old export aside") }
            old = aside
        }
        guard rename(staging.path, final.path) == 0 else { throw AtomicFile.posixError(final.path, "rename staging folder") }
        AtomicFile.fsyncDirectory(parent)
        if let old { try? fm.removeItem(at: old) }
    }

    /// Removes staging / set-aside folders of `caseName` left by processes that no longer run.
    static func removeStale(caseName: String, in dir: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return }
        for n in names where n.hasPrefix(".\(caseName).partial-") || n.hasPrefix(".\(caseName).old-") {
            // ".<case>.partial-<pid>-<n>": keep folders of a live process (another export running).
            let tail = n.dropFirst(caseName.count + 2)                       // "partial-<pid>-<n>" / "old-<pid>-<n>"
            let parts = tail.split(separator: "-")
            if parts.count >= 2, let pid = Int32(parts[1]), pid != getpid(), kill(pid, 0) == 0 { continue }
            try? fm.removeItem(at: dir.appendingPathComponent(n))
        }
    }
}

/// The exclusive lock on an export folder (`<folder>/.ecg2cmr-export.lock`, holding the PID), so two
/// processes never assemble cases in one folder at once. Re-entrant within a process: a batch holds
/// it for the whole run while each case export holds it again.
public final class ExportFolderLock: @unchecked Sendable {
    private static let registryLock = NSLock()
    private nonisolated(unsafe) static var held: [String: (lock: ExclusiveLock, count: Int)] = [:]

    public static func lockPath(for folder: URL) -> String {
        folder.standardizedFileURL.appendingPathComponent(".ecg2cmr-export.lock").path
    }

    private let key: String
    private var released = false

    private init(key: String) { self.key = key }

    /// Takes (or re-takes, in this process) the folder's lock; creates the folder if needed.
    public static func hold(_ folder: URL, purpose: String = "ecg2cmr export") throws -> ExportFolderLock {
        let key = lockPath(for: folder)
        registryLock.lock(); defer { registryLock.unlock() }
        if let entry = held[key] {
            held[key] = (entry.lock, entry.count + 1)
            return ExportFolderLock(key: key)
        }
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw CMRExportError.io(path: folder.path, reason: "cannot create folder: \(error.localizedDescription)")
        }
        let lock: ExclusiveLock
        do {
            lock = try ExclusiveLock(lockPath: key, resource: folder.path, purpose: "\(purpose) (export folder)")
        } catch let e as LockError {
            throw CMRExportError.io(path: folder.path, reason: "export folder \(e.message)")
        }
        held[key] = (lock, 1)
        return ExportFolderLock(key: key)
    }

    public func release() {
        Self.registryLock.lock(); defer { Self.registryLock.unlock() }
        guard !released, let entry = Self.held[key] else { return }
        released = true
        if entry.count <= 1 { entry.lock.release(); Self.held[key] = nil } else { Self.held[key] = (entry.lock, entry.count - 1) }
    }

    deinit { release() }
}
