import ArgumentParser
import CaseAnalysis
import CMRExport
import ECGFormats
import Foundation
import Imaging
import Screening

/// `ecg2cmr screen PATH…` screens (the default subcommand, also `screen run`); `ecg2cmr screen
/// merge` joins the results of sharded runs. A group, because a command with positional PATHs would
/// take "merge" for a path.
struct ScreenGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen",
        abstract: "Screen many ECG files: one result line per file, resumable, never aborting on a bad file.",
        usage: """
            ecg2cmr screen <paths> ... --out <out> [--shard <K/N>] [--jobs <jobs>] [--model <model>] [options]
            ecg2cmr screen merge <shards> ... --out <out> [--expect <paths> ...]
            """,
        discussion: "Every option of screening: `ecg2cmr screen run --help`. Many machines: docs/cluster.md.",
        subcommands: [ScreenCommand.self, ScreenMergeCommand.self],
        defaultSubcommand: ScreenCommand.self)
}

struct ScreenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Screen ECG files or folders (the default: `ecg2cmr screen PATH…`).",
        discussion: """
            Exit status: 0 every input screened; 1 finished, but some inputs failed (each has its error line); \
            2 stopped before finishing (model, results file or disk) — run it again to resume.
            """)

    @Argument(help: "ECG files or folders (searched recursively).")
    var paths: [String]

    @Option(name: .long, help: "Results file: .jsonl (one JSON object per line) or .csv. Re-running skips files already in it.")
    var out: String

    @Option(name: .long, help: ArgumentHelp("Screen only shard K of N (K = 0…N-1): a stable part of the inputs, decided by each file's path under its PATH; run every K with the same PATHs and its own --out, then `screen merge`.", valueName: "K/N"))
    var shard: String?

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
        if let shard { do { _ = try ScreeningShard(parsing: shard) } catch { throw ValidationError("\(error)") } }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be 1…64 (got \(jobs))") }
        if let window, !(window.isFinite && window >= 0) { throw ValidationError("--window must be a start time in seconds, 0 or more") }
    }

    /// Exit status 2: the run stopped before every input had its line (the distinction a Slurm
    /// array task needs: 1 means its shard is complete, with some inputs failing).
    static let stoppedExitCode: Int32 = 2

    func run() throws {
        do { try screen() } catch let exit as ExitCode { throw exit } catch {
            FileHandle.standardError.write(Data("Error: \(TerminalText.sanitize("\(error)"))\n".utf8))
            throw ExitCode(Self.stoppedExitCode)
        }
    }

    private func screen() throws {
        let shard = try self.shard.map { try ScreeningShard(parsing: $0) }
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
        let summary = screener.run(paths: paths, shard: shard, log: log) { progress.report($0) }
        progress.finish()
        if let stopped = summary.stoppedEarly {
            FileHandle.standardError.write(Data("Error: \(TerminalText.sanitize(stopped)); stopped after \(summary.screened + summary.failed + summary.notApplicable.count) of \(summary.discovered - summary.skippedAlreadyDone) inputs — run again to resume\n".utf8))
            throw ExitCode(Self.stoppedExitCode)
        }
        var lines = [(shard.map { "shard \($0): " } ?? "") + "screened \(summary.screened), not applicable \(summary.notApplicable.count), failed \(summary.failed), "
                     + "skipped (already in \(out)) \(summary.skippedAlreadyDone), "
                     + "flagged \(summary.flagged.count), \(String(format: "%.1f", summary.elapsedSeconds)) s"]
        for item in summary.notApplicable.prefix(20) { lines.append(TerminalText.sanitize("  not applicable: \(item.file): \(item.reason)")) }
        if summary.notApplicable.count > 20 { lines.append("  … \(summary.notApplicable.count - 20) more not applicable in \(out)") }
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
