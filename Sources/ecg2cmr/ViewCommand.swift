import ArgumentParser
import ECGFormats
import Foundation
import Workstation

/// `ecg2cmr view [FILE|DIR]`: the interactive workstation.
struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Open ECGs in the terminal workstation (traces, risks, phenotypes, Grad-CAM, CMR cine).",
        discussion: "With no argument opens the bundled sample-data/. Keys: press ? inside. NO_COLOR disables colour. "
            + "CMR cines are drawn as kitty graphics or sixel when the terminal confirms it supports them (asked at "
            + "startup, never assumed), else in half blocks; --graphics or ECG2CMR_GRAPHICS forces a mode.")

    @Argument(help: "An ECG file or a folder of ECGs (default: sample-data/).")
    var input: String?

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var inputOptions: InputOptions

    @Flag(name: .long, help: "Run without a model (traces only).")
    var noModel = false

    @OptionGroup var exports: WorkstationExportOptions

    @Option(name: .long, help: "Print one screen as text instead of running interactively, e.g. 200x60.")
    var snapshot: String?

    @Option(name: .long, help: "With --snapshot: keys to type first, e.g. \"g<Tab>n\".")
    var keys: String = ""

    @Flag(name: .long, help: "Measure full redraws and case changes headlessly and print the timings.")
    var benchmark = false

    @Option(name: .long, help: "With --benchmark: frames per redraw scenario.")
    var frames: Int = 300

    @Option(name: .long, help: "CMR image drawing: auto (probe the terminal), kitty, sixel or blocks (default: $ECG2CMR_GRAPHICS or auto).")
    var graphics: String?

    @Flag(name: .long, help: "Print the key map as a Markdown table (the help overlay's source) and exit.")
    var keyTable = false

    /// `view` is the default subcommand, so `ecg2cmr frobnicate` arrives here with input
    /// "frobnicate": an argument that is no existing path (nor a WFDB record name) is a usage
    /// error, never a viewer opened on nothing.
    /// A snapshot is a grid of cells (≈ 40 bytes each) plus its text: 2000 × 1000 cells is about
    /// 100 MB, far beyond any terminal; 40000x40000 used to abort on allocation.
    static let snapshotWidths = 20...2000, snapshotHeights = 6...1000
    static let benchmarkFrames = 10...100_000

    func validate() throws {
        guard Self.benchmarkFrames.contains(frames) || !benchmark else {
            throw ValidationError("--frames must be \(Self.benchmarkFrames.lowerBound)…\(Self.benchmarkFrames.upperBound) (got \(frames))")
        }
        guard let input, !keyTable else { return }
        let path = (input as NSString).expandingTildeInPath
        let fm = FileManager.default
        if fm.fileExists(atPath: path) || fm.fileExists(atPath: path + ".hea") { return }
        var link = stat()
        if lstat(path, &link) == 0 { return }   // a dangling symlink: the reader names the problem
        let known = ECG2CMR.configuration.subcommands.map { $0.configuration.commandName ?? "" }.filter { !$0.isEmpty }
        if !input.contains("/") && !input.contains(".") {
            throw ValidationError("unknown subcommand '\(TerminalText.sanitize(input))' (subcommands: \(known.joined(separator: ", "))); to view a file, give its path")
        }
        throw ValidationError("no such file or folder: '\(TerminalText.sanitize(input))'")
    }

    func run() throws {
        if keyTable {
            print(WorkstationAction.keyMap.markdownTable)
            print("\n| command | does |\n| --- | --- |")
            for (command, summary) in WorkstationAction.commands { print("| `:\(command)` | \(summary) |") }
            return
        }
        guard let url = input.map({ URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }) ?? WorkstationLauncher.locateSampleData() else {
            throw ValidationError("no input given and no sample-data/ folder found from here or next to the executable")
        }
        let (cases, modelError) = noModel ? (nil, "started with --no-model") : WorkstationLauncher.loadModel(modelDirectory: modelOptions.explicitURL)
        // The viewer's panel has one line for it: the full reason a model failed to load goes to
        // stderr too (before the screen opens and again after it closes).
        let modelNote = (!noModel && cases == nil) ? modelError.map { "note: no model loaded — \(TerminalText.sanitize($0))\n" } : nil
        if let modelNote { FileHandle.standardError.write(Data(modelNote.utf8)) }
        defer { if let modelNote, snapshot == nil, !benchmark { FileHandle.standardError.write(Data(modelNote.utf8)) } }
        let environment = ProcessInfo.processInfo.environment
        let theme = Theme.fromEnvironment(environment)
        let preference: GraphicsPreference
        do { preference = try GraphicsPreference.resolve(option: graphics, environment: environment) } catch { throw ValidationError(error.description) }

        if benchmark {
            let size = GridSize(width: 200, height: 60)
            let result = WorkstationBenchmark.run(input: url, cases: cases, size: size, frames: max(10, frames),
                                                  readerOptions: inputOptions.readerOptions)
            print(WorkstationBenchmark.report(result, size: size, frames: max(10, frames), modelID: cases?.model.id))
            return
        }

        if let snapshot {
            let parts = snapshot.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, Self.snapshotWidths.contains(parts[0]), Self.snapshotHeights.contains(parts[1]) else {
                throw ValidationError("--snapshot wants WIDTHxHEIGHT, width \(Self.snapshotWidths.lowerBound)…\(Self.snapshotWidths.upperBound) and height \(Self.snapshotHeights.lowerBound)…\(Self.snapshotHeights.upperBound), e.g. 200x60")
            }
            print(WorkstationLauncher.snapshot(input: url, cases: cases, readerOptions: inputOptions.readerOptions, modelError: modelError,
                                               size: GridSize(width: parts[0], height: parts[1]),
                                               exportDirectory: exports.directory, exportDICOM: exports.exportDicom, exportPDF: exports.exportPdf,
                                               keys: WorkstationLauncher.parseKeys(keys)))
            return
        }

        let screen = try TerminalScreen(useColour: theme.isMonochrome == false, graphics: preference, environment: environment)
        defer { screen.close() }
        let app = WorkstationApp(screen: screen, theme: theme, cases: cases, modelLoadError: modelError,
                                 exportDirectory: exports.directory)
        app.exportDICOM = exports.exportDicom
        app.exportPDF = exports.exportPdf
        app.readerOptions = inputOptions.readerOptions
        app.graphicsSummary = screen.graphics.summary
        app.open(url)
        app.run()
    }
}

/// What the workstation's exports (`e`, `:export`) write and where: the command-line defaults of
/// `:export`'s own `--dicom`, `--pdf` and DIR.
struct WorkstationExportOptions: ParsableArguments {
    @Option(name: .long, help: "Folder exports are written to.")
    var exportDir: String = "exports"

    @Flag(name: .long, help: "Exports from the workstation (e, :export) also write the SAX and LAX cines as multi-frame DICOM.")
    var exportDicom = false

    @Flag(name: .long, help: "Exports from the workstation (e, :export) also write the one-page PDF report (report.pdf; with --export-dicom also dicom/report.dcm).")
    var exportPdf = false

    var directory: URL { URL(fileURLWithPath: exportDir) }
}
