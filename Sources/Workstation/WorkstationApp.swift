import CaseAnalysis
import CMRExport
import SignalKit
import ECGFormats
import Foundation
import Imaging
import Screening
import SignalKit

/// Results from background threads, applied on the UI thread by the run loop.
final class Mailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var updates: [@Sendable (inout WorkstationState) -> Void] = []
    private var running = 0
    private let idle = NSCondition()

    func post(_ update: @escaping @Sendable (inout WorkstationState) -> Void) {
        lock.lock(); updates.append(update); lock.unlock()
    }
    func drain() -> [@Sendable (inout WorkstationState) -> Void] {
        lock.lock(); defer { lock.unlock() }
        let u = updates; updates = []; return u
    }
    /// The case generation the user is on: a queued case job whose generation is older does no
    /// work (stepping through a folder queues one per key press); -1 once quitting.
    private var currentGeneration = 0
    func setCurrentGeneration(_ generation: Int) { lock.lock(); currentGeneration = generation; lock.unlock() }
    func isCurrent(_ generation: Int) -> Bool { lock.lock(); defer { lock.unlock() }; return currentGeneration == generation }
    /// Quitting: queued case work is skipped; only what is already inside a model call finishes.
    func cancelCaseWork() { setCurrentGeneration(-1) }

    var isIdle: Bool { idle.lock(); defer { idle.unlock() }; return running == 0 }
    func jobStarted() { idle.lock(); running += 1; idle.unlock() }
    func jobFinished() { idle.lock(); running -= 1; idle.broadcast(); idle.unlock() }
    /// Blocks until no job runs (tests and benchmarks use it; the UI never waits).
    func waitUntilIdle(timeoutSeconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        idle.lock(); defer { idle.unlock() }
        while running > 0 { if !idle.wait(until: deadline) { return false } }
        return true
    }
}

/// Writes the export for one case and returns its folder; `progress(done, total)` may be called
/// from any thread. The default goes through CMRExport's `CaseExporter` (tests may inject their own).
public typealias CMRExportHandler = @Sendable (_ request: CMRExportRequest, _ progress: @escaping @Sendable (Int, Int) -> Void) throws -> URL

public struct CMRExportRequest: Sendable {
    public var record: ECGRecord
    public var caseName: String
    public var seed: UInt64
    /// The anatomy the exported cines draw (the TUI's current choice).
    public var anatomy: AnatomyMode = .pointEstimate
    /// "head.output" whose Grad-CAM goes on the exported ECG sheet.
    public var gradCAMTarget: String?
    public var outputDirectory: URL
    /// Also write the SAX and LAX cines as multi-frame DICOM (`dicom/*.dcm` in the case folder).
    public var dicom: Bool = false
    /// Also write the one-page PDF report (`report.pdf`, A4); with `dicom` also as Encapsulated PDF.
    public var pdf: Bool = false
    /// What the workstation already computed for the case; the exporter adds only what is missing.
    public var result: CaseResult? = nil
}

extension WorkstationApp {
    /// The real exporter: PNG sequences, contact sheet and manifest via `CMRExport.CaseExporter`.
    /// `readOptions`: how the workstation read the files, recorded in each manifest for regeneration.
    public static func caseExporter(cases: CaseAnalysis, readOptions: ECGFileReader.Options = .init()) -> CMRExportHandler {
        return { request, progress in
            let exporter = try CaseExporter(cases: cases, options: ExportOptions(seed: request.seed, gradCAMTarget: request.gradCAMTarget,
                                                                                 dicom: request.dicom, pdfPaper: request.pdf ? .a4 : nil,
                                                                                 anatomy: request.anatomy),
                                            readOptions: readOptions)
            let report: (ExportProgress) -> Void = { p in progress(p.completedFiles, max(p.totalFiles, 1)) }
            let result = try request.result.map { try exporter.export($0, caseName: request.caseName, into: request.outputDirectory, progress: report) }
                ?? exporter.export(record: request.record, caseName: request.caseName, into: request.outputDirectory, progress: report)
            return result.caseDirectory
        }
    }
}

/// The workstation controller: owns the state, turns keys into state changes, starts background
/// work and renders through a `Screen`. Every Screen call happens on the thread that calls `run`
/// (or `handle` / `renderFrame` in tests).
public final class WorkstationApp {
    public internal(set) var state = WorkstationState()
    public let screen: Screen
    public let theme: Theme
    /// The model (the one CaseAnalysis `view` built from --model); nil: traces only.
    public let cases: CaseAnalysis?
    public var exportHandler: CMRExportHandler?
    /// What the terminal probe decided about CMR images (`:graphics` shows it); nil headless.
    public var graphicsSummary: String?
    public var exportDirectory: URL
    /// Exports from the `e` key and `:export` also write DICOM (`view --export-dicom`; `:export --dicom` once).
    public var exportDICOM = false
    /// Exports from the `e` key and `:export` also write the PDF report (`view --export-pdf`; `:export --pdf` once).
    public var exportPDF = false
    /// How ECG files are read (`view --sampling-rate`); exports record it in their manifests.
    public var readerOptions = ECGFileReader.Options()
    let keyMap = WorkstationAction.keyMap
    let mailbox = Mailbox()
    /// Case loading, inference and generation run here, one after another.
    let worker = DispatchQueue(label: "ecg2cmr.workstation.worker", qos: .userInitiated)
    /// Grad-CAM and export run beside them, so a long generation does not hold up the heat map.
    let sideWorker = DispatchQueue(label: "ecg2cmr.workstation.side", qos: .userInitiated)
    /// The Grad-CAM already requested (generation, head), so it is asked for once.
    private var requestedCAM: (Int, HeadTarget)?
    private(set) var hits = HitMap()
    private var quitRequested = false
    private var caseChangeStarted: Date?
    private var lastFrameTime = Date.distantPast

    public init(screen: Screen, theme: Theme, cases: CaseAnalysis?, modelLoadError: String? = nil,
                exportDirectory: URL = URL(fileURLWithPath: "exports")) {
        self.screen = screen
        self.theme = theme
        self.cases = cases
        self.exportDirectory = exportDirectory
        if let m = cases?.model {
            state.model = .loaded(id: m.id, isSynthetic: m.isSynthetic, disclaimer: m.disclaimer)
            state.generatorInformativeness = m.generatorInformativeness.map { "measured: " + $0.statement }
        } else {
            state.model = .none(reason: modelLoadError.map { "no model loaded — \($0)" } ?? "no model loaded")
        }
    }

    // MARK: cases

    /// Opens a file or a folder (its ECG files become the case list).
    public func open(_ url: URL) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            state.status = StatusMessage("\(url.path): no such file or folder", isError: true)
            return
        }
        let (files, unreadable) = isDir.boolValue ? CaseDiscovery.scan(url) : ([url], 0)
        guard !files.isEmpty else {
            state.status = StatusMessage("\(url.path): no ECG files found", isError: true)
            return
        }
        state.cases = files
        loadCase(0)
        if unreadable > 0 { state.status = StatusMessage("\(files.count) ECGs; \(unreadable) path(s) below \(url.lastPathComponent) could not be read (ecg2cmr screen lists them)") }
    }

    public func loadCase(_ index: Int) {
        guard !state.cases.isEmpty else { return }
        state.caseIndex = max(0, min(state.cases.count - 1, index))
        state.generation += 1
        state.current = nil; state.loadError = nil; state.analysis = nil; state.prepared = nil; state.analysisError = nil; state.modelNotApplicable = nil
        state.gradCAM = nil; state.cmr = nil; state.cmrFrame = 0; state.caliperStartSeconds = nil
        state.displayRecord = nil; state.windowStartSeconds = 0; state.cursorLandmark = nil
        caseChangeStarted = Date()
        let url = state.cases[state.caseIndex]
        let generation = state.generation
        let cases = self.cases
        let seedBase = state.cmrSeed, anatomy = state.cmrAnatomy
        let filter = state.displayFilter
        let readerOptions = self.readerOptions
        mailbox.setCurrentGeneration(generation)
        startJob("reading") { mailbox in
            // The user may have stepped on (or quit) before this job's turn came.
            guard mailbox.isCurrent(generation) else { return }
            let loaded: LoadedCase
            do {
                // Long records: one window is decoded (memory bounded by it), the source reads others.
                let source = try ECGRecordSource.open(url: url, options: readerOptions)
                let analysed = try AnalysisWindow.choose(in: source)
                var opened = LoadedCase(url: url, record: analysed.record)
                if !analysed.isWholeRecord {
                    opened.source = source; opened.window = analysed.summary; opened.segmentStartSeconds = analysed.startSeconds
                }
                loaded = opened
            } catch {
                let message = Self.describe(error, url: url)
                mailbox.post { s in
                    guard s.generation == generation else { return }
                    s.loadError = message
                    s.status = StatusMessage(message, isError: true)
                }
                return
            }
            let filtered = Result { try filter.apply(to: loaded.record) }
            mailbox.post { s in
                guard s.generation == generation else { return }
                s.current = loaded
                if !loaded.record.leads.contains(where: { $0.id == s.selectedLead }), let first = loaded.record.leads.first { s.selectedLead = first.id }
                if !loaded.record.leads.contains(where: { $0.id == s.rhythmLead }) {
                    s.rhythmLead = loaded.record.lead(.ii)?.id ?? loaded.record.leads.first?.id ?? .ii
                }
                // Start where the model read (a long record's analysed window), one second in.
                s.cursorSeconds = loaded.segmentStartSeconds + min(s.cursorSeconds, max(0, loaded.record.durationSeconds - 0.01))
                s.windowStartSeconds = s.window.paged(toContain: s.cursorSeconds).startSeconds
                var text = "opened \(url.lastPathComponent) (\(loaded.record.provenance.format.rawValue), \(loaded.record.leads.count) leads, \(Int(loaded.record.samplingRate)) Hz"
                    + (loaded.window.map { "; model reads \($0.text)" } ?? "") + ")"
                if let note = loaded.annotationNote { text += " · " + note }
                s.status = StatusMessage(text)
                Self.applyFilterResult(filtered, to: &s)
            }
            guard let cases, mailbox.isCurrent(generation) else { return }
            Self.runModel(cases: cases, record: loaded.record, generation: generation, seed: seedBase, anatomy: anatomy,
                          mailbox: mailbox)
        }
    }

    /// Inference, then CMR generation (Grad-CAM is requested when the scores arrive) — each result shown as soon as it exists.
    static func runModel(cases: CaseAnalysis, record: ECGRecord, generation: Int, seed: UInt64,
                         anatomy: AnatomyMode = .pointEstimate, mailbox: Mailbox) {
        if let reason = cases.notApplicableReason(record) {
            mailbox.post { s in guard s.generation == generation else { return }; s.modelNotApplicable = reason; s.status = StatusMessage("model not applied: " + reason) }
            return
        }
        // The scores first (shown as soon as they exist), then the cines; the Grad-CAM is asked for when the scores arrive.
        let result: CaseResult
        do { result = try cases.run(record, options: CaseOptions(parts: .findings)) } catch CaseAnalysisError.preparation(_, let reason) {
            mailbox.post { s in guard s.generation == generation else { return }; s.analysisError = reason; s.status = StatusMessage(reason, isError: true) }
            return
        } catch {
            let message = "\(error)"
            mailbox.post { s in guard s.generation == generation else { return }; s.analysisError = message; s.status = StatusMessage(message, isError: true) }
            return
        }
        let analysis = result.analysis, prepared = result.prepared
        mailbox.post { s in
            guard s.generation == generation else { return }
            s.analysis = analysis
            s.prepared = prepared
            // Grad-CAM starts on the flagged finding the model is surest of; none when nothing is flagged
            // (the same rule as export and report: CaseAnalysis.defaultGradCAMTarget).
            let best = CaseAnalysis.defaultGradCAMTarget(analysis)
            s.gradCAMHeadIndex = best.flatMap { t in analysis.risks.firstIndex { $0.target == t } }
        }
        guard mailbox.isCurrent(generation) else { return }
        do {
            let cmr = try cases.complete(result, options: CaseOptions(seed: seed, anatomy: anatomy, parts: .cmr)).cmr
            mailbox.post { s in guard s.generation == generation else { return }; s.cmr = cmr }
        } catch {
            let message = "CMR generation: \(error)"
            mailbox.post { s in guard s.generation == generation else { return }; s.status = StatusMessage(message, isError: true) }
        }
    }

    /// Stores the filtered record, or falls back to the unfiltered one and says why.
    static func applyFilterResult(_ result: Result<ECGRecord, Error>, to s: inout WorkstationState) {
        switch result {
        case .success(let record): s.displayRecord = s.displayFilter == .off ? nil : record
        case .failure(let error):
            s.status = StatusMessage("display filter \(s.displayFilter.label) not applied: \(error)", isError: true)
            s.displayFilter = .off; s.displayRecord = nil
        }
    }

    /// Filters the shown traces with `filter` (a few ms even for a 30-minute record, so on the UI thread).
    func setDisplayFilter(_ filter: DisplayFilter) {
        state.displayFilter = filter
        guard let record = state.current?.record else { state.displayRecord = nil; return }
        state.status = StatusMessage(filter.label)
        Self.applyFilterResult(Result { try filter.apply(to: record) }, to: &state)
    }

    /// Moves the cursor to `t` and pages the window to keep it in view.
    func moveCursor(to t: Double) {
        let duration = state.current?.totalSeconds ?? 10
        state.cursorSeconds = max(0, min(duration - 0.001, t))
        state.windowStartSeconds = state.window.paged(toContain: state.cursorSeconds).startSeconds
        loadSegmentForWindow()
    }

    /// A long record decodes only what is shown: when the window leaves the decoded segment, the
    /// window is read from the record source (a 10 s read takes milliseconds, so on the UI thread).
    func loadSegmentForWindow() {
        guard let c = state.current, let source = c.source else { return }
        let w = state.window
        let segmentEnd = c.segmentStartSeconds + c.record.durationSeconds
        guard w.startSeconds < c.segmentStartSeconds - 1e-6 || w.endSeconds > segmentEnd + 1e-6 else { return }
        do {
            let (start, _) = source.sampleRange(startSeconds: w.startSeconds, durationSeconds: w.durationSeconds)
            let segment = try source.read(startSeconds: w.startSeconds, durationSeconds: w.durationSeconds)
            state.current = c.showing(segment: segment, startSeconds: Double(start) / source.samplingRate)
            if state.displayFilter != .off { Self.applyFilterResult(Result { try state.displayFilter.apply(to: segment) }, to: &state) }
        } catch {
            state.status = StatusMessage("cannot read \(w.label): \(error)", isError: true)
        }
    }

    /// Moves the window (and the cursor with it, so it stays on the same beat's place on screen).
    func moveWindow(to start: Double) {
        let old = state.window
        let new = RecordWindow(startSeconds: start, durationSeconds: old.durationSeconds, recordSeconds: old.recordSeconds)
        state.windowStartSeconds = new.startSeconds
        state.cursorSeconds = max(new.startSeconds, min(new.endSeconds - 0.001, state.cursorSeconds + new.startSeconds - old.startSeconds))
        state.cursorLandmark = nil
        state.status = StatusMessage(new.label)
        loadSegmentForWindow()
    }

    static func describe(_ error: Error, url: URL) -> String {
        if let e = error as? ECGFormatError { return e.description }
        return "\(url.lastPathComponent): \(error)"
    }

    func startJob(_ name: String, side: Bool = false, _ work: @escaping @Sendable (Mailbox) -> Void) {
        state.busy.append(name)
        let mailbox = self.mailbox
        mailbox.jobStarted()
        (side ? sideWorker : worker).async {
            work(mailbox)
            mailbox.post { s in if let i = s.busy.firstIndex(of: name) { s.busy.remove(at: i) } }
            mailbox.jobFinished()
        }
    }

    func requestGradCAM() {
        guard let cases, let result = state.caseResult, let target = state.gradCAMTarget else { return }
        let generation = state.generation
        if let r = requestedCAM, r.0 == generation, r.1 == target { return }
        requestedCAM = (generation, target)
        state.gradCAM = nil
        startJob("Grad-CAM", side: true) { mailbox in
            do {
                let map = try cases.complete(result, options: CaseOptions(gradCAMTarget: target.description, parts: .gradCAM)).gradCAM
                mailbox.post { s in guard s.generation == generation else { return }; s.gradCAM = map }
            } catch {
                let message = "Grad-CAM: \(error)"
                mailbox.post { s in s.status = StatusMessage(message, isError: true) }
            }
        }
    }

    func requestCMR() {
        guard let cases, var asked = state.caseResult else { return }
        let generation = state.generation, seed = state.cmrSeed, anatomy = state.cmrAnatomy
        state.cmr = nil
        asked.cmr = nil    // asked for again: generate even when seed and anatomy are the ones shown
        let result = asked // the job reads an immutable copy
        startJob("generating CMR") { mailbox in
            do {
                let cmr = try cases.complete(result, options: CaseOptions(seed: seed, anatomy: anatomy, parts: .cmr)).cmr
                mailbox.post { s in guard s.generation == generation else { return }; s.cmr = cmr }
            } catch {
                let message = "CMR generation: \(error)"
                mailbox.post { s in s.status = StatusMessage(message, isError: true) }
            }
        }
    }

    func requestExport(to directory: URL, dicom: Bool? = nil, pdf: Bool? = nil) {
        guard let handler = exportHandler ?? cases.map({ Self.caseExporter(cases: $0, readOptions: readerOptions) }) else {
            state.status = StatusMessage("nothing to export: no model loaded (export writes generated CMR)", isError: true); return
        }
        guard let record = state.current?.record else { state.status = StatusMessage("nothing to export: no ECG loaded", isError: true); return }
        guard state.exportProgress == nil else { state.status = StatusMessage("an export is already running"); return }
        let request = CMRExportRequest(record: record, caseName: CaseExporter.caseName(for: record), seed: state.cmrSeed,
                                       anatomy: state.cmrAnatomy, gradCAMTarget: state.gradCAMTarget?.description, outputDirectory: directory,
                                       dicom: dicom ?? exportDICOM, pdf: pdf ?? exportPDF, result: state.caseResult)
        state.exportProgress = (0, 1)
        state.status = StatusMessage("exporting \(state.caseName) to \(directory.path)…")
        startJob("exporting", side: true) { mailbox in
            do {
                let out = try handler(request) { done, total in mailbox.post { s in if s.exportProgress != nil { s.exportProgress = (done, total) } } }
                mailbox.post { s in
                    s.exportProgress = nil
                    s.lastExportPath = out.path
                    s.status = StatusMessage("exported to \(out.path)")
                }
            } catch {
                let message = "export failed: \(error)"
                mailbox.post { s in s.exportProgress = nil; s.status = StatusMessage(message, isError: true) }
            }
        }
    }

    // MARK: events

    /// Applies finished background work; returns true when something changed.
    @discardableResult
    public func applyBackgroundResults() -> Bool {
        let updates = mailbox.drain()
        let hadRecord = state.current != nil, hadAnalysis = state.analysis != nil
        for u in updates { u(&state) }
        // Grad-CAM follows the model: once scores exist for this case, compute the chosen head's map.
        if state.gradCAMOn, state.analysis != nil, let target = state.gradCAMTarget, state.gradCAM?.target != target {
            requestGradCAM()
        }
        if let started = caseChangeStarted {
            let ms = Date().timeIntervalSince(started) * 1000
            if !hadRecord, state.current != nil { state.lastCaseChangeMilliseconds.record = ms }
            if !hadAnalysis, state.analysis != nil { state.lastCaseChangeMilliseconds.analysis = ms; caseChangeStarted = nil }
            if state.loadError != nil || (cases == nil && state.current != nil) { caseChangeStarted = nil }
        }
        return !updates.isEmpty
    }

    /// Waits for background jobs, then applies their results (tests, benchmarks, `screen` snapshots).
    /// The default is generous: callers wait for the work, they do not time it (a loaded CI machine
    /// took over 60 s for one case's analysis and cines).
    @discardableResult
    public func waitForBackgroundWork(timeoutSeconds: Double = 600) -> Bool {
        // Applying results may start follow-up jobs (Grad-CAM after the scores): repeat until quiet.
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            guard mailbox.waitUntilIdle(timeoutSeconds: max(0, deadline.timeIntervalSinceNow)) else { return false }
            let busyBefore = state.busy
            applyBackgroundResults()
            if mailbox.isIdle && state.busy.isEmpty { return true }
            if Date() >= deadline { return false }
            _ = busyBefore
        }
    }

    public func handle(_ event: InputEvent) {
        switch event {
        case .resize: break  // the next frame is rendered at the new size
        case .mouse(let m): handleMouse(m)
        case .key(let key):
            if state.commandText != nil { handleCommandKey(key); return }
            if state.showHelp {
                switch key {
                case .escape, .character("?"), .character("q"): state.showHelp = false; state.helpPage = 0
                case .character("J"), .character("j"), .character(" "), .pageDown, .down: state.helpPage += 1
                case .character("K"), .character("k"), .pageUp, .up: state.helpPage = max(0, state.helpPage - 1)
                default: break
                }
                return
            }
            if let action = keyMap.action(for: key) { perform(action) }
            else { state.status = StatusMessage("key \(key) does nothing here — ? lists the keys") }
        }
    }

    public func perform(_ action: WorkstationAction) {
        // A key that does something clears an error left on the status line by an earlier step.
        if state.status.isError { state.status = WorkstationState().status }
        let leads = state.leadOrder
        let duration = state.current?.totalSeconds ?? 10
        switch action {
        case .quit: quitRequested = true
        case .help: state.showHelp.toggle()
        case .commandLine: state.commandText = ""
        case .escape:
            if state.showHelp { state.showHelp = false } else if state.medianBeatShown { state.medianBeatShown = false }
            else if state.zoomed { state.zoomed = false }
            else if state.caliperStartSeconds != nil { state.caliperStartSeconds = nil }
        case .redraw: lastPresented = nil
        case .nextCase, .previousCase:
            guard state.cases.count > 1 else { state.status = StatusMessage("only one ECG open"); return }
            let step = action == .nextCase ? 1 : -1
            loadCase((state.caseIndex + step + state.cases.count) % state.cases.count)
        case .nextLead, .previousLead:
            guard !leads.isEmpty else { return }
            let i = leads.firstIndex(of: state.selectedLead) ?? 0
            state.selectedLead = leads[(i + (action == .nextLead ? 1 : leads.count - 1)) % leads.count]
        case .toggleZoom: state.zoomed.toggle()
        case .toggleMedianBeat: state.medianBeatShown.toggle()
        case .cycleRhythmLead:
            guard !leads.isEmpty else { return }
            let i = leads.firstIndex(of: state.rhythmLead) ?? 0
            state.rhythmLead = leads[(i + 1) % leads.count]
            state.status = StatusMessage("rhythm strip: \(state.rhythmLead)")
        case .cursorLeft, .cursorRight, .cursorLeftFast, .cursorRightFast:
            // 4 ms: the resolution PR, QRS and QT are read at (a braille dot is coarser, so the
            // readout moves even when the line does not); 40 ms = one small box at 25 mm/s.
            let step: Double = action == .cursorLeft ? -0.004 : action == .cursorRight ? 0.004 : action == .cursorLeftFast ? -0.04 : 0.04
            state.cursorLandmark = nil
            moveCursor(to: state.cursorSeconds + step)
        case .snapNext, .snapPrevious:
            let marks = state.current?.caliperLandmarks ?? []
            let t = state.cursorSeconds
            let target = action == .snapNext ? marks.first { $0.seconds > t + 0.0005 } : marks.last { $0.seconds < t - 0.0005 }
            guard let target else { state.status = StatusMessage(marks.isEmpty ? "no detected onsets or offsets in this ECG" : "no further landmark"); return }
            moveCursor(to: target.seconds)
            state.cursorLandmark = target.name
        case .windowForward: moveWindow(to: state.window.startSeconds + state.window.durationSeconds)
        case .windowBack: moveWindow(to: state.window.startSeconds - state.window.durationSeconds)
        case .windowStart: moveWindow(to: 0)
        case .windowEnd: moveWindow(to: duration)
        case .cycleDisplayFilter: setDisplayFilter(state.displayFilter.next)
        case .toggleCaliper:
            if state.caliperStartSeconds == nil { state.caliperStartSeconds = state.cursorSeconds; state.status = StatusMessage("caliper set — move the cursor to measure; c clears") }
            else { state.caliperStartSeconds = nil; state.status = StatusMessage("caliper cleared") }
        case .gainUp: state.paper.stepGain(1); state.status = StatusMessage("gain \(state.paper.gainLabel)")
        case .gainDown: state.paper.stepGain(-1); state.status = StatusMessage("gain \(state.paper.gainLabel)")
        case .speedUp: state.paper.stepSpeed(1); moveCursor(to: state.cursorSeconds); state.status = StatusMessage("speed \(state.paper.speedLabel)")
        case .speedDown: state.paper.stepSpeed(-1); moveCursor(to: state.cursorSeconds); state.status = StatusMessage("speed \(state.paper.speedLabel)")
        case .resetPaper: state.paper = PaperSettings(); moveCursor(to: state.cursorSeconds); state.status = StatusMessage("25 mm/s, 10 mm/mV")
        case .toggleGradCAM:
            guard cases != nil else { state.status = StatusMessage("Grad-CAM needs a model — no model loaded", isError: true); return }
            state.gradCAMOn.toggle()
            // Where panes are tabbed, show the segment list (the traces keep their place if focused).
            if state.gradCAMOn, state.focus != .traces { state.focus = .gradCAM }
            if !state.gradCAMOn {
                state.status = StatusMessage("Grad-CAM off")
            } else if state.analysis == nil {
                state.status = StatusMessage("Grad-CAM on: waiting for the model")
            } else if let t = state.gradCAMTarget {
                state.status = StatusMessage("Grad-CAM on: \(t.output)")
            } else {
                state.status = StatusMessage("Grad-CAM: " + WorkstationAction.noGradCAMHint)
            }
            if state.gradCAMOn, state.gradCAM?.target != state.gradCAMTarget { requestGradCAM() }
        case .nextGradCAMHead, .previousGradCAMHead:
            let n = state.gradCAMTargets.count
            guard n > 0 else { state.status = StatusMessage("no heads to explain yet"); return }
            state.gradCAMHeadIndex = state.gradCAMHeadIndex.map { ($0 + (action == .nextGradCAMHead ? 1 : n - 1)) % n }
                ?? (action == .nextGradCAMHead ? 0 : n - 1)
            state.gradCAMOn = true
            state.status = StatusMessage("Grad-CAM head: \(state.gradCAMTarget?.output ?? "")")
            requestGradCAM()
        case .nextPane, .previousPane:
            let isWide = screen.size.width >= 120
            let panes: [PaneID] = isWide ? [.phenotypes, .gradCAM, .cmr] : PaneID.allCases
            let i = panes.firstIndex(of: state.focus) ?? -1
            state.focus = panes[(i + (action == .nextPane ? 1 : panes.count - 1) + panes.count) % panes.count]
        case .scrollDown, .scrollUp:
            let pane: PaneID = state.focus == .traces || state.focus == .risks ? .phenotypes : state.focus
            state.scroll[pane] = max(0, (state.scroll[pane] ?? 0) + (action == .scrollDown ? 5 : -5))
        case .playPause: state.cmrPlaying.toggle()
        case .stepFrameForward, .stepFrameBack:
            state.cmrPlaying = false
            let n = max(1, state.cmr?.sax.frames.count ?? 1)
            state.cmrFrame = (state.cmrFrame + (action == .stepFrameForward ? 1 : n - 1)) % n
        case .newSeed:
            state.cmrSeed &+= 1
            state.status = StatusMessage("CMR seed \(state.cmrSeed)")
            requestCMR()
        case .toggleUnreliable:
            guard state.analysis?.withheldReason != nil else {
                state.status = StatusMessage("nothing is withheld: this ECG is inside the model's training distribution")
                return
            }
            state.showUnreliable.toggle()
            state.status = StatusMessage(state.showUnreliable ? "showing withheld outputs greyed — " + OutOfDistributionVerdict.unreliableLabel
                                                              : "outputs withheld (out of distribution) — u shows them greyed")
        case .toggleAnatomyRange:
            guard cases?.canDrawAnatomyRange ?? false else {
                state.status = StatusMessage("this model predicts no calibrated 80 % intervals: the heart is its point estimate", isError: true)
                return
            }
            state.cmrAnatomy = state.cmrAnatomy == .pointEstimate ? .withinInterval80 : .pointEstimate
            state.status = StatusMessage("CMR " + state.cmrAnatomy.caption + (state.cmrAnatomy == .withinInterval80 ? " — s draws another" : ""))
            requestCMR()
        case .export: requestExport(to: exportDirectory)
        case .exportForPACS: requestExport(to: exportDirectory, dicom: true, pdf: true)
        }
    }

    func handleMouse(_ m: MouseEvent) {
        guard m.button == .left else {
            if m.button == .wheelDown { perform(.scrollDown) } else if m.button == .wheelUp { perform(.scrollUp) }
            return
        }
        if let region = hits.leads.first(where: { $0.rect.contains(x: m.x, y: m.y) }) {
            state.selectedLead = region.lead
            state.cursorSeconds = region.seconds(atColumn: m.x)
            state.cursorLandmark = nil
            state.status = StatusMessage(String(format: "%@ at %.0f ms", region.lead.description, state.cursorSeconds * 1000))
        } else if let (_, index) = hits.heads.first(where: { $0.0.contains(x: m.x, y: m.y) }) {
            state.gradCAMHeadIndex = index
            state.gradCAMOn = true
            state.status = StatusMessage("Grad-CAM head: \(state.gradCAMTarget?.output ?? "")")
            requestGradCAM()
        } else if let (_, pane) = hits.tabs.first(where: { $0.0.contains(x: m.x, y: m.y) }) {
            state.focus = pane
        }
    }

    func handleCommandKey(_ key: Key) {
        switch key {
        case .escape: state.commandText = nil
        case .enter:
            let text = state.commandText ?? ""
            state.commandText = nil
            runCommand(text)
        case .backspace:
            if state.commandText?.isEmpty == true { state.commandText = nil } else { state.commandText?.removeLast() }
        case .character(let c) where !(c.asciiValue.map { $0 < 0x20 } ?? false):
            state.commandText?.append(c)
        default: break
        }
    }

    /// `:` commands. Errors go to the status line; nothing here can end the program except :quit.
    public func runCommand(_ text: String) {
        let words = text.split(separator: " ", maxSplits: 1).map(String.init)
        guard let verb = words.first else { return }
        let arg = words.count > 1 ? words[1].trimmingCharacters(in: .whitespaces) : ""
        // The command line echoes what ran: a stale error from an earlier command does not outlive a
        // later success (a failing command replaces this with its own error).
        state.status = StatusMessage(":" + text)
        switch verb {
        case "q", "quit", "q!": quitRequested = true
        case "help", "h":
            state.status = StatusMessage("commands: " + WorkstationAction.commands.map { ":" + $0.0 }.joined(separator: "  "))
        case "open", "o", "e":
            guard !arg.isEmpty else { state.status = StatusMessage(":open needs a path", isError: true); return }
            open(URL(fileURLWithPath: (arg as NSString).expandingTildeInPath))
        case "case":
            guard let n = Int(arg), n >= 1, n <= state.cases.count else { state.status = StatusMessage(":case needs 1…\(state.cases.count)", isError: true); return }
            loadCase(n - 1)
        case "lead":
            let id = LeadID(parsing: arg)
            guard state.leadOrder.contains(id) else { state.status = StatusMessage("no lead \(arg) in this ECG", isError: true); return }
            state.selectedLead = id
        case "gain":
            guard let v = Double(arg), PaperSettings.gains.contains(v) else { state.status = StatusMessage("gain must be one of 2.5 5 10 20 40 mm/mV", isError: true); return }
            state.paper.gainMillimetresPerMillivolt = v
        case "speed":
            guard let v = Double(arg), PaperSettings.speeds.contains(v) else { state.status = StatusMessage("speed must be one of 12.5 25 50 100 mm/s", isError: true); return }
            state.paper.speedMillimetresPerSecond = v
        case "filter":
            guard let f = DisplayFilter(name: arg) else {
                state.status = StatusMessage("filter must be one of " + DisplayFilter.namesText, isError: true); return
            }
            setDisplayFilter(f)
        case "goto":
            guard let t = Double(arg.hasSuffix("s") ? String(arg.dropLast()) : arg), t.isFinite, t >= 0 else {
                state.status = StatusMessage(":goto needs a time in seconds", isError: true); return
            }
            state.cursorLandmark = nil
            moveCursor(to: t)
            state.status = StatusMessage(state.window.label)
        case "head":
            guard let risks = state.analysis?.risks, !risks.isEmpty else {
                state.status = StatusMessage(":head needs the model's scores — none yet", isError: true); return
            }
            switch HeadChoice.resolve(arg, among: risks) {
            case .found(let i):
                state.gradCAMHeadIndex = i; state.gradCAMOn = true
                state.status = StatusMessage("Grad-CAM head: \(risks[i].target.output) (\(risks[i].label))")
                requestGradCAM()
            case .failed(let error):
                state.status = StatusMessage(error.description, isError: true)
            }
        case "seed":
            guard let v = UInt64(arg) else { state.status = StatusMessage(":seed needs a whole number", isError: true); return }
            state.cmrSeed = v; requestCMR()
        case "graphics":
            let shown = screen.capabilities.imageProtocol.map { "CMR images: \($0.rawValue)" } ?? "CMR images: half blocks"
            state.status = StatusMessage((graphicsSummary ?? shown) + " — force with --graphics auto|kitty|sixel|blocks or \(GraphicsPreference.environmentVariable)")
        case "export":
            // `:export [--dicom] [--pdf] [DIR]`
            var words = arg.split(separator: " ").map(String.init)
            let dicom = words.contains("--dicom"), pdf = words.contains("--pdf")
            words.removeAll { $0 == "--dicom" || $0 == "--pdf" }
            let dir = words.joined(separator: " ")
            requestExport(to: dir.isEmpty ? exportDirectory : URL(fileURLWithPath: (dir as NSString).expandingTildeInPath),
                          dicom: dicom ? true : nil, pdf: pdf ? true : nil)
        default:
            state.status = StatusMessage("unknown command :\(verb) — :help lists commands", isError: true)
        }
    }

    // MARK: rendering and the loop

    private var lastPresented: CellGrid?

    /// Renders the current state at the screen's size and presents it.
    public func renderFrame() {
        let (grid, hits) = WorkstationRenderer.render(state, size: screen.size, theme: theme, keyMap: keyMap,
                                                      inlineImages: screen.capabilities.imageProtocol != nil,
                                                      cell: screen.capabilities.cellPixelSize)
        self.hits = hits
        if let last = lastPresented, last == grid { return }
        screen.present(grid)
        lastPresented = grid
    }

    public var isQuitRequested: Bool { quitRequested }

    /// The interactive loop: ~25 frames/s while something animates, events handled as they arrive.
    public func run() {
        renderFrame()
        var lastTick = Date(), lastCineFrame = Date()
        while !quitRequested {
            let animating = !state.busy.isEmpty || (state.cmrPlaying && state.cmr != nil)
            if let event = screen.nextEvent(timeoutMilliseconds: animating ? 40 : 200) {
                handle(event)
                // Drain queued keys before drawing so held keys don't lag behind.
                while !quitRequested, let more = screen.nextEvent(timeoutMilliseconds: 0) { handle(more) }
            }
            applyBackgroundResults()
            let now = Date()
            if now.timeIntervalSince(lastTick) >= 0.08 {
                lastTick = now
                if !state.busy.isEmpty { state.spinnerPhase += 1 }
            }
            // One cine loop per cardiac cycle at the patient's heart rate.
            let frameInterval = state.cineFrameIntervalSeconds
            if now.timeIntervalSince(lastCineFrame) >= frameInterval {
                let elapsed = Int(now.timeIntervalSince(lastCineFrame) / frameInterval)
                lastCineFrame = now
                if state.cmrPlaying, let n = state.cmr?.sax.frames.count, n > 0 { state.cmrFrame = (state.cmrFrame + max(1, min(elapsed, n))) % n }
            }
            if !quitRequested { renderFrame() }
        }
        // Let running model work finish before the process exits: OpenBLAS's exit handler can
        // hang on threads still inside a BLAS call.
        mailbox.cancelCaseWork()
        if !mailbox.isIdle {
            state.status = StatusMessage("finishing background work before quitting…")
            renderFrame()
            _ = mailbox.waitUntilIdle(timeoutSeconds: 15)
        }
    }
}

/// The case list of a folder: every ECG file below it, found by the same recursive discovery as
/// `screen` (`Screening.ECGFileDiscovery`: WFDB by its header, unknown extensions sniffed, symlink
/// loops broken), in walk order (names sorted at each level).
public enum CaseDiscovery {
    public static func ecgFiles(in folder: URL) -> [URL] {
        scan(folder).files
    }

    /// The files, and how many paths below the folder could not be examined (said in the status line).
    public static func scan(_ folder: URL) -> (files: [URL], unreadable: Int) {
        var files: [URL] = [], unreadable = 0
        for item in ECGFileDiscovery().discover([folder.path]) {
            switch item {
            case .ecgFile(let path): files.append(URL(fileURLWithPath: path))
            case .unreadable: unreadable += 1
            }
        }
        return (files, unreadable)
    }

    /// Display label only (export folders are named by `CaseExporter.caseName`): the case folder for files named like `ecg.hea` inside a case folder, else the file name.
    public static func displayName(for url: URL) -> String {
        let stem = url.deletingPathExtension().lastPathComponent.lowercased()
        if stem == "ecg" || stem.hasPrefix("ecg-") { return url.deletingLastPathComponent().lastPathComponent }
        return url.lastPathComponent
    }
}
