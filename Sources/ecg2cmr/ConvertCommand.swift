import ArgumentParser
import ECGFormats
import Foundation
import SignalKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert an ECG file to CSV (mV, the file's own leads and order), a WFDB record (format 16) or a DICOM ECG waveform.")

    enum Target: String, ExpressibleByArgument { case csv, wfdb, dicom }

    @Argument(help: "ECG file in any supported format.")
    var file: String

    @Option(name: .customLong("to"), help: "Output format: csv, wfdb or dicom (12-Lead ECG Waveform Storage, or General ECG when the record does not fit it).")
    var target: Target

    @Option(help: "Output path ('-' = standard output, CSV only). Default: CSV to standard output; WFDB to <name>.hea/.dat, DICOM to <name>.dcm in the current folder.")
    var out: String?

    @OptionGroup var inputOptions: InputOptions

    @Flag(help: "CSV output: start with a '# sampling_rate=…' comment line so the file reads back without --sampling-rate.")
    var rateComment = false

    @Option(help: "Write the signal as displayed: diagnostic (0.67–150 Hz), monitor (0.5–40 Hz), notch50, notch60, or none (default: as recorded). The bands and zero-phase filtering of the workstation and `report --ecg-filter`.")
    var filter: DisplayFilter = .off

    @Flag(help: "DICOM output: copy the patient ID and acquisition time from the input (default: anonymous placeholders).")
    var includePhi = false

    func run() throws {
        let input = URL(fileURLWithPath: file)
        let record = try filter.apply(to: ECGFileReader.read(url: input, options: .init(csvSamplingRate: inputOptions.csvSamplingRate)))
        switch target {
        case .csv:
            let text = CSVWriter.csvText(record, rateComment: rateComment)
            if out == nil || out == "-" {
                FileHandle.standardOutput.write(Data(text.utf8))
            } else if let out {
                try CSVWriter.write(record, to: URL(fileURLWithPath: out), rateComment: rateComment)
            }
        case .wfdb:
            if out == "-" { throw ValidationError("WFDB is a pair of files (.hea and .dat); give --out PATH, not '-'") }
            let stem = input.deletingPathExtension().lastPathComponent.replacingOccurrences(of: " ", with: "_")
            let target = URL(fileURLWithPath: out ?? stem)
            try WFDBWriter.write(record, to: target)
            var base = target
            if ["hea", "dat"].contains(base.pathExtension.lowercased()) { base = base.deletingPathExtension() }
            FileHandle.standardError.write(Data("wrote \(base.path).hea and \(base.path).dat\n".utf8))
        case .dicom:
            if out == "-" { throw ValidationError("give --out PATH for DICOM output, not '-'") }
            let stem = input.deletingPathExtension().lastPathComponent.replacingOccurrences(of: " ", with: "_")
            let target = URL(fileURLWithPath: out ?? stem + ".dcm")
            try DICOMWaveformWriter.write(record, to: target, options: .init(includePHI: includePhi))
            FileHandle.standardError.write(Data("wrote \(target.path)\n".utf8))
        }
    }
}
