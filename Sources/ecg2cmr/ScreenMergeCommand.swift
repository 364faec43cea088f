import ArgumentParser
import ECGFormats
import Foundation
import Screening

/// `ecg2cmr screen merge`: the shards of a `screen --shard K/N` run into one results file
/// (docs/cluster.md).
struct ScreenMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the JSONL results of `screen --shard K/N` runs: one line per input, sorted by path.",
        discussion: """
            An input reported differently by two lines (its file changed, another model) is refused and \
            nothing is written. With --expect (the PATHs the shards screened, spelled the same way) every \
            input no shard reports is listed and the exit status is 1.
            """)

    @Argument(help: "Shard results files (.jsonl) written by `screen --shard`.")
    var shards: [String]

    @Option(name: .long, help: "The merged results file (.jsonl), replaced atomically.")
    var out: String

    @Option(name: .long, parsing: .upToNextOption, help: "The PATH arguments of the sharded screen: list the inputs that no shard reports.")
    var expect: [String] = []

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("give at least one shard results file") }
        guard out.lowercased().hasSuffix(".jsonl") else { throw ValidationError("--out must be a .jsonl file (shards are JSON Lines)") }
    }

    func run() throws {
        let report: ShardMergeReport
        do {
            report = try ShardMerge.merge(shards: shards, into: out, expect: expect.isEmpty ? nil : expect)
        } catch let error as ShardMergeError {
            FileHandle.standardError.write(Data("Error: \(TerminalText.sanitize(error.description, keepNewlines: true))\n".utf8))
            throw ExitCode.failure
        }
        var lines = ["merged \(report.shards) shard(s) into \(out): \(report.inputs) inputs (\(report.failedInputs) failed)"
                     + (report.identicalDuplicates > 0 ? ", \(report.identicalDuplicates) identical duplicate line(s) written once" : "")]
        if !expect.isEmpty {
            lines.append(report.missing.isEmpty ? "every input under --expect is reported"
                                                : "\(report.missing.count) input(s) under --expect are in no shard:")
            for path in report.missing.prefix(50) { lines.append(TerminalText.sanitize("  missing: \(path)")) }
            if report.missing.count > 50 { lines.append("  … \(report.missing.count - 50) more") }
            if report.unexpected > 0 {
                lines.append("note: \(report.unexpected) line(s) are for files not under --expect (were the PATHs spelled differently?)")
            }
        }
        print(lines.joined(separator: "\n"))
        if !report.missing.isEmpty { throw ExitCode.failure }
    }
}
