import ArgumentParser
import CaseAnalysis
import CMRExport
import ECGFormats
import Foundation
import Imaging
import Screening

struct ScreenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen",
        abstract: "Screen many ECG files: one result line per file, resumable, never aborting on a bad file.")

    @Argument(help: "ECG files or folders (searched recursively).")
    var paths: [String]

    @Option(name: .long, help: "Results file: .jsonl (one JSON object per line) or .csv. Re-running skips files already in it.")
    var out: String

    @Option(name: .long, help: "Files read and preprocessed in parallel (at most this many at once).")
    var jobs: Int = 2

    @Option(name: .long, help: "Analyse the 10 s from this second of every record (default: records up to 60 s whole, longer ones on their first clean 10 s).")
    var window: Double?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("with-cmr"), help: "Also export each ECG's generated CMR (PNG sequences, manifest) into this folder.")
    var withCMR: String?

    @Option(name: .long, help: "Generator seed for --with-cmr.")
    var seed: UInt64 = 1

    @OptionGroup var inputOptions: InputOptions

    @Flag(name: .long, help: "Add each ECG's embedding (an \"embedding\" array; emb_0… columns in CSV) to its result line.")
    var embeddings = false

    @Flag(name: .long, help: "Plain progress lines even on a terminal.")
    var plain = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if let window, !(window.isFinite && window >= 0) { throw ValidationError("--window must be a start time in seconds, 0 or more") }
    }

    func run() throws {
        let cases = try modelOptions.load()
        let log = try ResultLog(path: out)
        var options = ScreeningOptions(jobs: jobs)
        options.readerOptions.csvSamplingRate = inputOptions.csvSamplingRate
        options.includeEmbeddings = embeddings
        options.windowStartSeconds = window
        let screener = BatchScreener(cases: cases, options: options)
        var folderLock: ExportFolderLock?
        defer { folderLock?.release() }
        if let withCMR {
            let exporter = try CaseExporter(cases: cases, options: ExportOptions(seed: seed))
            let folder = URL(fileURLWithPath: withCMR)
            folderLock = try ExportFolderLock.hold(folder, purpose: "ecg2cmr screen --with-cmr")
            screener.afterResult = { analysed, result in
                // Many clinics name every file ecg.xml: the name carries an input hash (one naming function for all front ends).
                let name = CaseExporter.caseName(for: analysed.record)
                do {
                    result.cmrExport = try exporter.export(analysed, caseName: name, into: folder).caseDirectory.path
                } catch {
                    result.flags = (result.flags ?? []) + ["cmr-export-failed: \(error)"]
                }
            }
        }
        let progress = ProgressReporter(interactive: !plain && isatty(STDERR_FILENO) == 1)
        if cases.model.isSynthetic {
            FileHandle.standardError.write(Data("note: model \(cases.model.id) is a \(ModelIdentity.syntheticWarning)\n".utf8))
        }
        let summary = screener.run(paths: paths, log: log) { progress.report($0) }
        progress.finish()
        var lines = ["screened \(summary.screened), failed \(summary.failed), skipped (already in \(out)) \(summary.skippedAlreadyDone), "
                     + "flagged \(summary.flagged.count), \(String(format: "%.1f", summary.elapsedSeconds)) s"]
        for failure in summary.failures.prefix(20) { lines.append(TerminalText.sanitize("  failed: \(failure.file): \(failure.reason)")) }
        if summary.failures.count > 20 { lines.append("  … \(summary.failures.count - 20) more failures in \(out)") }
        for file in summary.flagged.prefix(20) { lines.append(TerminalText.sanitize("  flagged: \(file)")) }
        if summary.flagged.count > 20 { lines.append("  … \(summary.flagged.count - 20) more flagged in \(out)") }
        print(lines.joined(separator: "\n"))
        if summary.failed > 0 { throw ExitCode(1) }
    }
}

/// Rate and ETA on the shared progress line on a terminal; plain periodic lines otherwise.
final class ProgressReporter {
    private let line: ProgressLine
    private var lastPlain = Date.distantPast

    init(interactive: Bool) { line = ProgressLine(enabled: interactive) }

    func report(_ p: ScreeningProgress) {
        let eta = p.etaSeconds.map { String(format: "%.0f s", $0) } ?? "–"
        let text = String(format: "%d/%d  %.1f ECG/s  ETA %@  failed %d", p.done, p.total, p.ratePerSecond, eta, p.failed)
        if line.enabled {
            line.draw(fraction: p.total > 0 ? Double(p.done) / Double(p.total) : 1, text, force: p.done == p.total)
        } else if p.done == p.total || Date().timeIntervalSince(lastPlain) >= 2 {
            lastPlain = Date()
            FileHandle.standardError.write(Data("progress: \(text)\n".utf8))
        }
    }

    func finish() {
        if line.enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
