import CardiacModels
import ECGFormats
import Foundation

/// The bytes as manifest.json of a bundle whose weights are the random-tiny test fixture: decode,
/// validation, layer construction against real weights; when that loads, one ECG through
/// preprocessing, the encoder and Grad-CAM, so sizes the manifest declares are exercised too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let bundle = try? ModelBundle.load(manifestData: Data(bytes: start, count: count), directory: fixtureBundle),
          let pipeline = try? CardiacPipeline(bundle: bundle),
          let prepared = try? pipeline.prepare(syntheticECG) else { return 0 }
    _ = pipeline.analyse(prepared)
    if let target = bundle.headTargets.first { _ = try? pipeline.gradCAM(prepared, target: target) }
    return 0
}

/// Tests/CardiacModelsTests/Fixtures/random-tiny (its own manifest.json is not read).
let fixtureBundle = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../../Tests/CardiacModelsTests/Fixtures/random-tiny").standardizedFileURL

/// 12 leads, 10 s at 500 Hz of a smooth synthetic wave (values are irrelevant; sizes are not).
let syntheticECG: ECGRecord = {
    let leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"].enumerated().map { i, name in
        Lead(id: LeadID(parsing: name), millivolts: (0..<5000).map { Float(sin(Double($0 + 37 * i) / 40)) })
    }
    return ECGRecord(leads: leads, samplingRate: 500, metadata: ECGMetadata(),
                     provenance: Provenance(format: .csv, path: "/fuzz/synthetic.csv", sha256: ""))
}()
