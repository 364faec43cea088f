import ArgumentParser

// Thin executable: argument parsing and wiring only. Each subcommand lives in its own file.
@main
struct ECG2CMR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecg2cmr",
        abstract: "A terminal workstation: 12-lead ECG in, CMR-level insight out (demonstration models).",
        version: "0.1.0",
        subcommands: [ViewCommand.self, InfoCommand.self, ConvertCommand.self, ScreenCommand.self,
                      ExportCommand.self, StudyCommand.self, BenchCommand.self],
        defaultSubcommand: ViewCommand.self
    )
}
