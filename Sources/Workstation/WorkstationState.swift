import CardiacModels
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
    /// Records longer than 60 s are never decoded whole: `record` holds one window (see SignalKit
    /// `AnalysisWindow`), `window` says which, and `source` reads any other window, e.g. to scroll
    /// (`source.read(startSeconds:durationSeconds:)`; `source.durationSeconds` is the whole length).
    /// Both nil when `record` is the whole record.
    public var source: ECGRecordSource?
    public var window: RecordSummary.AnalysedWindow?

    public init(url: URL, record: ECGRecord) {
        self.url = url
        self.record = record
        if let detected = try? RPeakDetector.detect(in: record) {
            heartRateBpm = detected.beats.heartRateBpm
            rhythm = detected.beats.rhythm
            rateLead = detected.lead
        }
        var notes: [String] = []
        if let assessor = try? LeadQualityAssessor(samplingRate: record.samplingRate) {
            for q in assessor.assess(record) where !q.flags.isEmpty {
                notes.append("\(q.lead) " + q.flags.map(\.title).joined(separator: ", "))
            }
        }
        qualityNotes = notes
        measurements = try? GlobalMeasurer.measure(record)
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
    public var gradCAMOn = false
    public var gradCAMHeadIndex = 0
    public var gradCAM: GradCAMMap?
    /// Where sample 0 of the Grad-CAM map sits in the record (the map carries it).
    public var gradCAMOffsetSeconds: Double { gradCAM?.recordOffsetSeconds ?? 0 }
    public var cmr: GeneratedCMR?
    /// The model's measured generator informativeness (shown under the cine); nil when unknown.
    public var generatorInformativeness: String?
    public var cmrFrame = 0
    public var cmrPlaying = true
    public var cmrSeed: UInt64 = 1
    public var paper = PaperSettings()
    public var selectedLead: LeadID = .ii
    public var zoomed = false
    public var rhythmLead: LeadID = .ii
    public var cursorSeconds = 1.0
    public var caliperStartSeconds: Double?
    public var focus: PaneID = .traces
    public var scroll: [PaneID: Int] = [:]
    public var showHelp = false
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
        return t.isEmpty ? nil : t[min(max(0, gradCAMHeadIndex), t.count - 1)]
    }

    public var windowSeconds: Double { TraceView.paperWidthMillimetres / paper.speedMillimetresPerSecond }

    /// Rhythm/zoom view start: follows the cursor when the speed shows less than the record.
    public var viewStartSeconds: Double {
        let duration = current?.record.durationSeconds ?? 10
        let window = windowSeconds
        guard duration > window else { return 0 }
        let start = (cursorSeconds / window).rounded(.down) * window
        return max(0, min(start, duration - window))
    }
}
