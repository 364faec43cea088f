import ArgumentParser
import CaseAnalysis
import ECGFormats
import Foundation
import Screening

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Prepare a paired ECG–CMR dataset for training: every ECG through this engine's readers and the bundle's preprocessing.",
        discussion: """
        DATASET is a CSV manifest (subject, ecg, sax, lax, split, label:ID…, phenotype:ID…; \
        docs/training-on-real-data.md). Writes OUT/ecg/<subject>.npy (float32 [leads, samples], exactly \
        the model input inference computes) and OUT/index.json (sha256 of every ECG and cache file, \
        labels, phenotypes, CMR paths, the bundle's preprocessing). CMR cines are read by the training \
        code (pydicom / nibabel). Exit status 1 when any ECG failed (listed in index.json).
        """)

    @Argument(help: "Dataset manifest (CSV).")
    var dataset: String

    @Option(name: .long, help: "Output cache folder.")
    var out: String

    /// The bundle whose preprocessing is applied.
    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        let cases = try modelOptions.load()
        let set = try PairedDataset.load(dataset)
        var prep = DatasetPreparation(cases: cases)
        prep.readerOptions.csvSamplingRate = inputOptions.csvSamplingRate
        let summary = try prep.prepare(set, into: URL(fileURLWithPath: out))
        var lines = ["prepared \(summary.prepared) of \(set.subjects.count) subjects (model \(cases.model.id), "
                     + "\(cases.model.input.sampleCount) samples at \(cases.model.input.samplingRate) Hz) into \(out), failed \(summary.failures.count)"]
        for f in summary.failures.prefix(20) { lines.append(TerminalText.sanitize("  failed: \(f.subject) \(f.file): \(f.reason)")) }
        if summary.failures.count > 20 { lines.append("  … \(summary.failures.count - 20) more failures") }
        print(lines.joined(separator: "\n"))
        if !summary.failures.isEmpty { throw ExitCode(1) }
    }
}
