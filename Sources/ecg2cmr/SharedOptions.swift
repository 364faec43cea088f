import ArgumentParser
import CMRExport
import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
import SignalKit

/// `--model DIR` for every command that runs the model: one help text, one default, one check.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model bundle folder (default: a study's own bundle, else $ECG2CMR_MODEL, else assets/models/demo-v2).")
    var model: String?

    func validate() throws {
        guard let model else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--model \(model): no such model bundle folder")
        }
    }

    /// The folder given with --model (nil: the default applies).
    var explicitURL: URL? { model.map { URL(fileURLWithPath: $0) } }

    /// --model, else $ECG2CMR_MODEL, else the bundled demo model (`CaseAnalysis.locateBundle`).
    func bundleURL() throws -> URL {
        guard let url = CaseAnalysis.locateBundle(explicitURL) else {
            throw ValidationError("no model bundle found: pass --model DIR or set ECG2CMR_MODEL")
        }
        return url
    }

    /// The command's one CaseAnalysis, handed to its front end.
    func load() throws -> CaseAnalysis { try CaseAnalysis.load(bundleAt: bundleURL()) }
}

/// How ECG input files are read, on every command that reads ECGs (`view`, `info`, `convert`,
/// `export`, `report`, `screen`, `embed`, `prepare`, `study run` / `report`): one name per concept
/// (`--sampling-rate`; `--csv-rate` is the old spelling of `screen` and `embed`, still accepted, not
/// shown in help). An export records them in its manifest, so `--from-manifest` reads alike.
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("sampling-rate"), help: "Sampling rate in Hz for CSV/TSV files that do not state one.")
    var samplingRate: Double?

    @Option(name: .customLong("csv-rate"), help: ArgumentHelp("Deprecated: use --sampling-rate.", visibility: .hidden))
    var deprecatedCSVRate: Double?

    func validate() throws {
        if samplingRate != nil && deprecatedCSVRate != nil {
            throw ValidationError("pass --sampling-rate once (--csv-rate is its old name)")
        }
        if let rate = csvSamplingRate, !(rate.isFinite && rate > 0) {
            throw ValidationError("--sampling-rate must be a positive number of Hz, not \(rate)")
        }
    }

    var csvSamplingRate: Double? { samplingRate ?? deprecatedCSVRate }

    /// What the readers are given.
    var readerOptions: ECGFileReader.Options { ECGFileReader.Options(csvSamplingRate: csvSamplingRate) }
}

/// What a generated case depends on besides the record and the model (`export`, `report`): the
/// generator seed, the head whose Grad-CAM is drawn and the anatomy the heart is drawn from. One
/// declaration, so the names, defaults and help agree between the commands; an export records them
/// in its manifest.
struct CaseGenerationOptions: ParsableArguments {
    @Option(name: .long, help: "Generator seed (same seed → byte-identical images and report).")
    var seed: UInt64 = 1

    @Option(name: .customLong("gradcam-head"), help: "Head output whose Grad-CAM is drawn on the traces, e.g. risk.cad (default: the first risk output).")
    var gradcamHead: String?

    @Option(name: .long, help: "Anatomy of the generated heart: point (the predicted values printed beside it) or range (a draw within the 80 % intervals, seeded, labelled as such).")
    var anatomy: AnatomyMode = .pointEstimate

    @Flag(name: .long, help: "For an out-of-distribution ECG, list the withheld risks and phenotypes on the report anyway, greyed and labelled \"unreliable: out of distribution\" (never as findings).")
    var showUnreliable = false
}

extension PaperSize: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
extension ResamplingFilter: ExpressibleByArgument {}
extension ExportOptions.FrameSelection: ExpressibleByArgument {}
extension AnatomyMode: ExpressibleByArgument {}
extension DisplayFilter: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

/// Where written DICOM series are filed (export --dicom, report --dicom). A DICOM ECG with
/// --include-phi files into its own study by default; these name one explicitly.
struct DICOMFilingOptions: ParsableArguments {
    @Option(name: .customLong("study-uid"), help: "Study Instance UID the DICOM series join (default: a DICOM input's own study with --include-phi, else a new study).")
    var studyUID: String?

    @Option(name: .long, help: "Accession Number of the DICOM series (default: a DICOM input's own with --include-phi).")
    var accession: String?
}

/// An output path that already holds something this command did not write (the user's notes, a
/// spreadsheet) is refused rather than silently replaced; our own earlier output is replaced
/// (atomically). `ours` looks at the file's first bytes.
func refuseForeignOutput(_ path: String, what: String, ours: (Data) -> Bool) throws {
    var st = stat()
    guard stat(path, &st) == 0 else { return }   // nothing there yet
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        throw ValidationError("--out \(TerminalText.sanitize(path)) exists and is not a regular file")
    }
    let head = FileHandle(forReadingAtPath: path).map { h -> Data in defer { try? h.close() }; return (try? h.read(upToCount: 64)) ?? Data() } ?? Data()
    guard st.st_size == 0 || ours(head) else {
        throw ValidationError("--out \(TerminalText.sanitize(path)) exists and is not \(what); move it or choose another path (it is not replaced)")
    }
}
