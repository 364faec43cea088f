import CaseAnalysis
import CaseAnalysis
import ECGFormats
import Foundation
import SignalKit

/// One loaded ECG plus what SignalKit says about it (computed off the UI thread).
public struct LoadedCase: Sendable {
    public var url: URL
    public var record: ECGRecord
    public var heartRateBpm: Double?
    public var rhythm: RhythmHint?
    /// Lead the rate was measured on.
    public var rateLead: LeadID?
    /// Short quality notes, e.g. "V3 excessive noise"; empty when every lead is clean.
    public var qualityNotes: [String]
    /// ecg2cmr's global measurements; nil when they could not be made.
    public var measurements: GlobalMeasurements?
    /// Detected R peaks (s), for the caliper's landmarks.
    public var rPeakSeconds: [Double] = []
    /// Reference annotations from the WFDB annotation file beside the record (`100.atr`), if any.
    public var annotations: [WFDBAnnotation] = []
    /// Which annotation file was read, or why it could not be (shown in the status line).
    public var annotationNote: String?
    /// Records longer than 60 s are never decoded whole: `record` holds one window (see SignalKit
    /// `AnalysisWindow`), `window` says which, and `source` reads any other window, e.g. to scroll
    /// (`source.read(startSeconds:durationSeconds:)`; `source.durationSeconds` is the whole length).
    /// Both nil when `record` is the whole record.
    public var source: ECGRecordSource?
    public var window: RecordSummary.AnalysedWindow?
    /// Where `record` starts in the whole record (s): the traces and the caliper use record time,
    /// so a scrolled long record reads the window it shows from `source` (`segmentStartSeconds`).
    public var segmentStartSeconds = 0.0
    /// The whole record's length (s), also when only a window is decoded.
    public var totalSeconds: Double { source?.durationSeconds ?? record.durationSeconds }

    public init(url: URL, record: ECGRecord) {
        self.url = url
        self.record = record
        let vitals = RecordVitals(of: record)
        if let detected = vitals.beats {
            heartRateBpm = detected.analysis.heartRateBpm
            rhythm = detected.analysis.rhythm
            rateLead = detected.lead
            rPeakSeconds = detected.analysis.rPeakIndices.map { Double($0) / record.samplingRate }
        }
        if record.provenance.format == .wfdb, let atr = WFDBAnnotationReader.companion(of: url) {
            do {
                annotations = try WFDBAnnotationReader.read(url: atr)
                annotationNote = "\(annotations.filter(\.isBeat).count) annotated beats from \(atr.lastPathComponent)"
            } catch {
                annotationNote = "annotations not shown: \(error)"
            }
        }
        qualityNotes = (vitals.quality ?? []).filter { !$0.flags.isEmpty }.map { "\($0.lead) " + $0.flags.map(\.title).joined(separator: ", ") }
        measurements = vitals.measurements
    }

    /// Where the caliper can snap: every detected beat's R peak and the global onsets and offsets
    /// (the representative beat's fiducials placed on each beat), in record seconds, sorted.
    public var caliperLandmarks: [(seconds: Double, name: String)] {
        var out: [(seconds: Double, name: String)] = []
        let f = measurements?.fiducials
        for r in rPeakSeconds {
            out.append((r, "R peak"))
            guard let f else { continue }
            let points: [(Double?, String)] = [(f.pOnsetMs, "P onset"), (f.pOffsetMs, "P offset"), (f.qrsOnsetMs, "QRS onset"),
                                               (f.qrsOffsetMs, "QRS offset"), (f.tOffsetMs, "T end")]
            for case let (ms?, name) in points { out.append((r + ms / 1000, name)) }
        }
        return out.filter { $0.seconds >= 0 && $0.seconds < record.durationSeconds }
            .map { ($0.seconds + segmentStartSeconds, $0.name) }.sorted { $0.seconds < $1.seconds }
    }

    /// This case showing `segment` (read from `source`, starting at `startSeconds` of the whole
    /// record): R peaks are found again for the caliper; rate, quality and measurements stay those
    /// of the analysed window.
    public func showing(segment: ECGRecord, startSeconds: Double) -> LoadedCase {
        var c = self
        c.record = segment
        c.segmentStartSeconds = startSeconds
        c.rPeakSeconds = ((try? RPeakDetector.detect(in: segment))?.map { $0.beats.rPeakIndices } ?? [])
            .map { Double($0) / segment.samplingRate }
        return c
    }

    /// Annotated beats as trace marks (record seconds, symbol).
    public var beatMarks: [(seconds: Double, symbol: String)] {
        guard record.samplingRate > 0 else { return [] }
        return annotations.filter(\.isBeat).map { (Double($0.sample) / record.samplingRate, $0.symbol) }
    }
}

/// The panels besides the traces. At narrow widths Tab cycles the main area through them.
public enum PaneID: String, Sendable, CaseIterable {
    case traces, risks, phenotypes, gradCAM = "grad-cam", cmr
    var title: String {
        switch self {
        case .traces: return "Traces"
        case .risks: return "Risks"
        case .phenotypes: return "Phenotypes"
        case .gradCAM: return "Grad-CAM"
        case .cmr: return "CMR"
        }
    }
}

public enum ModelStatus: Sendable {
    case none(reason: String)
    case loaded(id: String, isSynthetic: Bool, disclaimer: String)
}

public struct StatusMessage: Sendable, Equatable {
    public var text: String
    public var isError: Bool
    public init(_ text: String, isError: Bool = false) { self.text = text; self.isError = isError }
}

/// Everything the screen shows. Mutated only on the UI thread; background results arrive as
/// closures applied by the run loop.
public struct WorkstationState: Sendable {
    public var cases: [URL] = []
    public var caseIndex = 0
    /// Bumped on every case change so late results for an older case are dropped.
    public var generation = 0
    public var current: LoadedCase?
    public var loadError: String?
    public var model: ModelStatus = .none(reason: "no model loaded")
    public var analysis: ECGAnalysis?
    /// The model's input window of the current case, kept so Grad-CAM and export reuse it.
    public var prepared: PreparedECG?
    public var analysisError: String?
    /// Why the model does not apply to this record (e.g. a 2-lead Holter lacks its leads): not an error.
    public var modelNotApplicable: String?
    public var gradCAMOn = false
    /// For an out-of-distribution ECG: show its withheld outputs, greyed and labelled unreliable
    /// (key `u`); otherwise the risk and phenotype panels say why they are withheld.
    public var showUnreliable = false
    /// The risk head whose Grad-CAM is shown (index into `gradCAMTargets`); nil = none chosen: the
    /// analysis sets the flagged finding the model is surest of (CaseAnalysis.defaultGradCAMTarget), if any.
    public var gradCAMHeadIndex: Int?
    public var gradCAM: GradCAMMap?
    /// Where sample 0 of the Grad-CAM map sits in the record (the map carries it).
    public var gradCAMOffsetSeconds: Double { gradCAM?.recordOffsetSeconds ?? 0 }
    public var cmr: GeneratedCMR?
    /// The model's measured generator informativeness (shown under the cine); nil when unknown.
    public var generatorInformativeness: String?
    public var cmrFrame = 0
    public var cmrPlaying = true
    public var cmrSeed: UInt64 = 1
    /// The generated heart's anatomy: the printed point estimate, or a draw within the 80 % intervals (`a`).
    public var cmrAnatomy: AnatomyMode = .pointEstimate
    public var paper = PaperSettings()
    /// The filter applied to the drawn traces (never to the model or the measurements).
    public var displayFilter: DisplayFilter = .off
    /// `current.record` through `displayFilter`; nil when the filter is off or failed.
    public var displayRecord: ECGRecord?
    /// Start of the shown window (s); the 12-lead grid and the rhythm strip scroll together.
    public var windowStartSeconds = 0.0
    /// The caliper landmark the cursor last snapped to ("QRS onset"); cleared by other moves.
    public var cursorLandmark: String?
    public var selectedLead: LeadID = .ii
    public var zoomed = false
    /// The traces area shows the selected lead's median beat with both sets of marks (key m).
    public var medianBeatShown = false
    public var rhythmLead: LeadID = .ii
    public var cursorSeconds = 1.0
    public var caliperStartSeconds: Double?
    public var focus: PaneID = .traces
    public var scroll: [PaneID: Int] = [:]
    public var showHelp = false
    /// Page of the help overlay (a small terminal wraps the key list onto more than one page).
    public var helpPage = 0
    /// Text typed after ":"; nil when the command line is closed.
    public var commandText: String?
    public var status = StatusMessage("? help · : command · q quit")
    /// Names of jobs running in the background (drives the spinner).
    public var busy: [String] = []
    public var spinnerPhase = 0
    public var exportProgress: (done: Int, total: Int)?
    public var lastExportPath: String?
    /// Milliseconds from the case-change key to the screen showing the record / the model output.
    public var lastCaseChangeMilliseconds: (record: Double?, analysis: Double?) = (nil, nil)

    public init() {}

    public var caseName: String {
        guard !cases.isEmpty else { return "no file" }
        return CaseDiscovery.displayName(for: cases[min(caseIndex, cases.count - 1)])
    }

    /// The record's leads in display order (standard 12 first).
    public var leadOrder: [LeadID] {
        guard let record = current?.record else { return LeadID.standard12 }
        return record.leads.map(\.id)
    }

    /// The current case as far as the model has got (scores, then the Grad-CAM and cines shown);
    /// the export completes and writes this, so the encoder runs once per case.
    public var caseResult: CaseResult? {
        guard let record = current?.record, let prepared, let analysis else { return nil }
        return CaseResult(record: record, modelID: analysis.modelID, prepared: prepared, analysis: analysis, gradCAM: gradCAM, cmr: cmr)
    }

    /// Heads that Grad-CAM can target: the risk heads, in panel order.
    public var gradCAMTargets: [HeadTarget] { analysis?.risks.map(\.target) ?? [] }
    public var gradCAMTarget: HeadTarget? {
        let t = gradCAMTargets
        guard let i = gradCAMHeadIndex, !t.isEmpty else { return nil }
        return t[min(max(0, i), t.count - 1)]
    }

    public var windowSeconds: Double { TraceView.paperWidthMillimetres / paper.speedMillimetresPerSecond }

    /// The part of the record on screen (grid, rhythm strip and zoom view alike).
    public var window: RecordWindow {
        RecordWindow(startSeconds: windowStartSeconds, durationSeconds: windowSeconds,
                     recordSeconds: current?.totalSeconds ?? windowSeconds)
    }
    public var viewStartSeconds: Double { window.startSeconds }

    /// What the traces draw: the filtered record when a display filter is on.
    public var shownRecord: ECGRecord? { displayRecord ?? current?.record }

    /// Seconds per cine frame so one loop lasts one cardiac cycle at the patient's rate (60/HR s);
    /// 12.5 frames/s when the rate is unknown, and never faster than 50 or slower than 2 frames/s.
    public var cineFrameIntervalSeconds: Double {
        guard let hr = current?.heartRateBpm, hr > 0, let n = cmr?.sax.frames.count, n > 0 else { return 0.08 }
        return max(0.02, min(0.5, 60 / hr / Double(n)))
    }
}
