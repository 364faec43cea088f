import CardiacModels
import ECGFormats
import Foundation
import Testing
@testable import CMRExport

/// Same input, same bits, for a whole export: the case exported alone and exported again while
/// other threads hammer the engine (batch encoder passes, Grad-CAM, CMR generation — on the same
/// pipeline and on a second one) must write the same files byte for byte. Before the engine owned
/// its threading this failed at random (a concurrent call changed OpenBLAS's process-wide thread
/// count, and the export's frames moved in their last bits).
@Suite(.serialized) struct ConcurrentExportTests {
    final class Hammer: @unchecked Sendable {
        private let lock = NSLock()
        private var stopped = false
        private(set) var rounds = 0
        private let group = DispatchGroup()

        func start(threads: Int, _ work: @escaping @Sendable (Int) -> Void) {
            for t in 0..<threads {
                group.enter()
                Thread.detachNewThread { [self] in
                    defer { group.leave() }
                    var k = t
                    while !lock.withLock({ stopped }) { work(k); k += threads; lock.withLock { rounds += 1 } }
                }
            }
        }

        func stop() -> Int {
            lock.withLock { stopped = true }
            group.wait()
            return lock.withLock { rounds }
        }
    }

    @Test func exportHasTheSameBytesBesideConcurrentModelCalls() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        // The demo bundle where the repository has it (its products are big enough for a threaded
        // OpenBLAS to split, as the workstation's are), else the tiny test bundle.
        let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("assets/models/demo-v2")
        let pipeline = FileManager.default.fileExists(atPath: demo.appendingPathComponent("manifest.json").path)
            ? try CardiacPipeline(bundle: ModelBundle.load(from: demo)) : try CaseExportTests.pipeline()
        var options = CaseExportTests.options(seed: 5)
        options.frameCount = 6
        let exporter = try CaseExporter(pipeline: pipeline, options: options)
        let alone = try exporter.export(record: record, into: out.appendingPathComponent("alone"))
        let reference = try GoldenExportTests.files(below: alone.caseDirectory)

        let tiny = try CaseExportTests.pipeline()
        let input = try pipeline.prepare(record), tinyInput = try tiny.prepare(record)
        let targets = Array(pipeline.bundle.manifest.heads.flatMap { h in h.outputs.map { HeadTarget(head: h.name, output: $0.id) } }.prefix(2))
        let hammer = Hammer()
        hammer.start(threads: 3) { k in
            switch k % 4 {
            case 0: _ = pipeline.analyse(batch: [input, input])
            case 1: _ = try? pipeline.gradCAMs(input, targets: targets)
            case 2: _ = try? pipeline.generateCMR(for: pipeline.analyse(input), seed: UInt64(k), frameCount: 4)
            default: _ = try? tiny.generateCMR(for: tiny.analyse(tinyInput), seed: UInt64(k), frameCount: 8)
            }
        }
        var beside: [[String: Data]] = []
        for i in 0..<3 {
            let r = try exporter.export(record: record, into: out.appendingPathComponent("beside-\(i)"))
            beside.append(try GoldenExportTests.files(below: r.caseDirectory))
        }
        let rounds = hammer.stop()
        #expect(rounds >= 3, "other threads ran model calls meanwhile (\(rounds))")
        #expect(reference.count > 10)
        for (i, files) in beside.enumerated() {
            #expect(Set(files.keys) == Set(reference.keys))
            let differing = reference.keys.filter { files[$0] != reference[$0] }.sorted()
            #expect(differing.isEmpty, "export \(i) beside other model calls differs in \(differing.count) files: \(differing.prefix(6))")
        }
    }
}
