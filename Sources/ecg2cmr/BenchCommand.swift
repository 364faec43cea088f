import ArgumentParser
import CardiacModels
import Foundation
import NeuralCore

/// `ecg2cmr bench`: times the inference engine on a bundle (encoder + heads, Grad-CAM, CMR
/// generation, batch throughput). benchmarks/inference/run.sh runs it beside PyTorch.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the inference engine on a model bundle (pin OPENBLAS_NUM_THREADS to compare).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Timed runs per measurement (median reported).")
    var iterations: Int = 20

    @Option(name: .long, help: "ECGs per batch for the throughput figure.")
    var batch: Int = 16

    @Option(name: .long, help: "Frames per view for the generation figure.")
    var frames: Int = 50

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(name: .long, help: "Print the OpenBLAS kernel family in use (after ecg2cmr's own choice, see docs/PERFORMANCE.md) and exit.")
    var blasKernels = false

    /// Each batch ECG holds its input and activations (≈ 10 MB for the demo model), so the batch is
    /// bounded before anything is allocated; frames are bounded like the exporter's frame count.
    static let batches = 1...256, frameCounts = 1...500, iterationCounts = 1...10_000

    func validate() throws {
        guard Self.batches.contains(batch) else { throw ValidationError("--batch must be \(Self.batches.lowerBound)…\(Self.batches.upperBound) (got \(batch))") }
        guard Self.frameCounts.contains(frames) else { throw ValidationError("--frames must be \(Self.frameCounts.lowerBound)…\(Self.frameCounts.upperBound) (got \(frames))") }
        guard Self.iterationCounts.contains(iterations) else { throw ValidationError("--iterations must be \(Self.iterationCounts.lowerBound)…\(Self.iterationCounts.upperBound) (got \(iterations))") }
    }

    func run() throws {
        if blasKernels {
            print(BLASKernels.coreName)
            return
        }
        let url = try modelOptions.bundleURL()
        let bundle = try ModelBundle.load(from: url)
        let r = try InferenceBenchmark(bundle: bundle, iterations: iterations).run(batchSize: batch, frames: frames)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
            return
        }
        func ms(_ v: Double?) -> String { v.map { String(format: "%8.2f ms", $0) } ?? "       n/a" }
        print("model \(r.modelID): \(r.tokens) tokens × width \(r.width), \(r.depth) blocks; engine threads \(r.blasThreads) (OpenBLAS single-threaded), kernels \(r.blasCore); median of \(r.iterations)")
        print("encoder + all heads, one ECG  \(ms(r.encoderMilliseconds))   (\(String(format: "%.3f", r.encoderGFLOP)) GFLOP, \(String(format: "%.1f", r.achievedGFLOPS)) GFLOP/s = \(String(format: "%.0f", 100 * r.achievedGFLOPS / r.sgemmPeakGFLOPS)) % of sgemm peak \(String(format: "%.1f", r.sgemmPeakGFLOPS)) GFLOP/s)")
        print("Grad-CAM, one head            \(ms(r.gradCAMMilliseconds))")
        print("SAX + LAX, \(frames) frames each    \(ms(r.generationMilliseconds))")
        print("batch throughput              \(String(format: "%8.1f", r.encoderBatchECGPerSecond)) ECG/s (batches of \(batch); \(String(format: "%.1f", r.batchAchievedGFLOPS)) GFLOP/s = \(String(format: "%.0f", 100 * r.batchAchievedGFLOPS / r.sgemmPeakGFLOPS)) % of sgemm peak)")
        print("sgemm 1024³                   \(String(format: "%8.1f", r.sgemmPeakGFLOPS)) GFLOP/s on \(r.blasThreads) threads at once, \(String(format: "%.1f", r.sgemmOneThreadGFLOPS)) on one")
    }
}
