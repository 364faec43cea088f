import ArgumentParser
import CMRExport
import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
#if canImport(Glibc)
import Glibc
#endif

/// `ecg2cmr export FILE... --out DIR`: generated SAX/LAX cine PNGs, montages, contact sheet,
/// ECG sheet with Grad-CAM, animated preview and manifest.json per ECG. See docs/export.md.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export generated CMR (PNG sequences, montages, contact sheet, ECG sheet, preview, optional PDF report) with a provenance manifest.",
        discussion: """
        Exit status: 0 when every file exported (or was already complete), otherwise the number of \
        failed files (at most 100). Re-running skips cases whose manifest and file hashes match.
        """)

    @Argument(help: "ECG files (WFDB .hea, CSV, HL7 aECG, DICOM, MUSE XML, UK Biobank XML, SCP-ECG).")
    var files: [String] = []

    /// How the files are read (`--sampling-rate`), recorded in each manifest.
    @OptionGroup var inputOptions: InputOptions

    @Option(name: .long, help: "Output folder; one sub-folder per ECG.")
    var out: String

    @OptionGroup var generation: CaseGenerationOptions

    @Option(name: .long, help: "Edge length of each exported frame in pixels.")
    var size: Int = 256

    @Option(name: .long, help: "Upscaling filter: nearest, bilinear, bicubic, lanczos3.")
    var filter: ResamplingFilter = .bicubic

    @Option(name: .long, help: "all, or ed-es (only the end-diastole and end-systole frames).")
    var frames: ExportOptions.FrameSelection = .all

    @Option(name: .long, help: "Frames per cycle (default: the model's own count).")
    var frameCount: Int?

    @Flag(name: .long, help: "Put patient identifiers (ID, age, sex, time) in the images and the manifest.")
    var includePhi = false

    @Option(name: .long, help: "Folder of real CMR series (<dir>/<case>/sax/*.png, lax/*.png) to show beside the generated ones.")
    var real: String?

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var filing: DICOMFilingOptions

    @Flag(name: .long, help: "Also write the SAX and LAX cines as multi-frame DICOM Secondary Capture (dicom/sax.dcm, dicom/lax.dcm) for PACS; with --pdf also the report as Encapsulated PDF (dicom/report.dcm) in the same study.")
    var dicom = false

    @Flag(name: .long, help: "Also write the generator's float frames as sax/frames.npy and lax/frames.npy.")
    var saveFloatFrames = false

    @Flag(name: .long, help: "Also write report.pdf (the one-page printable report) in each case folder.")
    var pdf = false

    @Option(name: .long, help: "Paper of report.pdf: a4 or letter (landscape).")
    var paper: PaperSize = .a4

    @Option(name: .long, help: "Regenerate the export described by this manifest.json (into --out) instead of reading FILEs.")
    var fromManifest: String?

    func run() throws {
        let outURL = URL(fileURLWithPath: out)
        if let fromManifest {
            let (result, mismatched) = try CaseExporter.regenerate(manifestAt: URL(fileURLWithPath: fromManifest), into: outURL,
                                                                   modelDirectory: modelOptions.explicitURL)
            print("regenerated \(result.caseDirectory.path) (\(result.manifest.files.count) files)")
            if !mismatched.isEmpty {
                printError("\(mismatched.count) file(s) differ from the manifest: " + mismatched.prefix(5).joined(separator: ", "))
                throw ExitCode(1)
            }
            return
        }
        guard !files.isEmpty else { throw ValidationError("give at least one ECG file (or --from-manifest)") }
        let options = ExportOptions(seed: generation.seed, size: size, filter: filter, frames: frames, frameCount: frameCount,
                                    includePHI: includePhi, gradCAMTarget: generation.gradcamHead,
                                    realDirectory: real.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                    saveFloatFrames: saveFloatFrames, dicom: dicom, pdfPaper: pdf ? paper : nil,
                                    studyInstanceUID: filing.studyUID, accessionNumber: filing.accession,
                                    anatomy: generation.anatomy, showUnreliable: generation.showUnreliable)
        do { try options.validate() } catch { throw ValidationError("\(error)") }

        let cases = try modelOptions.load()
        let exporter = try CaseExporter(cases: cases, options: options, readOptions: inputOptions.readerOptions,
                                        softwareVersion: CMRExportInfo.softwareVersion)
        if cases.model.isSynthetic { printError("model \(cases.model.id): \(cases.model.disclaimer)") }

        // One writer per export folder: a second export (or the TUI) into it refuses, naming the holder.
        let folderLock = try ExportFolderLock.hold(outURL)
        defer { folderLock.release() }
        let tty = isatty(STDERR_FILENO) == 1
        let bar = ProgressLine(enabled: tty)
        let outcomes = BatchExporter.export(files: files.map { URL(fileURLWithPath: $0) }, exporter: exporter, into: outURL,
                                            progress: { p in
                                                let what = p.caseProgress.map { "\($0.caseName): \($0.message)" } ?? p.file.lastPathComponent
                                                bar.draw(fraction: p.fraction, "\(p.fileIndex + 1)/\(p.fileCount) \(what)")
                                            },
                                            completed: { o in
            bar.clear()
            if let error = o.error {
                printError("FAIL \(error)")
            } else if let r = o.result {
                var line = String(format: "%@ %@ (%d files, %.2f s", r.skipped ? "skip" : "ok  ", r.caseDirectory.path, r.manifest.files.count, o.seconds)
                if !r.stageSeconds.isEmpty {
                    line += ": " + ["model", "generate", "files"].compactMap { k in r.stageSeconds[k].map { String(format: "%@ %.3f s", k, $0) } }.joined(separator: ", ")
                }
                print(line + ")")
            }
        })
        bar.clear()
        let failed = outcomes.filter(\.failed).count
        print("\(outcomes.count - failed) of \(outcomes.count) exported to \(outURL.path)\(failed > 0 ? ", \(failed) failed" : "")")
        if failed > 0 { throw ExitCode(Int32(min(failed, 100))) }
    }
}

private func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
