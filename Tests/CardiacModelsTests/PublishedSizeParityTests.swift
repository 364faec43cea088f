import Foundation
import Testing
@testable import CardiacModels

/// Runs `python3 training/convert_checkpoint.py --random-mmcl` (a randomly initialised MMCL-layout
/// state dict: 600 tokens, width 384, 3 blocks, 6 heads) into a temporary bundle with golden
/// vectors, then checks the Swift encoder against them. The 22 MB bundle is generated, never
/// committed. Disabled (with the reason) only when python3 cannot import torch and safetensors.
private let pythonHasTorch = pythonCanImport("torch, safetensors")

@Test(.enabled(if: pythonHasTorch, "python3 with torch and safetensors writes the reference (pip install -r training/requirements.txt)"))
func publishedSizeEncoderMatchesPyTorch() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("published-\(UUID().uuidString)")
    let golden = dir.appendingPathComponent("golden.safetensors")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", repoRoot.appendingPathComponent("training/convert_checkpoint.py").path,
                   "--random-mmcl", "--out", dir.path, "--golden", golden.path]
    p.standardOutput = FileHandle.nullDevice
    let err = Pipe()
    p.standardError = err
    try p.run()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        Issue.record("convert_checkpoint.py failed: \(errText.suffix(2000))")
        return
    }
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try goldenParity(bundle: dir, golden: golden)
    print("parity published-size: \(r)")
    #expect(r.cases == 2)
    #expect(r.embeddingMaxAbs <= 1e-4, "\(r)")
    let b = try ModelBundle.load(from: dir)
    #expect(b.encoder.tokens == 600 && b.encoder.width == 384 && b.encoder.blocks.count == 3)
}
