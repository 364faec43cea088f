import ArgumentParser
import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
import ReaderStudy
import Workstation

/// `ecg2cmr study …`: operator commands of a blinded reader study (docs/reader-study.md).
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Run a blinded reader study: define, add readers, present cases, report.",
        subcommands: [StudyInit.self, StudyAddReader.self, StudyRun.self, StudyStatus.self, StudyReportCommand.self,
                      StudyMRMCCommand.self, StudyExportCommand.self])
}

private func defaultOperator() -> String { ProcessInfo.processInfo.environment["USER"] ?? "operator" }

/// Study errors name the file and the problem; ArgumentParser prints "Error: <description>" and
/// exits 1 (a ValidationError would add the usage text, which hides the message).
private func studyFailure(_ error: Error) -> Error {
    if let e = error as? StudyError {
        var clean = e
        clean.message = TerminalText.sanitize(e.message)
        clean.file = e.file.map { TerminalText.sanitize($0) }
        return clean
    }
    return error
}

/// Writers (init, add-reader, run, report) hold `<db>.lock` so two of them never interleave; taken
/// only after the database was checked to be ours (nothing is created beside a foreign file).
private func writerLock(_ db: String, _ command: String) throws -> ExclusiveLock {
    do { return try ExclusiveLock(lockPath: db + ".lock", resource: db, purpose: "ecg2cmr study \(command)") } catch let e as LockError {
        throw StudyError(.storage, file: db, "study database is \(e.message)")
    }
}

/// `--db` on every study command that opens an existing study database (`init`, which creates one,
/// says so in its own help).
struct StudyDatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "Study database.") var db: String

    /// A writer's work on the database (add-reader, run, report): opened, locked for `command`,
    /// errors as study failures.
    func withWriter(_ command: String, _ body: (StudyStore) throws -> Void) throws {
        do {
            let store = try StudyStore.open(at: db)
            let lock = try writerLock(db, command); defer { lock.release() }
            try body(store)
        } catch { throw studyFailure(error) }
    }
}

/// `--operator` on every study command that writes to the audit log.
struct StudyOperatorOptions: ParsableArguments {
    @Option(name: .long, help: "Operator name for the audit log.") var `operator`: String = defaultOperator()
}

/// The model bundle a study uses: --model, else the definition's, else the default demo bundle.
private func loadModel(explicit: ModelOptions, definition: StudyDefinition, required: Bool) throws -> CaseAnalysis? {
    let url = CaseAnalysis.locateBundle(explicit.explicitURL ?? definition.model?.bundle.map { URL(fileURLWithPath: $0) })
    guard let url else {
        if required { throw StudyError(.modelUnavailable, "this stage shows model output and needs a model bundle: pass --model DIR or set ECG2CMR_MODEL") }
        return nil
    }
    do { return try CaseAnalysis.load(bundleAt: url) } catch {
        if required { throw StudyError(.modelUnavailable, file: url.path, "cannot load the model bundle: \(error)") }
        FileHandle.standardError.write(Data("note: no model comparison — cannot load \(url.path): \(error)\n".utf8))
        return nil
    }
}

struct StudyInit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a study database from a definition (JSON).")
    @Argument(help: "Study definition (JSON, format ecg2cmr-study/1).") var definition: String
    @Option(name: .long, help: "Study database to create (SQLite; must not exist).") var db: String
    @OptionGroup var audit: StudyOperatorOptions

    func run() throws {
        do {
            let url = URL(fileURLWithPath: definition)
            let def = try StudyDefinition.load(from: url)
            let store = try StudyStore.create(at: db, definition: def, definitionSource: url.standardizedFileURL.path, operatorName: audit.operator)
            let lock = try writerLock(db, "init"); defer { lock.release() }
            print("created \(store.path): study '\(def.id)', \(def.cases.count) cases, stages \(def.stages.map(\.id).joined(separator: " → "))")
            print("next: ecg2cmr study add-reader --db \(db) --id R1 --name \"…\" --role \(def.roles.first ?? "reader")")
        } catch { throw studyFailure(error) }
    }
}

struct StudyAddReader: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-reader", abstract: "Register a reader; records their randomised case order for every stage.")
    @OptionGroup var database: StudyDatabaseOptions
    @Option(name: .long, help: "Reader id (letters, digits, - and _), used with `study run --reader`.") var id: String
    @Option(name: .long, help: "Reader's name as shown in reader mode.") var name: String?
    @Option(name: .long, help: "Reader role (one of the definition's roles).") var role: String?
    @OptionGroup var audit: StudyOperatorOptions

    func run() throws {
        try database.withWriter("add-reader") { store in
            let role = role ?? store.definition.roles.first ?? "reader"
            let r = try store.addReader(id: id, name: name ?? id, role: role, operatorName: audit.operator)
            print(TerminalText.sanitize("added reader \(r.id) (\(r.role)); case-order seed \(r.orderSeed) recorded for \(store.definition.stages.count) stage(s)"))
        }
    }
}

struct StudyRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Open reader mode for one reader (resumes where they stopped).")
    @OptionGroup var database: StudyDatabaseOptions
    @Option(name: .long, help: "Reader id.") var reader: String
    @Option(name: .long, help: "Stage id (default: the reader's next unfinished stage).") var stage: String?
    @OptionGroup var model: ModelOptions
    @OptionGroup var inputOptions: InputOptions
    // The exception last, beside the operator it is logged with.
    @Option(name: .long, help: "Start a stage inside its wash-out period; the reason is logged with --operator.") var overrideWashout: String?
    @OptionGroup var audit: StudyOperatorOptions
    @Flag(name: .long, help: "No terminal UI: keys come one per line on stdin; prints 'shown N' / 'committed N' (scripted tests).") var headless = false

    func run() throws {
        let out = FileHandle.standardOutput
        try database.withWriter("run --reader \(reader)") { store in
            let readerInfo = try store.reader(reader)
            let availability = try store.availability(reader: reader, stage: stage)
            let stageID: String? = {
                switch availability {
                case .ready(let s), .inProgress(let s), .washout(let s, _), .blocked(let s, _): return s
                case .finished: return stage
                }
            }()
            // Wash-out and order are checked before the model is loaded, so their message comes first.
            let mayStart: Bool = {
                switch availability {
                case .ready, .inProgress: return true
                case .washout: return overrideWashout != nil
                default: return false
                }
            }()
            let needsModel = mayStart && (stageID.flatMap { store.definition.stage($0) }.map { $0.shows.contains { $0.needsModel } } ?? false)
            let cases = needsModel ? try loadModel(explicit: model, definition: store.definition, required: true) : nil
            let presenter = StudyCasePresenter(definition: store.definition, cases: cases, readerOptions: inputOptions.readerOptions)
            let session = try ReaderSession(store: store, readerID: reader, stageID: stage, presenter: presenter,
                                            washoutOverride: overrideWashout.map { (operatorName: audit.operator, reason: $0) })
            let controller = ReaderModeController(session: session, readerName: TerminalText.sanitize(readerInfo.name))
            if headless {
                session.onCommitted = { out.write(Data("committed \($0)\n".utf8)) }
                let screen = ReaderHeadlessScreen()
                var lastShown: Int? = nil
                ReaderModeRunner.run(controller, on: screen, theme: .monochrome, exitWhenFinished: true, endOfInput: { screen.atEndOfInput }) { _ in
                    if let p = session.position, p != lastShown { lastShown = p; out.write(Data("shown \(p)\n".utf8)) }
                }
                out.write(Data((session.isFinished ? "finished\n" : "paused\n").utf8))
            } else {
                let colour = ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                let screen = try TerminalScreen(useColour: colour)
                ReaderModeRunner.run(controller, on: screen, theme: colour ? .standard : .monochrome)
                screen.close()
                if controller.messageIsError, let m = controller.message { FileHandle.standardError.write(Data("error: \(m)\n".utf8)) }
                print(session.isFinished ? "stage '\(session.stage.id)' finished for \(reader)"
                                         : "paused at case \(session.position ?? 0) of \(session.total); answers so far are saved")
            }
        }
    }
}

struct StudyStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Progress per reader and stage.")
    @OptionGroup var database: StudyDatabaseOptions

    func run() throws {
        do {
            let store = try StudyStore.open(at: database.db, readOnly: true)
            // Reader names and ids came from operators' input: no escape sequence reaches the terminal.
            print(TerminalText.sanitize(try StudyStatusReport(store: store).text, keepNewlines: true))
        } catch { throw studyFailure(error) }
    }
}

struct StudyReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Metrics per reader and stage vs the model: CSV, Markdown, ROC chart (PNG).")
    @OptionGroup var database: StudyDatabaseOptions
    @Option(name: .long, help: "Output folder (created).") var out: String
    @OptionGroup var model: ModelOptions
    @OptionGroup var inputOptions: InputOptions
    @Flag(name: .long, help: "Report readers only, even if a model bundle is available.") var noModel = false
    @Option(name: .long, help: "Bootstrap resamples for AUC confidence intervals.") var resamples: Int = 10_000
    @OptionGroup var audit: StudyOperatorOptions

    /// Resamples are kept (8 bytes each) to take percentiles: bounded before allocating.
    static let resampleCounts = 1...1_000_000

    func validate() throws {
        guard Self.resampleCounts.contains(resamples) else {
            throw ValidationError("--resamples must be \(Self.resampleCounts.lowerBound)…\(Self.resampleCounts.upperBound) (got \(resamples))")
        }
    }

    func run() throws {
        try database.withWriter("report") { store in
            var modelScores: ModelScores? = nil
            if !noModel, store.definition.model != nil,
               let cases = try loadModel(explicit: model, definition: store.definition, required: false) {
                do { modelScores = try ModelScores.compute(store: store, cases: cases, readerOptions: inputOptions.readerOptions) } catch let e as StudyError where e.kind == .modelUnavailable {
                    // A bundle without the study's output still leaves a valid readers-only report.
                    FileHandle.standardError.write(Data("note: no model comparison — \(e)\n".utf8))
                }
            }
            let report = try StudyReport.build(store: store, model: modelScores, resamples: resamples)
            let files = try report.write(to: URL(fileURLWithPath: out))
            try store.audit(actor: audit.operator, action: "report", detail: "\(out); model \(modelScores?.modelID ?? "none"); \(resamples) resamples")
            for f in files { print("wrote \(f.path)") }
        }
    }
}

/// `study mrmc`: the MRMC analysis of any long-format ratings file (a study run here or elsewhere).
struct StudyMRMCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mrmc",
        abstract: "Obuchowski–Rockette MRMC analysis of a ratings file (MRMCaov's long layout), or power for a planned study.",
        discussion: "The file is CSV with a header naming reader, treatment (or modality), case, truth (0/1) and rating columns; other columns are ignored. Every reader reads in every treatment and rates each case in each treatment the case is read in (or pass --complete-cases). The design is detected from the cases (as MRMCaov does) or declared with --design: factorial (every case in every treatment), nested (each case under one treatment: separate patient groups per modality) or partially-paired (cases read in some treatments). DeLong needs a factorial design.")
    @Option(name: .long, help: "Ratings CSV: reader,treatment,case,truth,rating.") var ratings: String
    @Option(name: .long, help: "Case covariance: jackknife, delong or unbiased (DeLong and unbiased: AUC only).") var cov: String = "jackknife"
    @Option(name: .long, help: "Figure of merit: auc (empirical), sensitivity or specificity (at --threshold).") var metric: String = "auc"
    @Option(name: .long, help: "For sensitivity/specificity: a rating at or above this is a positive call.") var threshold: Double?
    @Flag(name: .long, help: "Readers as fixed effects (inference to these readers only).") var fixedReaders = false
    @Flag(name: .long, help: "Cases as fixed effects (inference to these cases only).") var fixedCases = false
    @Flag(name: .long, help: "Leave out cases some reader did not rate (in a treatment the case is read in; with --design factorial, in any treatment) instead of stopping.") var completeCases = false
    @Option(name: .long, help: "Study design: factorial, nested (cases nested within treatments) or partially-paired; detected from the cases when not given.") var design: MRMCDesignOption?
    @Option(name: .long, help: "Confidence level of the intervals.") var confidence: Double = 0.95
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @Flag(name: .long, help: "Use the file as a pilot and print power over readers × cases for --effect.") var power = false
    @Option(name: .long, help: "With --power: the difference in the figure of merit to detect (e.g. 0.05).") var effect: Double?
    @Option(name: .long, help: "With --power: readers to tabulate (comma-separated).") var readers: String = "3,4,5,6,8,10,15,20"
    @Option(name: .long, help: "With --power: cases to tabulate (comma-separated).") var cases: String = "50,100,150,200,300,400,600"
    @Option(name: .long, help: "With --power: significance level.") var alpha: Double = 0.05

    func run() throws {
        do {
            guard let covariance = MRMCCovariance.allCases.first(where: { $0.rawValue.lowercased() == cov.lowercased() }) else {
                throw ValidationError("--cov must be jackknife, delong or unbiased (got '\(cov)')")
            }
            let figure: MRMCMetric
            switch metric.lowercased() {
            case "auc": figure = .auc
            case "sensitivity", "sens", "specificity", "spec":
                guard let threshold else { throw ValidationError("--metric \(metric) needs --threshold (a rating at or above it is a positive call)") }
                figure = metric.lowercased().hasPrefix("sens") ? .sensitivity(threshold: threshold) : .specificity(threshold: threshold)
            default: throw ValidationError("--metric must be auc, sensitivity or specificity (got '\(metric)')")
            }
            if fixedReaders && fixedCases { throw ValidationError("only one of --fixed-readers and --fixed-cases") }
            guard confidence > 0, confidence < 1 else { throw ValidationError("--confidence must be between 0 and 1") }
            let factors: MRMCFactors = fixedReaders ? .fixedReaders : (fixedCases ? .fixedCases : .randomReadersRandomCases)
            let data = try MRMCData(RatingsFile.read(url: URL(fileURLWithPath: ratings)), source: ratings, design: design?.design, completeCasesOnly: completeCases)
            let result: MRMCResult
            do { result = try MRMCAnalysis.run(data, metric: figure, covariance: covariance, factors: factors, confidenceLevel: confidence) } catch var e as StudyError {
                e.file = e.file ?? ratings
                throw e
            }
            if power {
                guard let effect else { throw ValidationError("--power needs --effect (the difference to detect, e.g. 0.05)") }
                func ints(_ s: String, _ flag: String) throws -> [Int] {
                    let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                    guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else { throw ValidationError("\(flag) must be comma-separated whole numbers (got '\(s)')") }
                    return v.compactMap { $0 }
                }
                let table = try MRMCPower.table(pilot: result, effect: effect, readers: ints(readers, "--readers"), cases: ints(cases, "--cases"),
                                                alpha: alpha, factors: factors == .fixedCases ? .fixedCases : factors)
                if json { print(try jsonText(table)) } else { print(TerminalText.sanitize(table.text, keepNewlines: true)) }
                return
            }
            if json { print(try jsonText(result)) } else { print(TerminalText.sanitize(result.text, keepNewlines: true)) }
        } catch { throw studyFailure(error) }
    }

    private func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// `--design` values (the library's names have spaces).
enum MRMCDesignOption: String, ExpressibleByArgument, CaseIterable {
    case factorial, nested, partiallyPaired = "partially-paired"
    var design: MRMCDesign {
        switch self {
        case .factorial: return .factorial
        case .nested: return .casesNestedInTreatments
        case .partiallyPaired: return .partiallyPaired
        }
    }
}

/// `study export`: the study's ratings for other MRMC software.
struct StudyExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write the study's ratings (each stage a modality, the 10-level rating) for MRMCaov (CSV) or iMRMC (.imrmc).")
    @OptionGroup var database: StudyDatabaseOptions
    @Option(name: .long, help: "mrmcaov (long CSV) or imrmc (iMRMC input file).") var format: String = "mrmcaov"
    @Option(name: .long, help: "Output file (replaced atomically).") var out: String

    func run() throws {
        do {
            let store = try StudyStore.open(at: database.db)
            let rows = try StudyReport.ratings(store: store)
            guard !rows.isEmpty else { throw StudyError(.invalidRatings, file: database.db, "no answers yet: nothing to export") }
            let text: String
            switch format.lowercased() {
            case "mrmcaov", "csv": text = RatingsFile.mrmcaovCSV(rows)
            case "imrmc": text = RatingsFile.imrmc(rows, title: store.definition.title)
            default: throw ValidationError("--format must be mrmcaov or imrmc (got '\(format)')")
            }
            let url = URL(fileURLWithPath: out)
            do { try AtomicFile.write(Data(text.utf8), to: url) } catch { throw StudyError(.storage, file: out, "cannot write: \(error)") }
            print("wrote \(out): \(rows.count) ratings, \(Set(rows.map(\.reader)).count) readers, \(Set(rows.map(\.treatment)).count) stages")
        } catch { throw studyFailure(error) }
    }
}
