import Foundation
import Testing
@testable import NeuralCore

/// Seeded random weights for any name and shape (a stand-in file of weights, not a model).
private struct RandomWeights: WeightSource {
    let seed: UInt64
    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        var state = seed ^ UInt64(truncatingIfNeeded: name.hashValue == 0 ? 1 : name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })
        let count = shape.reduce(1, *)
        let values: [Float] = (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) - 0.5) * 0.2
        }
        return Tensor(shape: shape, values: values)
    }
    func contains(_ name: String) -> Bool { true }
}

private func randomInput(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 4 - 2
    }
}

/// The engine's split of a transformer block gives the same bits whatever the thread count and
/// whatever other sequences share the batch: work items depend on the sequence length alone.
@Test(arguments: [7, 61, 97, 130, 601])   // 601: more rows than TransformerBlock.rowsPerPart, so several pieces
func blockResultDoesNotDependOnThreadsOrBatch(tokens t: Int) throws {
    let width = 48, hidden = 192
    let block = try TransformerBlock(RandomWeights(seed: 11), "b", width: width, heads: 4, hidden: hidden, eps: 1e-6)
    let b = 3
    let input = randomInput(b * t * width, seed: UInt64(t))
    func run(sequences: Int, from first: Int, threads: Int) -> [UInt32] {
        var x = Array(input[(first * t * width)..<((first + sequences) * t * width)])
        var scratch = [Float](repeating: 0, count: block.parallelScratchCount(tokens: t, sequences: sequences, threads: 8))
        x.withUnsafeMutableBufferPointer { xp in
            scratch.withUnsafeMutableBufferPointer { block.forwardParallel(xp.baseAddress!, tokens: t, sequences: sequences, scratch: $0.baseAddress!, threads: threads) }
        }
        return x.map(\.bitPattern)
    }
    let reference = run(sequences: b, from: 0, threads: 1)
    for threads in [2, 3, 5, 8] {
        #expect(run(sequences: b, from: 0, threads: threads) == reference, "\(threads) threads vs 1")
    }
    for s in 0..<b {
        #expect(run(sequences: 1, from: s, threads: 2) == Array(reference[(s * t * width)..<((s + 1) * t * width)]),
                "sequence \(s) alone vs in a batch of \(b)")
    }
}

@Test func openBLASStaysSingleThreadedOnceTheEngineRuns() {
    #expect(EngineThreads.budget >= 1 && EngineThreads.budget <= EngineThreads.maxThreads)
    var c: Float = 0
    let a: [Float] = [1, 2], bb: [Float] = [3, 4]
    BLAS.gemm(transB: true, m: 1, n: 1, k: 2, a: a, lda: 2, b: bb, ldb: 2, c: &c, ldc: 1)
    #expect(c == 11)
    #expect(BLAS.libraryThreadCount == 1, "OpenBLAS's process-wide thread count is never the engine's budget")
    #expect(EngineThreads.threads(limit: 1) == 1)
}
