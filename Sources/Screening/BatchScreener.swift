import CaseAnalysis
import ECGFormats
import Foundation
import SignalKit

public struct ScreeningOptions: Sendable {
    /// Files read and preprocessed concurrently; the model batches what they produce.
    public var jobs: Int
    /// Files per model batch (and per durable append round).
    public var batchSize: Int
    public var readerOptions: ECGFileReader.Options
    /// Adds each ECG's embedding to its result line (`screen --embeddings`).
    public var includeEmbeddings = false
    /// `screen --window START`: analyse the 10 s from this second of every record (default: whole
    /// records up to 60 s, the first clean 10 s of longer ones; see SignalKit `AnalysisWindow`).
    public var windowStartSeconds: Double?

    public init(jobs: Int = 2, batchSize: Int = 16, readerOptions: ECGFileReader.Options = .init()) {
        self.jobs = max(1, jobs)
        self.batchSize = max(1, batchSize)
        self.readerOptions = readerOptions
    }
}

public struct ScreeningProgress: Sendable {
    public var done: Int
    public var total: Int
    public var failed: Int
    public var elapsedSeconds: Double
    public var lastFile: String
    public var ratePerSecond: Double { elapsedSeconds > 0 ? Double(done) / elapsedSeconds : 0 }
    public var etaSeconds: Double? { ratePerSecond > 0 ? Double(total - done) / ratePerSecond : nil }
}

public struct ScreeningSummary: Sendable {
    public var discovered = 0
    public var skippedAlreadyDone = 0
    public var screened = 0
    public var failed = 0
    /// Read and measured, but the model does not apply (status "not-applicable"): not failures.
    public var notApplicable: [(file: String, reason: String)] = []
    public var flagged: [String] = []
    /// (file, reason) of every file that failed, for the summary on the terminal.
    public var failures: [(file: String, reason: String)] = []
    public var elapsedSeconds = 0.0
    /// Why the run stopped before every input had its line (the results file could not be
    /// written); nil when it finished. A later run with the same --out resumes.
    public var stoppedEarly: String?
}

/// Batch screening: discovery → read → signal checks → model → one durable result line per file.
/// A file that fails at any step gets an error line with the reason; the batch never aborts.
public final class BatchScreener {
    /// The model run on each file (the command's one CaseAnalysis); nil: signal checks only.
    public let cases: CaseAnalysis?
    public let options: ScreeningOptions
    /// Called for each analysed file before its result line is written (e.g. to export its
    /// generated CMR and record where it went).
    /// The case carries the prepared input and analysis, so an export from here does not run the encoder again.
    public var afterResult: ((CaseResult, inout ScreeningResult) -> Void)?

    /// The most files that were being read and preprocessed at once (never more than `options.jobs`).
    public var peakFilesInFlight: Int { inFlightLock.lock(); defer { inFlightLock.unlock() }; return peakInFlight }
    private let inFlightLock = NSLock()
    private var inFlight = 0
    private var peakInFlight = 0

    public init(cases: CaseAnalysis?, options: ScreeningOptions = .init()) {
        self.cases = cases
        self.options = options
    }

    /// Screens the inputs under `paths` (with `shard`, only that shard's) that `log` does not hold yet.
    public func run(paths: [String], shard: ScreeningShard? = nil, log: ResultLog,
                    progress: (ScreeningProgress) -> Void = { _ in }) -> ScreeningSummary {
        let start = Date()
        var summary = ScreeningSummary()
        let items = ECGFileDiscovery().discover(paths, shard: shard)
        summary.discovered = items.count
        let pending = items.filter { item in
            switch item {
            case .ecgFile(let path), .unreadable(let path, _): return !log.completedFiles.contains(path)
            }
        }
        summary.skippedAlreadyDone = items.count - pending.count
        var done = 0
        var index = 0
        while index < pending.count {
            let chunk = Array(pending[index..<min(pending.count, index + options.batchSize)])
            index += chunk.count
            let results = screen(chunk)
            for result in results {
                do {
                    try log.append(result)
                } catch {
                    // The results file itself failed (disk full …): stop rather than lose results silently.
                    summary.elapsedSeconds = Date().timeIntervalSince(start)
                    summary.stoppedEarly = "\(error)"
                    return summary
                }
                done += 1
                if result.status == "ok" { summary.screened += 1 } else if result.status == ScreeningResult.notApplicableStatus {
                    summary.notApplicable.append((result.file, result.notApplicable ?? ""))
                } else {
                    summary.failed += 1
                    let reason = result.error.map { [$0.kind, $0.message, $0.location.map { "at \($0)" }].compactMap { $0 }.joined(separator: ": ") } ?? "error"
                    summary.failures.append((result.file, reason))
                }
                if result.flagged == true { summary.flagged.append(result.file) }
                progress(ScreeningProgress(done: done, total: pending.count, failed: summary.failed,
                                           elapsedSeconds: Date().timeIntervalSince(start), lastFile: result.file))
            }
        }
        log.sync()
        summary.elapsedSeconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Reads and preprocesses a chunk in parallel, then runs the model once over the whole chunk.
    func screen(_ chunk: [DiscoveredItem]) -> [ScreeningResult] {
        var prepared = [(ScreeningResult, ECGRecord?, PreparedECG?)](repeating: (ScreeningResult(file: "", status: "error"), nil, nil),
                                                                     count: chunk.count)
        let lock = NSLock()
        Self.forEach(count: chunk.count, jobs: options.jobs) { i in
            self.inFlightLock.lock(); self.inFlight += 1; self.peakInFlight = max(self.peakInFlight, self.inFlight); self.inFlightLock.unlock()
            let entry = self.readAndCheck(chunk[i])
            self.inFlightLock.lock(); self.inFlight -= 1; self.inFlightLock.unlock()
            lock.lock(); prepared[i] = entry; lock.unlock()
        }
        let ready = prepared.indices.filter { prepared[$0].1 != nil && prepared[$0].2 != nil }
        if let analysis = self.cases, !ready.isEmpty {
            let batch = ready.compactMap { i in prepared[i].1.flatMap { record in prepared[i].2.map { (record: record, prepared: $0) } } }
            // The scores alone (a screening line): `--with-cmr` completes a flagged case in `afterResult`.
            let cases = analysis.run(batch: batch, options: CaseOptions(parts: .findings))
            for (k, i) in ready.enumerated() where k < cases.count {
                var result = prepared[i].0
                switch cases[k] {
                case .success(let analysed):
                    Self.fill(&result, with: analysed.analysis)
                    if options.includeEmbeddings { result.embedding = analysed.analysis.embedding }
                    afterResult?(analysed, &result)
                case .failure(let error):
                    result = result.failed(kind: "model", message: "\(error)")
                }
                prepared[i].0 = result
            }
        }
        return prepared.map(\.0)
    }

    /// Runs `body(0..<count)` on at most `jobs` threads at once (`concurrentPerform` alone would use
    /// every core): each worker takes the next index until none is left.
    static func forEach(count: Int, jobs: Int, _ body: (Int) -> Void) {
        let next = NSLock()
        var index = 0
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, count))) { _ in
            while true {
                next.lock(); let i = index; index += 1; next.unlock()
                guard i < count else { return }
                body(i)
            }
        }
    }

    private func readAndCheck(_ item: DiscoveredItem) -> (ScreeningResult, ECGRecord?, PreparedECG?) {
        switch item {
        case .unreadable(let path, let reason):
            return (.failure(file: path, kind: "unreadable", message: reason), nil, nil)
        case .ecgFile(let path):
            // Long records are never decoded whole: one 10 s window is analysed (memory bounded by the window).
            let source: ECGRecordSource
            let analysed: AnalysisWindow
            do {
                source = try ECGRecordSource.open(url: URL(fileURLWithPath: path), options: options.readerOptions)
                analysed = try AnalysisWindow.choose(in: source, requestedStartSeconds: options.windowStartSeconds)
            } catch let error as ECGFormatError {
                return (.failure(file: path, kind: error.kind.rawValue, message: error.message, location: error.location), nil, nil)
            } catch {
                return (.failure(file: path, kind: "unreadable", message: "\(error)"), nil, nil)
            }
            let record = analysed.record
            var result = ScreeningResult(file: path, status: "ok")
            result.format = record.provenance.format.rawValue
            // The digest of what was read: the whole file, or for a window of a long WFDB record the
            // bytes the window needed (inputSHA256Scope names them).
            result.inputSHA256 = record.provenance.sha256
            result.inputSHA256Scope = record.provenance.sha256Scope
            result.leads = record.leads.map(\.id.description)
            result.samplingRate = record.samplingRate
            result.durationSeconds = source.durationSeconds
            if !analysed.isWholeRecord { result.analysedWindow = analysed.summary }
            let vitals = RecordVitals(of: record)
            result.qualityFlags = vitals.qualityFlags
            result.heartRateBpm = vitals.heartRateBpm
            result.rhythm = vitals.rhythm?.rawValue
            result.measurements = vitals.measurementSummary
            result.deviceMeasurements = record.metadata.deviceMeasurements
            guard let cases else { return (result, record, nil) }
            if let reason = cases.notApplicableReason(record) {
                result.status = ScreeningResult.notApplicableStatus
                result.notApplicable = reason
                return (result, record, nil)
            }
            do {
                let input = try cases.prepare(record)
                return (result, record, input)
            } catch {
                let message: String
                if case CaseAnalysisError.preparation(_, let reason) = error { message = reason } else { message = "\(error)" }
                return (result.failed(kind: "preprocessing", message: message), nil, nil)
            }
        }
    }

    static func fill(_ result: inout ScreeningResult, with analysis: ECGAnalysis) {
        result.modelID = analysis.modelID
        result.syntheticModel = analysis.isSynthetic
        let findings = CaseFindings.keyed(analysis)
        // Weak heads are reported but never raise a flag on their own; an out-of-distribution ECG's
        // outputs raise none at all (withheld: the flag says why instead).
        var flags = analysis.risks.map(\.target.output).filter { findings.risks[$0]?.isHighAndTrusted == true }.map { "high:\($0)" }
        flags += analysis.phenotypes.map(\.target.output).filter { findings.phenotypes[$0]?.isOutOfRangeAndTrusted == true }
            .map { "out-of-range:\($0)" }
        result.withheld = analysis.withheldReason
        result.risks = findings.risks
        result.subtypes = findings.subtypes
        result.phenotypes = findings.phenotypes
        if let ood = analysis.outOfDistribution {
            result.outOfDistribution = ood.isOutside
            result.outOfDistributionScore = (ood.score * 1000).rounded() / 1000
            if ood.isOutside { flags.insert("out-of-distribution", at: 0) }
        }
        result.flags = flags
        result.flagged = !flags.isEmpty
    }
}
