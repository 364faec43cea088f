import Foundation
import Testing
@testable import CardiacModels

/// MMCL-style encoders (timm `VisionTransformer` with a class token, three pooling modes) are built
/// and converted by `training/mmcl_reference.py`; the Swift engine must reproduce the timm model's
/// `forward_features` (the embedding), its head outputs and Grad-CAM (class-token row dropped).
/// Disabled (with the reason) when python3 cannot import torch, timm and safetensors.
private let pythonHasTimm = pythonCanImport("torch, timm, safetensors, scipy")

@Suite("MMCL conversion parity")
struct MMCLConversionParityTests {
    @Test(.enabled(if: pythonHasTimm, "python3 with torch, timm and safetensors builds the reference (pip install -r training/requirements.txt)"),
          arguments: ["cls", "mean", "mha"])
    func convertedMMCLEncoderMatchesTimm(pooling: String) throws {
        try check(pooling: pooling, size: "small", tokens: 121)
    }

    /// MMCL's published size (12 × 5000, patches of 100, width 384, 3 blocks, 6 heads), MMCL's attention pooling.
    @Test(.enabled(if: pythonHasTimm, "python3 with torch, timm and safetensors builds the reference (pip install -r training/requirements.txt)"))
    func publishedSizeMMCLAttentionPoolMatchesTimm() throws {
        try check(pooling: "mha", size: "published", tokens: 601)
    }

    func check(pooling: String, size: String, tokens: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmcl-\(pooling)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", repoRoot.appendingPathComponent("training/mmcl_reference.py").path,
                       "--pooling", pooling, "--size", size, "--out", dir.path]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            Issue.record("mmcl_reference.py failed: \(errText.suffix(2000))")
            return
        }
        let bundleURL = dir.appendingPathComponent("bundle")
        let r = try goldenParity(bundle: bundleURL, golden: dir.appendingPathComponent("golden.safetensors"))
        print("parity mmcl-\(pooling) (\(size)): \(r)")
        #expect(r.cases == 2 && r.maps == 4)
        checkTolerances(r)
        let b = try ModelBundle.load(from: bundleURL)
        #expect(b.encoder.prefixTokens == 1 && b.encoder.tokens == tokens)
        #expect(b.manifest.encoder.pooling == pooling && b.manifest.encoder.classToken == true)
    }
}
