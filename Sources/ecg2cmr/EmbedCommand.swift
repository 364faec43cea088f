import ArgumentParser
import CaseAnalysis
import ECGFormats
import Foundation
import Screening

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write the ECG embedding of each file (file, sha256, model id, vector) to .npy, .jsonl or .csv.",
        discussion: """
        .jsonl: one {"file", "sha256", "model", "embedding"} object per line. .csv: file,sha256,model,e0,…
        .npy: a float32 [N, D] array, with <name>.index.csv (row,file,sha256,model) beside it.
        The vector is the bundle's aligned embedding (its pooled vector when it has no projection).
        """)

    @Argument(help: "ECG files or folders (searched recursively).")
    var paths: [String]

    @Option(name: .long, help: "Output file: embeddings.npy, embeddings.jsonl or embeddings.csv.")
    var out: String

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var inputOptions: InputOptions

    func validate() throws {
        do { _ = try EmbeddingExport.format(of: out) } catch { throw ValidationError("\(error)") }
        // Our own embeddings (any of the three forms) are replaced; anything else is refused.
        try refuseForeignOutput(out, what: "an embeddings file written by ecg2cmr") { head in
            head.starts(with: [0x93] + Array("NUMPY".utf8)) || head.starts(with: Array("file,sha256,model".utf8))
                || head.starts(with: Array("{\"file\"".utf8)) || head.starts(with: Array("{\"embedding\"".utf8))
        }
    }

    func run() throws {
        let cases = try modelOptions.load()
        var runner = EmbeddingRunner(cases: cases)
        runner.readerOptions.csvSamplingRate = inputOptions.csvSamplingRate
        let (rows, failures) = runner.run(paths: paths)
        try EmbeddingExport.write(rows, to: out)
        var lines = ["embedded \(rows.count) ECGs (\(rows.first?.vector.count ?? 0) values each, model \(cases.model.id)) into \(out), failed \(failures.count)"]
        for f in failures.prefix(20) { lines.append(TerminalText.sanitize("  failed: \(f.file): \(f.reason)")) }
        if failures.count > 20 { lines.append("  … \(failures.count - 20) more failures") }
        print(lines.joined(separator: "\n"))
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
