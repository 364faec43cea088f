import ArgumentParser
import Foundation
import Imaging
import NeuralCore

// Thin executable: argument parsing and wiring only. Each subcommand lives in its own file.
@main
struct ECG2CMR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecg2cmr",
        abstract: "A terminal workstation: 12-lead ECG in, CMR-level insight out (demonstration models).",
        version: CMRExportInfo.softwareVersion,
        subcommands: [ViewCommand.self, InfoCommand.self, ConvertCommand.self, ScreenGroup.self,
                      ExportCommand.self, ReportCommand.self, EmbedCommand.self, PrepareCommand.self, StudyCommand.self,
                      BenchCommand.self],
        defaultSubcommand: ViewCommand.self
    )

    static func main() {
        selectBLASKernels()
        main(nil)
    }

    /// Re-executes the program with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to kernels
    /// older than this CPU runs (see `BLASKernels`); the variable is read only at library load.
    static func selectBLASKernels() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil,
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = BLASKernels.recommendedCoreType(cpuFlags: BLASKernels.cpuFlags(cpuinfo: cpuinfo),
                                                         currentCore: BLASKernels.coreName) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")   // exec failed: carry on with OpenBLAS's own kernels
    }
}
