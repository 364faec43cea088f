import Foundation
import TestSupport
import ECGFormats
import NeuralCore
@testable import CardiacModels

/// The shipped bundle (assets/models/demo-v2) with its pipeline, and the prepared inputs of its
/// golden cases (Fixtures/golden-demo-v2.safetensors) — both written by the training pipeline's
/// export, so tests read a case exactly as PyTorch computed it.
struct DemoV2Golden {
    static let bundleURL = repoRoot.appendingPathComponent("assets/models/demo-v2")
    static let goldenURL = fixtures.appendingPathComponent("golden-demo-v2.safetensors")
    static let available = FileManager.default.fileExists(atPath: bundleURL.appendingPathComponent("manifest.json").path)
        && FileManager.default.fileExists(atPath: goldenURL.path)

    let bundle: ModelBundle
    let pipeline: CardiacPipeline
    let golden: SafeTensorsFile

    init() throws {
        bundle = try ModelBundle.load(from: Self.bundleURL)
        pipeline = try CardiacPipeline(bundle: bundle)
        golden = try SafeTensorsFile(url: Self.goldenURL)
    }

    /// Golden case `k`'s prepared input.
    func input(_ k: Int) throws -> PreparedECG {
        let spec = bundle.manifest.input
        return PreparedECG(leads: spec.leads.map { LeadID(parsing: $0) }, samplingRate: spec.samplingRate,
                           sampleCount: spec.sampleCount, values: try golden.tensor("case\(k).input").values)
    }
}
