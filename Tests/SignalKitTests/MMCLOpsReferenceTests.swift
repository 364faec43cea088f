import Foundation
import SignalKit
import TestSupport
import Testing

/// σ-clip, ALS baseline, z-score per lead group and the MMCL / CardiacNets preset op lists, on real
/// records (tests/records: CinC 2021 at 500 Hz, PTB s0010_re at 1000 Hz with lower-case
/// lead names), against `training/ecg2cmr_train/preprocess.py` (scipy / numpy) run by
/// `training/ops_reference.py`. Disabled (with the reason) without python3 + scipy + wfdb.
private let repoRoot = TestEnvironment.repositoryRoot
private let records = TestEnvironment.records

private let referenceAvailable = TestEnvironment.pythonCanImport("scipy, wfdb, pywt, torch")

private func readF64(_ url: URL) throws -> [Double] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { raw in (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.load(fromByteOffset: $0 * 8, as: UInt64.self))) } }
}

@Test(.enabled(if: referenceAvailable, "needs python3 with scipy, wfdb, PyWavelets and torch"))
func mmclPreprocessingOpsMatchPythonReferenceOnRealRecords() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsref-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", repoRoot.appendingPathComponent("training/ops_reference.py").path,
                   "--records", records.path, "--out", dir.path]
    p.standardOutput = FileHandle.nullDevice
    let err = Pipe()
    p.standardError = err
    try p.run()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        Issue.record("ops_reference.py failed: \(errText.suffix(2000))")
        return
    }
    let index = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("index.json"))) as! [[String: Any]]
    #expect(index.count == 24)
    var worst: [String: Double] = [:]
    for c in index {
        let name = c["case"] as! String
        let leads = c["leads"] as! [String]
        let inShape = (c["inShape"] as! [NSNumber]).map(\.intValue), outShape = (c["outShape"] as! [NSNumber]).map(\.intValue)
        let x = try readF64(dir.appendingPathComponent("\(name).in.f64"))
        let ref = try readF64(dir.appendingPathComponent("\(name).out.f64"))
        let n = inShape[1]
        let input = (0..<inShape[0]).map { l in x[(l * n)..<((l + 1) * n)].map { Float($0) } }
        let pipeline = try SignalPipeline(manifestOps: c["ops"] as! [[String: Any]])
        let out = try pipeline.apply(leadMajor: input, samplingRate: (c["rate"] as! NSNumber).doubleValue, leadNames: leads)
        #expect(out.sampleCount == outShape[1] && out.values.count == ref.count, "\(name)")
        guard out.values.count == ref.count else { continue }
        let scale = ref.map(abs).max() ?? 1
        let rel = zip(out.values, ref).map { abs(Double($0) - $1) }.max()! / max(scale, 1e-12)
        let op = String(name.split(separator: ".").last!)
        worst[op] = max(worst[op] ?? 0, rel)
        #expect(rel <= 1e-5, "\(name): max |Δ| / max |ref| = \(rel)")
    }
    print("ops parity (max |Δ| / max |ref| over 4 real records): \(worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
}

@Test func leadGroupZScoreUsesOneMeanAndSDPerGroup() throws {
    let pipeline = try SignalPipeline(manifestOps: [["op": "normalise", "mode": "zscore-group", "groups": [["I", "II"], ["v1"]]]])
    let out = try pipeline.apply(leadMajor: [[1, 2, 3], [5, 6, 7], [0, 0, 4], [9, 9, 9]], samplingRate: 1,
                                 leadNames: ["I", "II", "V1", "V2"])
    let g: [Double] = [1, 2, 3, 5, 6, 7]
    let mu = g.reduce(0, +) / 6, sd = (g.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 6).squareRoot()
    #expect(abs(Double(out.values[0]) - (1 - mu) / sd) < 1e-6 && abs(Double(out.values[5]) - (7 - mu) / sd) < 1e-6)
    #expect(out.values[9...11].allSatisfy { $0 == 0 })           // V2, in no group, is flat on its own
    #expect(throws: SignalError.self) {
        try SignalPipeline(manifestOps: [["op": "normalise", "mode": "zscore-group", "groups": [["V7"]]]])
            .apply(leadMajor: [[1, 2]], samplingRate: 1, leadNames: ["I"])
    }
}

@Test func alsBaselineRemovesASlowDriftAndSigmaClipBoundsOutliers() throws {
    let n = 2000
    let y = (0..<n).map { i -> Double in
        let t = Double(i) / 500
        return 0.8 * sin(2 * .pi * 0.15 * t) + (i % 400 == 0 ? 1.5 : 0)     // drift + spikes
    }
    let corrected = try ALSBaselineRemoval(lambda: 1e7, p: 0.3, iterations: 5).apply(y)
    let interior = corrected[200..<1800].filter { abs($0) < 1 }
    #expect((interior.map(abs).max() ?? 1) < 0.1)
    let clipped = try SigmaClip(sigmas: 4).apply([Double](repeating: 0, count: 100) + [100])   // z ≈ 10
    #expect(clipped.last! < 100 && clipped.last! > 0)
    #expect(throws: SignalError.self) { try ALSBaselineRemoval(lambda: 1e7, p: 1.5, iterations: 5) }
}
