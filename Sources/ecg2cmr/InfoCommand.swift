import ArgumentParser
import ECGFormats
import Foundation
import SignalKit

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an ECG file's leads, sampling rate, duration, heart rate, lead quality and metadata.")

    @Argument(help: "ECG file: WFDB (.hea or record name), CSV/TSV, HL7 aECG, DICOM, GE MUSE XML, CardioSoft XML, SCP-ECG.")
    var file: String

    @Flag(help: "Print JSON (leads in file order, samplingRate, sampleCount, durationSeconds, format, …).")
    var json = false

    @OptionGroup var inputOptions: InputOptions

    @Option(help: "For records longer than 60 s: analyse the 10 s from this second (default: the first clean 10 s).")
    var window: Double?

    @Option(help: "Length in seconds of the analysed window of a long record (default 10; from --window, else from 0 s).")
    var windowLength: Double?

    @Flag(help: "List the detected beats (R peaks, found on all usable leads): 0-based sample indices at the record's rate, counted from the record's start, within the analysed window.")
    var beats = false

    func run() throws {
        // Long records (24-hour Holter) are never decoded whole: the shape comes from the header and
        // heart rate, quality and measurements from one 10 s window, which the output names.
        let source = try ECGRecordSource.open(url: URL(fileURLWithPath: file), options: .init(csvSamplingRate: inputOptions.csvSamplingRate))
        let analysed = try AnalysisWindow.choose(in: source, requestedStartSeconds: window ?? (windowLength == nil ? nil : 0),
                                                 requestedSeconds: windowLength)
        let record = analysed.record
        var summary = RecordSummary(record: record)
        if !analysed.isWholeRecord {
            summary.analysedWindow = analysed.summary
            summary.sampleCount = source.sampleCount
            summary.durationSeconds = source.durationSeconds
            // sha256 stays the analysed window's: the bytes read for it, named by sha256Scope.
        }
        // Heart rate, quality flags and measurements are SignalKit's; what fails there stays empty
        // (measurements: every value null, `note` says why).
        let vitals = RecordVitals(of: record)
        if let found = vitals.beats {
            summary.heartRateBpm = found.analysis.heartRateBpm
            summary.heartRateLead = found.lead.description
            summary.rhythm = found.analysis.rhythm.rawValue
            summary.beatLeads = vitals.beatLeads.map(\.description)
            if beats {
                let offset = analysed.isWholeRecord ? 0 : Int((analysed.startSeconds * record.samplingRate).rounded())
                summary.beats = found.analysis.rPeakIndices.map { $0 + offset }
            }
        } else if beats {
            summary.beats = []
        }
        summary.quality = vitals.quality?.map { .init(lead: $0.lead.description, flags: $0.flags.map(\.title), usable: $0.isUsable) }
        summary.measurements = vitals.measurementSummary
        summary.leadAmplitudes = vitals.measurements?.leads
        if let device = summary.deviceMeasurements, let ours = vitals.measurements?.summary {
            summary.measurementDisagreements = ours.disagreements(with: device)
        }
        // Lead names and metadata come from the file: no control or escape sequence reaches the terminal.
        print(json ? try summary.json() : TerminalText.sanitize(summary.text(), keepNewlines: true))
    }
}
