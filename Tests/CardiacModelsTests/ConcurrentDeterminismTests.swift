import Foundation
import Testing
import TestSupport
import ECGFormats
import NeuralCore
@testable import CardiacModels

// Same input, same bits: an analysis, its Grad-CAM maps and its generated cines must not depend on
// what else the process is running. Other threads hammer the same engine (batch encoder passes,
// Grad-CAM, generation) while the case is computed again; every value must equal the lone run's
// bit for bit. Before the engine owned its threading, concurrent calls changed OpenBLAS's
// process-wide thread count under each other and the frames moved in their last bits.

private let haveDemoV2 = DemoV2Golden.available

/// Everything a case's export is computed from, as raw float bits.
private struct CaseBits: Equatable {
    var embedding: [UInt32]
    var heads: [String: [UInt32]]
    var cams: [[UInt32]]
    var sax: [[UInt32]]
    var lax: [[UInt32]]

    init(pipeline: CardiacPipeline, input: PreparedECG, targets: [HeadTarget], seed: UInt64) throws {
        let a = pipeline.analyse(input)
        embedding = a.embedding.map(\.bitPattern)
        heads = a.rawHeads.mapValues { $0.map(\.bitPattern) }
        cams = try pipeline.gradCAMs(input, targets: targets).map { $0.values.map(\.bitPattern) }
        let cmr = try pipeline.generateCMR(for: a, seed: seed, frameCount: 4)
        sax = cmr.sax.frames.map { $0.map(\.bitPattern) }
        lax = cmr.lax.frames.map { $0.map(\.bitPattern) }
    }
}

@Test(.enabled(if: haveDemoV2, "assets/models/demo-v2 is written by the training pipeline"))
func aCaseComputesTheSameBitsBesideConcurrentModelCalls() throws {
    let demo = try DemoV2Golden()
    let pipeline = demo.pipeline
    let cases = try (0..<3).map(demo.input)
    let targets = [HeadTarget(head: "risk", output: "cad"), HeadTarget(head: "risk", output: "heart_failure"),
                   HeadTarget(head: "phenotype", output: "lv_edv")]
    let alone = try CaseBits(pipeline: pipeline, input: cases[0], targets: targets, seed: 7)
    #expect(try CaseBits(pipeline: pipeline, input: cases[0], targets: targets, seed: 7) == alone,
            "the same case twice in a row")

    // Three threads: a batch of ECGs through the encoder, Grad-CAM of another case, a generation.
    let hammer = ConcurrentHammer()
    hammer.start(threads: 3) { k in
        switch k % 3 {
        case 0: _ = pipeline.analyse(batch: cases + cases)
        case 1: _ = try? pipeline.gradCAMs(cases[1], targets: targets)
        default: _ = try? pipeline.generateCMR(for: pipeline.analyse(cases[2]), seed: UInt64(k), frameCount: 4)
        }
    }
    var beside: [CaseBits] = []
    for _ in 0..<2 { beside.append(try CaseBits(pipeline: pipeline, input: cases[0], targets: targets, seed: 7)) }
    let rounds = hammer.stop()
    #expect(rounds >= 3, "the other threads ran model calls meanwhile (\(rounds))")
    for (i, b) in beside.enumerated() {
        #expect(b.embedding == alone.embedding && b.heads == alone.heads, "run \(i): analysis differs beside other calls")
        #expect(b.cams == alone.cams, "run \(i): Grad-CAM differs beside other calls")
        #expect(b.sax == alone.sax && b.lax == alone.lax, "run \(i): generated frames differ beside other calls")
    }
}

@Test(.enabled(if: haveDemoV2, "assets/models/demo-v2 is written by the training pipeline"))
func anECGHasTheSameBitsAloneAndInABatch() throws {
    let demo = try DemoV2Golden()
    let pipeline = demo.pipeline
    let cases = try (0..<3).map(demo.input)
    let batch = pipeline.analyse(batch: cases)
    for (k, c) in cases.enumerated() {
        let alone = pipeline.analyse(c)
        #expect(alone.embedding.map(\.bitPattern) == batch[k].embedding.map(\.bitPattern), "case \(k): embedding alone vs in a batch")
        #expect(alone.rawHeads.mapValues { $0.map(\.bitPattern) } == batch[k].rawHeads.mapValues { $0.map(\.bitPattern) },
                "case \(k): heads alone vs in a batch")
    }
}
