import Foundation
import Testing
@testable import CardiacModels

/// Manifest values the fuzz target `fuzz-manifest` exercises. Each case trapped, allocated from the
/// declared count, or was accepted before `ModelManifest.validate`; now each is a ModelBundleError.
struct HostileManifestCase: Sendable, CustomStringConvertible {
    let description: String
    let section: String
    let key: String
    let value: Double
    let fragment: String
}

@Test(arguments: [
    // `(0..<depth).map` reserved 10^15 transformer blocks.
    HostileManifestCase(description: "huge depth", section: "encoder", key: "depth", value: 1e15, fragment: "encoder.depth must be in"),
    // Int(width × mlpRatio) trapped on a value beyond Int.
    HostileManifestCase(description: "huge mlpRatio", section: "encoder", key: "mlpRatio", value: 1e300, fragment: "encoder.mlpRatio"),
    HostileManifestCase(description: "huge width", section: "encoder", key: "width", value: 0x1p62, fragment: "encoder.width must be in"),
    HostileManifestCase(description: "zero mlpRatio", section: "encoder", key: "mlpRatio", value: 0, fragment: "encoder.mlpRatio"),
    // latentSize + 4 overflowed.
    HostileManifestCase(description: "huge latent", section: "generator", key: "latentSize", value: 0x1p62, fragment: "generator.latentSize must be in"),
    HostileManifestCase(description: "huge frames", section: "generator", key: "frames", value: 1e9, fragment: "generator.frames must be in"),
    HostileManifestCase(description: "zero sampling rate", section: "input", key: "samplingRate", value: 0, fragment: "input.samplingRate"),
])
func outOfRangeManifestSizesAreRefused(_ c: HostileManifestCase) throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in
        var s = m[c.section] as! [String: Any]
        s[c.key] = c.value.rounded() == c.value && abs(c.value) < 0x1p63 ? Int(c.value) as Any : c.value
        m[c.section] = s
    }
    expectLoadError(dir, c.fragment)
}

// Array(repeating: hidden, count: layers - 1) allocated 10^12 entries.
@Test func hugePriorLayerCountIsRefused() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in
        var g = m["generator"] as! [String: Any]
        var p = g["prior"] as! [String: Any]
        p["layers"] = 1_000_000_000_000
        g["prior"] = p
        m["generator"] = g
    }
    expectLoadError(dir, "generator.prior.layers must be in")
}

// A weights name with a path in it was opened wherever it pointed.
@Test func weightsOutsideTheBundleAreRefused() throws {
    let parent = try scratchBundle()
    let dir = parent.appendingPathComponent("inner")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
    try FileManager.default.copyItem(at: parent.appendingPathComponent("manifest.json"), to: dir.appendingPathComponent("manifest.json"))
    try editManifest(dir) { m in
        var w = (m["weights"] as! [[String: Any]])[0]
        w["file"] = "../model.safetensors"
        m["weights"] = [w]
    }
    expectLoadError(dir, "must be a file name inside the bundle directory")
}

// Data(contentsOf:) on a FIFO blocked until a writer came (never, for a bundle). The limit only
// catches that hang; it is generous so a loaded machine running tests in parallel never trips it.
@Test(.timeLimit(.minutes(10))) func fifoWeightsFileIsRefusedWithoutBlocking() throws {
    let dir = try scratchBundle()
    let weights = dir.appendingPathComponent("model.safetensors")
    try FileManager.default.removeItem(at: weights)
    #expect(mkfifo(weights.path, 0o600) == 0)
    expectLoadError(dir, "not a regular file")
}

@Test func manifestBytesInMemoryLoadLikeTheFile() throws {
    let dir = fixtures.appendingPathComponent("random-tiny")
    let data = try Data(contentsOf: dir.appendingPathComponent("manifest.json"))
    let a = try ModelBundle.load(manifestData: data, directory: dir)
    let b = try ModelBundle.load(from: dir)
    #expect(a.weightsSHA256 == b.weightsSHA256 && a.headTargets == b.headTargets)
    do {
        _ = try ModelBundle.load(manifestData: Data("{".utf8), directory: dir)
        Issue.record("loaded a truncated manifest")
    } catch let e as ModelBundleError {
        #expect(e.description.hasPrefix(dir.appendingPathComponent("manifest.json").path + ": not valid JSON"), "\(e)")
    }
}

// Issue 23: an id holding ESC]0;…BEL or ESC[2J was printed raw by screen, export and embed.
@Test func controlCharactersInManifestNamesAreRefused() throws {
    for id in ["demo\u{1B}]0;pwned\u{07}", "demo\u{1B}[2J", "demo\u{202E}x"] {
        let dir = try scratchBundle()
        try editManifest(dir) { m in m["id"] = id }
        expectLoadError(dir, "control")
    }
}

// Issue 23: two outputs of one id were accepted, and table columns then held the wrong output.
@Test func duplicateOutputIDsAreRefused() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in
        var heads = m["heads"] as! [[String: Any]]
        var outputs = heads[0]["outputs"] as! [[String: Any]]
        outputs.append(outputs[0])
        heads[0]["outputs"] = outputs
        m["heads"] = heads
    }
    expectLoadError(dir, "unique")
}

// Issue 23: the disclaimer is free text shown on terminals: neutralised, not refused.
@Test func theDisclaimerIsNeutralised() throws {
    let dir = try scratchBundle()
    try editManifest(dir) { m in m["disclaimer"] = "demo \u{1B}]0;pwned\u{07} \u{202E}txt" }
    let bundle = try ModelBundle.load(from: dir)
    #expect(!bundle.disclaimer.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E })
}
