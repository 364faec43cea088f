import Foundation
import ECGFormats
import NeuralCore

/// Timings of the engine on one bundle (used by `ecg2cmr bench` and benchmarks/inference).
/// Inputs are deterministic pseudo-ECGs in the model's input space; every figure is the median of
/// `iterations` runs after one warm-up run.
public struct InferenceBenchmark: Sendable {
    public struct Result: Sendable, Codable {
        public var modelID: String
        public var tokens: Int
        public var width: Int
        public var depth: Int
        public var blasThreads: Int
        /// OpenBLAS kernel family in use (`BLASKernels.coreName`).
        public var blasCore: String
        public var iterations: Int
        /// Encoder forward FLOPs (multiply-adds × 2) for one ECG.
        public var encoderGFLOP: Double
        public var encoderMilliseconds: Double
        public var encoderBatchECGPerSecond: Double
        public var gradCAMMilliseconds: Double?
        public var generationMilliseconds: Double?
        /// 1024³ sgemm throughput over all `blasThreads` engine threads (one independent product per
        /// thread, run at once): what the machine's cores reach on this BLAS, the ceiling for the
        /// engine, which splits its own work over those threads.
        public var sgemmPeakGFLOPS: Double
        /// The same sgemm on one thread alone.
        public var sgemmOneThreadGFLOPS: Double
        /// GEMM throughput of one ECG's encoder pass, and of batched encoding (batch ECG/s × FLOPs per ECG).
        public var achievedGFLOPS: Double
        public var batchAchievedGFLOPS: Double
    }

    public let bundle: ModelBundle
    public let iterations: Int

    public init(bundle: ModelBundle, iterations: Int = 20) {
        self.bundle = bundle
        self.iterations = max(1, iterations)
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Median (or with `fastest`, the shortest) of `n` timed runs after one warm-up, in ms.
    static func time(_ n: Int, fastest: Bool = false, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var t: [Double] = []
        for _ in 0..<n {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            t.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return fastest ? (t.min() ?? 0) : median(t)
    }

    /// Deterministic ECG-like input in the model's input space.
    public static func syntheticInput(_ bundle: ModelBundle, seed: UInt64 = 7) -> PreparedECG {
        let spec = bundle.manifest.input
        var rng = SeededGaussian(seed: seed)
        let noise = rng.draw(spec.leads.count * spec.sampleCount)
        var v = [Float](repeating: 0, count: noise.count)
        for l in 0..<spec.leads.count {
            for i in 0..<spec.sampleCount {
                let t = Double(i) / spec.samplingRate
                let phase = (t * 1.2).truncatingRemainder(dividingBy: 1)
                let qrs = exp(-pow((phase - 0.3) / 0.015, 2)) * (Double(l % 5) - 2) * 0.6
                v[l * spec.sampleCount + i] = Float(qrs) + 0.05 * noise[l * spec.sampleCount + i]
            }
        }
        return PreparedECG(leads: spec.leads.map { LeadID(parsing: $0) }, samplingRate: spec.samplingRate,
                           sampleCount: spec.sampleCount, values: v)
    }

    /// FLOPs of one encoder forward (GEMMs only: patch embedding, qkv, attention, proj, MLP, heads).
    public static func encoderFLOPs(_ bundle: ModelBundle) -> Double {
        let e = bundle.encoder
        let t = Double(e.tokens), w = Double(e.width), p = Double(e.patch)
        let hidden = Double(e.blocks.first?.mlp.hidden ?? 0)
        var f = 2 * t * p * w
        f += Double(e.blocks.count) * (2 * t * w * 3 * w + 2 * 2 * t * t * w + 2 * t * w * w + 2 * 2 * t * w * hidden)
        f += 2 * w * Double(e.embeddingSize) + e.heads.reduce(0) { $0 + 2 * w * Double($1.linear.outFeatures) }
        return f
    }

    /// Measured single-precision GEMM throughput: `threads` independent 1024³ sgemms run at once
    /// (OpenBLAS itself is single-threaded, see `BLAS`), total FLOPs over the wall time of the
    /// fastest of 5 runs: a peak, so interference from other processes lowers it less than a median.
    public static func sgemmPeakGFLOPS(size n: Int = 1024, threads: Int = EngineThreads.budget) -> Double {
        let workers = max(1, threads)
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: workers * n * n)
        defer { c.deallocate() }
        c.initialize(repeating: 0, count: workers * n * n)
        let ms = time(5, fastest: true) {
            DispatchQueue.concurrentPerform(iterations: workers) { k in
                BLAS.gemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c + k * n * n, ldc: n)
            }
        }
        return 2 * Double(workers) * Double(n * n * n) / (ms / 1000) / 1e9
    }

    public func run(batchSize: Int = 16, frames: Int = 50) throws -> Result {
        let pipeline = try CardiacPipeline(bundle: bundle)
        let input = Self.syntheticInput(bundle)
        let encoderMs = Self.time(iterations) { _ = pipeline.analyse(input) }
        let batch = (0..<batchSize).map { Self.syntheticInput(bundle, seed: UInt64($0 + 1)) }
        let batchMs = Self.time(max(3, iterations / 4)) { _ = pipeline.analyse(batch: batch) }
        var gradMs: Double?
        if let t = bundle.headTargets.first {
            gradMs = try Self.time(iterations) { _ = try pipeline.gradCAM(input, target: t) }
        }
        var genMs: Double?
        if bundle.hasGenerator {
            let analysis = pipeline.analyse(input)
            genMs = try Self.time(max(1, iterations / 5)) { _ = try pipeline.generateCMR(for: analysis, seed: 1, frameCount: frames) }
        }
        let e = bundle.encoder
        let gflop = Self.encoderFLOPs(bundle) / 1e9, batchRate = Double(batchSize) / (batchMs / 1000)
        return Result(modelID: bundle.id, tokens: e.tokens, width: e.width, depth: e.blocks.count,
                      blasThreads: EngineThreads.budget, blasCore: BLASKernels.coreName, iterations: iterations,
                      encoderGFLOP: gflop, encoderMilliseconds: encoderMs,
                      encoderBatchECGPerSecond: batchRate,
                      gradCAMMilliseconds: gradMs, generationMilliseconds: genMs,
                      sgemmPeakGFLOPS: Self.sgemmPeakGFLOPS(), sgemmOneThreadGFLOPS: Self.sgemmPeakGFLOPS(threads: 1),
                      achievedGFLOPS: gflop / (encoderMs / 1000), batchAchievedGFLOPS: gflop * batchRate)
    }
}
