// CMRExport — exports generated CMR, the ECG sheet and provenance for one ECG ("a case").
//
// Entry points (the TUI's export key calls the first one):
//
//   let exporter = try CaseExporter(cases: cases, options: ExportOptions(seed: 7))   // cases: the command's one CaseAnalysis
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
//
// Split by job: CaseNaming.swift (case and frame names), CaseFolder.swift (staging, atomic rename,
// the folder lock), RealSeries.swift (real CMR shown beside), DICOMCineExport / DICOMReportExport
// (the DICOM writers), ECGReport.swift (the PDF report); this file decides what a case folder holds.

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
    /// The model work of every export (one home: `CaseAnalysis`), built once by the caller.
    public let caseAnalysis: CaseAnalysis
    public let options: ExportOptions
    /// How the exported files are read (`--sampling-rate` for a CSV that states no rate): used by
    /// `BatchExporter` and recorded in each manifest, so a regeneration reads the file alike.
    public let readOptions: ECGFileReader.Options
    public let softwareVersion: String
    /// The manifest's `createdAt`; nil = now. A regeneration keeps the original's, so a
    /// reproduced export is the same bytes throughout, its manifest included.
    let createdAt: String?

    public convenience init(cases: CaseAnalysis, options: ExportOptions, readOptions: ECGFileReader.Options = .init(),
                            softwareVersion: String = CMRExportInfo.softwareVersion) throws {
        try self.init(cases: cases, options: options, readOptions: readOptions, softwareVersion: softwareVersion, createdAt: nil)
    }

    init(cases: CaseAnalysis, options: ExportOptions, readOptions: ECGFileReader.Options, softwareVersion: String,
         createdAt: String?) throws {
        try options.validate()
        self.caseAnalysis = cases
        self.options = options
        self.readOptions = readOptions
        self.softwareVersion = softwareVersion
        self.createdAt = createdAt
    }

    /// The model the exports come from.
    public var model: ModelIdentity { caseAnalysis.model }

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
            if let analysed { return try caseAnalysis.complete(analysed, options: caseOptions, stage: stage) }
            return try caseAnalysis.run(record, options: caseOptions, stage: stage)
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
        if let why = PathComponent.problem(name) {
            throw CMRExportError.invalidOption("case name '\(TerminalText.sanitize(name))' \(why)")
        }
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
        guard let cmr = result.cmr else { throw CMRExportError.generation("the case has no generated CMR") }
        // No Grad-CAM when nothing is flagged and no head was asked for (CaseAnalysis.defaultGradCAMTarget).
        let cam = result.gradCAM
        let prepared = result.prepared, analysis = result.analysis
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
                    var img = try Resampler.resample(loop.frames[i], width: loop.width, height: loop.height, toWidth: size, height: size, filter: filter)
                    SyntheticLabel.burn(into: &img)
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
                    ("SAX", try Self.generatedPanel(sax, frame: i, size: size, filter: filter)),
                    ("LAX", try Self.generatedPanel(lax, frame: i, size: size, filter: filter)),
                ]
                for series in real.series {
                    let frame = series.frames[i * series.frames.count / max(1, frameCount)]
                    panels.append(("REAL \(series.label)", try CineLayouts.fitted(frame, size: size, filter: filter)))
                }
                let description = "montage frame \(i) of \(frameCount): " + panels.map(\.label).joined(separator: " | ")
                return try PNGCodec.encode(CineLayouts.montage(panels), text: texts + [PNGText("Description", description)])
            })
        }
        let modelID = model.id
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
                    ("SAX", try Self.generatedPanel(sax, frame: i, size: p, filter: filter)),
                    ("LAX", try Self.generatedPanel(lax, frame: i, size: p, filter: filter)),
                ]))
            }
            // One cardiac cycle per second (60 bpm): the generator has no heart rate.
            return try PNGCodec.encodeAnimation(frames, delayMilliseconds: 1000 / frameCount,
                                                text: texts + [PNGText("Description", "animated PNG (APNG), one cycle per second, SAX | LAX")])
        })
        let camLabel = cam.map { gradCAMLabel(target: $0.target, analysis: analysis) }
        // Measured once for the report's values and the DICOM cine's frame time.
        let measured: (measurements: GlobalMeasurements?, note: String?) = options.pdfPaper != nil || options.dicom
            ? GlobalMeasurer.attempt(record) : (nil, nil)
        // The report is drawn once: report.pdf and its Encapsulated PDF carry the same bytes.
        var reportPDF: RenderOnce?
        if let paper = options.pdfPaper {
            let content = reportContent(record: record, measured: measured, analysis: analysis, cam: cam, camLabel: camLabel ?? "",
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
        jobs.append(FileJob(path: "ecg.png", kind: "ecg-sheet") { [options, model] in
            // A withheld (out-of-distribution) case draws no Grad-CAM unless asked (--show-unreliable);
            // nothing flagged and no head asked for: no Grad-CAM, and the header says how to pick one.
            let withheld = analysis.withheldReason != nil && !options.showUnreliable
            let highlight = withheld ? nil : cam.map { ECGHighlight(label: camLabel ?? "", map: $0) }
            var header = ["ecg2cmr \(self.softwareVersion)  model \(modelID)\(model.isSynthetic ? " (\(ModelIdentity.syntheticNote))" : "")"
                          + (withheld ? "  Grad-CAM withheld" : "  Grad-CAM \(camLabel ?? "none: " + CaseAnalysis.noGradCAMHint)")]
            if let reason = analysis.withheldReason {
                header.append("WARNING: " + OutOfDistributionVerdict.warning)
                header.append("Model outputs withheld (" + reason + ")")
            }
            if !model.disclaimer.isEmpty { header.append(model.disclaimer) }
            header.append(self.phiLine(record))
            let sheet = try ECGPaperRenderer(pixelsPerMillimetre: options.ecgPixelsPerMillimetre).render(record, highlight: highlight, header: header)
            let ecgTexts = texts.filter { $0.keyword != "Disclaimer" } + [
                PNGText("Description", "12-lead ECG from the input file, 25 mm/s, 10 mm/mV; " + (camLabel.map {
                    "orange overlay = Grad-CAM of \($0) from model \(modelID) (model output, not a diagnosis)" } ?? "no Grad-CAM overlay (no flagged finding)")),
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

        let manifest = makeManifest(record: record, caseName: name, prepared: prepared, analysis: analysis, cam: cam,
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

    // MARK: completeness

    /// The manifest of an existing export of `record` with these options and this model when every
    /// listed file is present with its recorded SHA-256; nil otherwise.
    public func completeManifest(caseDirectory: URL, record: ECGRecord) -> ExportManifest? {
        let url = caseDirectory.appendingPathComponent(ExportManifest.fileName)
        guard FileManager.default.fileExists(atPath: url.path), let m = try? ExportManifest.load(from: url) else { return nil }
        guard m.input.sha256 == record.provenance.sha256, m.model.weightsSHA256 == model.weightsSHA256,
              m.model.id == model.id, m.options == options, m.software.version == softwareVersion,
              m.input.givenSamplingRate == Self.givenSamplingRate(record, readOptions),
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
        let cases: CaseAnalysis
        do { cases = try CaseAnalysis.load(bundleAt: modelDirectory ?? URL(fileURLWithPath: manifest.model.directory)) } catch {
            throw CMRExportError.manifest(path: url.path, reason: "cannot load model \(manifest.model.id): \(error)")
        }
        guard cases.model.weightsSHA256 == manifest.model.weightsSHA256 else {
            throw CMRExportError.modelChanged(expected: manifest.model.weightsSHA256, actual: cases.model.weightsSHA256)
        }
        // A window of a long record (exported from `view`) was hashed as the bytes it read; a
        // regeneration reads files whole, so it could neither check that digest nor redo the window.
        if let scope = manifest.input.sha256Scope {
            throw CMRExportError.manifest(path: url.path, reason: "the export is of a window of a long record (input sha256 of the \(scope)); regeneration reads whole records: export that window again from view")
        }
        let readOptions = ECGFileReader.Options(csvSamplingRate: manifest.input.givenSamplingRate)
        let record = try ECGFileReader.read(url: URL(fileURLWithPath: manifest.input.path), options: readOptions)
        guard record.provenance.sha256 == manifest.input.sha256 else {
            throw CMRExportError.inputChanged(path: manifest.input.path, expectedSHA256: manifest.input.sha256, actualSHA256: record.provenance.sha256)
        }
        let exporter = try CaseExporter(cases: cases, options: manifest.options, readOptions: readOptions,
                                        softwareVersion: manifest.software.version, createdAt: manifest.createdAt)
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
        let b = model
        let identity = dicomIdentity(record)
        let study = studyFiling(record, identity: identity)
        let (hr, hrSource) = heartRate
        let frameTime = 60000 / hr / Double(frameCount)
        let size = options.size, filter = options.filter
        var viewsOut: [ExportManifest.DICOMSeries.View] = []
        var jobs: [FileJob] = []
        let r = SyntheticLabel.rect(forSize: size)
        for (k, loop) in views.enumerated() {
            let path = "dicom/\(loop.label.lowercased()).dcm"
            let context = DICOMCineWriter.Context(
                view: loop.label, seriesNumber: k + 1, study: study,
                seriesInstanceUID: DICOMUID.named(identity + "|series|" + loop.label),
                sopInstanceUID: DICOMUID.named(identity + "|instance|" + loop.label),
                frameTimeMilliseconds: frameTime, heartRateBpm: hr, heartRateSource: hrSource,
                pixelSpacingMillimetres: CineGeometry.pixelSpacing(view: loop.label, sourceWidth: loop.width, outputWidth: size),
                modelID: b.id, modelDescription: b.displayName + (b.isSynthetic ? ", " + ModelIdentity.syntheticNote : ""),
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
            let context = reportDICOMContext(record: record, identity: identity, study: study, seriesNumber: views.count + 1)
            report = .init(path: "dicom/report.dcm", sopClassUID: DICOMReportWriter.sopClassUID, seriesInstanceUID: context.seriesInstanceUID,
                           sopInstanceUID: context.sopInstanceUID, encapsulates: Self.reportFileName)
            jobs.append(FileJob(path: "dicom/report.dcm", kind: "report-dicom") {
                try DICOMReportWriter.encode(pdf: try reportPDF.data(), context: context)
            })
        }
        let series = ExportManifest.DICOMSeries(sopClassUID: DICOMCineWriter.sopClassUID, studyInstanceUID: study.studyInstanceUID,
                                                heartRateBpm: hr, heartRateSource: hrSource, frameTimeMilliseconds: frameTime,
                                                views: viewsOut, report: report)
        return (series, jobs)
    }

    public static let reportFileName = "report.pdf"

    /// What the name-based UIDs of one export are derived from: input, model, options, software version.
    private func dicomIdentity(_ record: ECGRecord) -> String {
        let b = model
        return "ecg2cmr export|\(record.provenance.sha256)|\(b.id)|\(b.weightsSHA256)|\(String(describing: options))|\(softwareVersion)"
    }

    /// The study a case's DICOM series join: `--study-uid` / `--accession` when given; else, with
    /// --include-phi, a DICOM ECG's own study (UID, accession, ID, referring physician) with a
    /// reference to the ECG instance — a de-identified export must not point back at the patient's
    /// study; else a new name-based study.
    private func studyFiling(_ record: ECGRecord, identity: String) -> DICOMStudyFiling {
        var filing: DICOMStudyFiling
        if options.includePHI, let source = record.metadata.sourceStudy {
            filing = DICOMStudyFiling(source: source)
        } else {
            filing = DICOMStudyFiling(studyInstanceUID: DICOMUID.named(identity + "|study"))
        }
        if let uid = options.studyInstanceUID, uid != filing.studyInstanceUID {
            filing = DICOMStudyFiling(studyInstanceUID: uid, sourceSOPClassUID: filing.sourceSOPClassUID,
                                      sourceSOPInstanceUID: filing.sourceSOPInstanceUID)
        }
        if let accession = options.accessionNumber { filing.accessionNumber = accession }
        return filing
    }

    private func reportDICOMContext(record: ECGRecord, identity: String, study: DICOMStudyFiling, seriesNumber: Int) -> DICOMReportWriter.Context {
        DICOMReportWriter.Context(study: study, seriesInstanceUID: DICOMUID.named(identity + "|series|report"),
                                  sopInstanceUID: DICOMUID.named(identity + "|instance|report"), seriesNumber: seriesNumber,
                                  modelID: model.id,
                                  softwareVersion: softwareVersion, includePHI: options.includePHI, metadata: record.metadata)
    }

    /// `ecg2cmr report --dicom`: the report PDF as an Encapsulated PDF instance of its own study
    /// (name-based UIDs from the input, model, options and software version, as for an export).
    public func reportDICOM(record: ECGRecord, pdf: Data) throws -> Data {
        let identity = dicomIdentity(record)
        return try DICOMReportWriter.encode(pdf: pdf, context: reportDICOMContext(record: record, identity: identity,
                                                                                  study: studyFiling(record, identity: identity), seriesNumber: 1))
    }

    // MARK: report

    /// The one-page PDF report of `record` alone (`ecg2cmr report`): runs the model (analysis, the
    /// Grad-CAM of `options.gradCAMTarget`, CMR generation with `options.seed`) and draws the page.
    /// A record the model cannot read (`ModelApplicability`: e.g. a 2-lead Holter) gets an ECG-only
    /// page — traces, measurements and the reason — rather than an error.
    public func reportPDF(record: ECGRecord, paper: PaperSize = .a4, filter: DisplayFilter = .diagnostic) throws -> Data {
        if let reason = caseAnalysis.notApplicableReason(record) {
            let b = model
            let measured = GlobalMeasurer.attempt(record)
            let content = ECGReportContent(ecgOnly: record, measurements: measured.measurements?.summary, measurementNote: measured.note,
                                           notApplicable: reason, modelID: b.id, modelDisplayName: b.displayName,
                                           modelFormatVersion: b.formatVersion, weightsSHA256: b.weightsSHA256,
                                           isSynthetic: b.isSynthetic, disclaimer: b.disclaimer, softwareVersion: softwareVersion,
                                           seed: options.seed, includePHI: options.includePHI)
            return try ECGReportWriter.pdf(content, paper: paper, filter: filter)
        }
        let result = try completeCase(record, analysed: nil)
        guard let cmr = result.cmr else { throw CMRExportError.generation("the case has no generated CMR") }
        let analysis = result.analysis, cam = result.gradCAM
        let sax = cmr.sax, lax = cmr.lax
        let content = reportContent(record: record, measured: GlobalMeasurer.attempt(record), analysis: analysis, cam: cam,
                                    camLabel: cam.map { gradCAMLabel(target: $0.target, analysis: analysis) } ?? "",
                                    sax: sax, lax: lax, phases: CardiacPhases.detect(in: sax))
        return try ECGReportWriter.pdf(content, paper: paper, filter: filter)
    }

    func reportContent(record: ECGRecord, measured: (measurements: GlobalMeasurements?, note: String?), analysis: ECGAnalysis,
                       cam: GradCAMMap?, camLabel: String, sax: CineLoop, lax: CineLoop, phases: CardiacPhases) -> ECGReportContent {
        let b = model
        let measurements = measured.measurements?.summary, note = measured.note
        // A withheld (out-of-distribution) case draws no Grad-CAM: its label names a score.
        let highlight = analysis.withheldReason != nil && !options.showUnreliable ? nil : cam.map { ECGHighlight(label: camLabel, map: $0) }
        var content = ECGReportContent(record: record, analysis: analysis, highlight: highlight, sax: sax, lax: lax, phases: phases,
                                       measurements: measurements, measurementNote: note, modelID: b.id, modelDisplayName: b.displayName,
                                       modelFormatVersion: b.formatVersion, weightsSHA256: b.weightsSHA256, isSynthetic: b.isSynthetic,
                                       disclaimer: b.disclaimer, softwareVersion: softwareVersion, seed: options.seed,
                                       includePHI: options.includePHI, generatorStatement: b.generatorInformativeness?.statement)
        content.anatomy = options.anatomy
        content.showUnreliable = options.showUnreliable
        return content
    }

    // MARK: pieces

    /// One generated frame as a montage panel: resampled, "GENERATED" burned into its bottom-left
    /// corner (the panel's name sits top-left). Real series beside it are left as acquired.
    static func generatedPanel(_ loop: CineLoop, frame i: Int, size: Int, filter: ResamplingFilter) throws -> GreyImage {
        var img = try Resampler.resample(loop.frames[i], width: loop.width, height: loop.height, toWidth: size, height: size, filter: filter)
        SyntheticLabel.burn(into: &img, corner: .bottomLeft)
        return img
    }

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
        let b = model
        var t = [
            PNGText("Disclaimer", CMRExportInfo.syntheticNotice),
            PNGText("Software", "\(CMRExportInfo.softwareName) \(softwareVersion)"),
            PNGText("Model", "\(b.id) (\(b.displayName)), weights sha256 \(b.weightsSHA256)\(b.isSynthetic ? ", " + ModelIdentity.syntheticNote : "")"),
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

    private func makeManifest(record: ECGRecord, caseName: String, prepared: PreparedECG, analysis: ECGAnalysis,
                              cam: GradCAMMap?, cmr: GeneratedCMR, frameCount: Int, phases: CardiacPhases, real: RealSeries,
                              dicom: ExportManifest.DICOMSeries?, files: [ExportManifest.FileEntry]) -> ExportManifest {
        let b = model
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
            createdAt: createdAt ?? iso.string(from: Date()),
            caseName: caseName,
            notice: CMRExportInfo.syntheticNotice + (b.isSynthetic ? "; model trained on a synthetic cohort, demonstration only" : ""),
            model: .init(id: b.id, displayName: b.displayName, directory: b.directory.standardizedFileURL.path, weightsSHA256: b.weightsSHA256,
                         synthetic: b.isSynthetic, disclaimer: b.disclaimer),
            input: .init(path: URL(fileURLWithPath: record.provenance.path).standardizedFileURL.path, sha256: record.provenance.sha256,
                         format: record.provenance.format.rawValue, leads: record.leads.map(\.id.description),
                         samplingRate: record.samplingRate, durationSeconds: record.durationSeconds,
                         modelWindowOffsetSeconds: prepared.sourceOffsetSeconds,
                         givenSamplingRate: Self.givenSamplingRate(record, readOptions), sha256Scope: record.provenance.sha256Scope),
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
            gradCAM: cam.map { cam in .init(target: cam.target.description, topSegments: cam.topSegments(count: 10).map {
                .init(lead: $0.lead.description, startSeconds: $0.startSeconds, endSeconds: $0.endSeconds, weight: Double($0.weight))
            }) },
            realCMR: real.series.isEmpty ? nil : .init(directory: real.directory, files: real.files),
            outOfDistribution: analysis.outOfDistribution.map { .init($0, withheld: analysis.withheldReason) },
            generatorInformativeness: b.generatorInformativeness.map {
                .init(subjects: $0.subjects, efVsTrueEF: $0.efVsTrueEF, edAreaVsTrueEDV: $0.edAreaVsTrueEDV,
                      efVsModelEF: $0.efVsModelEF, statement: $0.statement)
            },
            dicom: dicom,
            files: files)
    }

    /// The rate a CSV record was read at when the file states none (recorded; nil for other formats,
    /// whose files state their rate, so giving `--sampling-rate` for them changes no manifest).
    static func givenSamplingRate(_ record: ECGRecord, _ readOptions: ECGFileReader.Options) -> Double? {
        record.provenance.format == .csv ? readOptions.csvSamplingRate : nil
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
