import Foundation
import Testing
@testable import CardiacModels
@testable import SignalKit

/// One hostile `input.preprocessing` op list for the random-tiny fixture (50 Hz, 500 samples, 12
/// leads) and the words its refusal must contain. Each is refused by `ModelBundle.load`, before
/// any ECG is read (docs/model-bundle.md: nothing is checked lazily).
struct HostilePreprocessingCase: Sendable, CustomStringConvertible {
    let description: String
    let opsJSON: String
    let fragment: String
}

private let tail = #"{"op": "cropOrPad", "sampleCount": 500}"#

@Test(arguments: [
    // 10 s at 5 MHz is 50 M samples per lead: 9.6 GB of doubles for one 12-lead ECG.
    HostilePreprocessingCase(description: "5 MHz resample", opsJSON: #"[{"op": "resample", "rate": 5000000}, \#(tail)]"#,
                             fragment: "resample 'rate' (Hz) must be in 10.0…10000.0"),
    HostilePreprocessingCase(description: "zero resample", opsJSON: #"[{"op": "resample", "rate": 0}, \#(tail)]"#,
                             fragment: "resample 'rate'"),
    HostilePreprocessingCase(description: "rate left different from the model's",
                             opsJSON: #"[{"op": "resample", "rate": 250}, \#(tail)]"#, fragment: "differs from input.samplingRate"),
    HostilePreprocessingCase(description: "no final crop", opsJSON: #"[{"op": "resample", "rate": 50}]"#,
                             fragment: "must follow the last resample"),
    HostilePreprocessingCase(description: "crop to another length",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "cropOrPad", "sampleCount": 499}]"#,
                             fragment: "differs from input.sampleCount"),
    HostilePreprocessingCase(description: "huge crop",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "cropOrPad", "sampleCount": 100000000}]"#,
                             fragment: "cropOrPad 'sampleCount' must be in"),
    HostilePreprocessingCase(description: "fractional crop",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "cropOrPad", "sampleCount": 2.5}]"#,
                             fragment: "'sampleCount' must be an integer"),
    HostilePreprocessingCase(description: "median window of a minute",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "baselineRemoval", "windowsSeconds": [60]}, \#(tail)]"#,
                             fragment: "'windowsSeconds' must be 1…4 durations"),
    HostilePreprocessingCase(description: "savgol window even",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "savgol", "windowLength": 16, "polyorder": 3}, \#(tail)]"#,
                             fragment: "windowLength"),
    HostilePreprocessingCase(description: "savgol window huge",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "savgol", "windowLength": 100001, "polyorder": 3}, \#(tail)]"#,
                             fragment: "windowLength"),
    HostilePreprocessingCase(description: "bandpass above Nyquist",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "bandpass", "lowHz": 0.5, "highHz": 40}, \#(tail)]"#,
                             fragment: "'bandpass' parameter"),
    HostilePreprocessingCase(description: "filter order 100",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "baselineRemoval", "method": "highpass", "order": 100}, \#(tail)]"#,
                             fragment: "highpass 'order' must be in 1…8"),
    HostilePreprocessingCase(description: "ALS p of 1",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "baselineRemoval", "method": "als", "p": 1}, \#(tail)]"#,
                             fragment: "als 'p' must be in (0, 1)"),
    HostilePreprocessingCase(description: "ALS negative lambda",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "baselineRemoval", "method": "als", "lambda": -1}, \#(tail)]"#,
                             fragment: "als 'lambda' must be in"),
    HostilePreprocessingCase(description: "ALS a million iterations",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "baselineRemoval", "method": "als", "iterations": 1000000}, \#(tail)]"#,
                             fragment: "als 'iterations' must be in 1…100"),
    HostilePreprocessingCase(description: "zero sigmas",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "sigmaClip", "sigmas": 0}, \#(tail)]"#,
                             fragment: "sigmaClip 'sigmas' must be in"),
    HostilePreprocessingCase(description: "unknown sigma scope",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "sigmaClip", "scope": "beat"}, \#(tail)]"#,
                             fragment: "unknown sigmaClip scope 'beat'"),
    HostilePreprocessingCase(description: "group names a lead the model lacks",
                             opsJSON: #"[{"op": "resample", "rate": 50}, \#(tail), {"op": "normalise", "mode": "zscore-group", "groups": [["I", "V7"]]}]"#,
                             fragment: "names lead 'V7', which is not a model input lead"),
    HostilePreprocessingCase(description: "lead in two groups",
                             opsJSON: #"[{"op": "resample", "rate": 50}, \#(tail), {"op": "normalise", "mode": "zscore-group", "groups": [["I"], ["i"]]}]"#,
                             fragment: "names lead 'i' twice"),
    HostilePreprocessingCase(description: "empty group",
                             opsJSON: #"[{"op": "resample", "rate": 50}, \#(tail), {"op": "normalise", "mode": "zscore-group", "groups": [[]]}]"#,
                             fragment: "non-empty lists of lead names"),
    HostilePreprocessingCase(description: "groups not lists",
                             opsJSON: #"[{"op": "resample", "rate": 50}, \#(tail), {"op": "normalise", "mode": "zscore-group", "groups": "I,II"}]"#,
                             fragment: "'groups' must be a list of lists of lead names"),
    HostilePreprocessingCase(description: "misspelt parameter",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "sigmaClip", "sigma": 3}, \#(tail)]"#,
                             fragment: "'sigmaClip' has no parameter 'sigma'"),
    HostilePreprocessingCase(description: "unknown op", opsJSON: #"[{"op": "sharpen"}]"#, fragment: "preprocessing op #0: unknown op 'sharpen'"),
    HostilePreprocessingCase(description: "op not an object", opsJSON: #"[{"op": "resample", "rate": 50}, 7]"#,
                             fragment: "preprocessing op #1: must be an object"),
    HostilePreprocessingCase(description: "number too big for a double",
                             opsJSON: #"[{"op": "resample", "rate": 1e400}, \#(tail)]"#, fragment: "'rate' must be a finite number"),
    HostilePreprocessingCase(description: "unknown wavelet",
                             opsJSON: #"[{"op": "resample", "rate": 50}, {"op": "waveletDenoise", "wavelet": "haar"}, \#(tail)]"#,
                             fragment: "wavelet 'haar' is not supported"),
    HostilePreprocessingCase(description: "clip of zero",
                             opsJSON: #"[{"op": "resample", "rate": 50}, \#(tail), {"op": "normalise", "mode": "zscore", "clip": 0}]"#,
                             fragment: "normalise 'clip' must be in"),
])
func hostilePreprocessingIsRefusedAtLoad(_ c: HostilePreprocessingCase) throws {
    let dir = try scratchBundle()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("manifest.json")
    // Spliced as text so that values JSONSerialization cannot hold (1e400) reach the decoder as written.
    var text = try String(contentsOf: url, encoding: .utf8)
    let m = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    let old = String(decoding: try JSONSerialization.data(withJSONObject: (m["input"] as! [String: Any])["preprocessing"]!), as: UTF8.self)
    let input = m["input"] as! [String: Any]
    var edited = input
    edited["preprocessing"] = "@OPS@"
    var whole = m
    whole["input"] = edited
    text = String(decoding: try JSONSerialization.data(withJSONObject: whole), as: UTF8.self)
        .replacingOccurrences(of: #""@OPS@""#, with: c.opsJSON)
    #expect(!old.isEmpty)
    try Data(text.utf8).write(to: url)
    expectLoadError(dir, c.fragment)
    // No refusal quotes the file's numbers back.
    do { _ = try ModelBundle.load(from: dir) } catch {
        for n in ["5000000", "100000000", "1e400", "100001", "1000000"] where c.opsJSON.contains(n) {
            #expect(!"\(error)".contains(n), "\(error)")
        }
    }
}

@Test func theShippedOpListsPassValidation() throws {
    let b = try ModelBundle.load(from: fixtures.appendingPathComponent("random-tiny"))
    #expect(b.preprocessing.ops.count == 4)
    // MMCL's list (convert_checkpoint.py --preset mmcl) at 500 Hz, 5000 samples.
    let mmcl = #"""
    [{"op": "resample", "rate": 500}, {"op": "sigmaClip", "sigmas": 4, "scope": "record"},
     {"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5},
     {"op": "normalise", "mode": "zscore-group", "groups": [["I","II","III"],["aVR","aVL","aVF"],["V1","V2","V3","V4","V5","V6"]]},
     {"op": "cropOrPad", "sampleCount": 5000}]
    """#
    let ops = try JSONDecoder().decode([PreprocessingOp].self, from: Data(mmcl.utf8))
    try SignalPipeline(ops: ops).validate(leads: ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
                                          samplingRate: 500, sampleCount: 5000)
    // Round trip: what the engine would write back is what it read.
    let again = try JSONDecoder().decode([PreprocessingOp].self, from: JSONEncoder().encode(ops))
    #expect(again == ops)
}

@Test func oversizedManifestIsRefusedBeforeItIsRead() throws {
    let dir = try scratchBundle()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("manifest.json")
    // A sparse 1 GB file: reading it whole would take a gigabyte; the refusal comes from its size.
    #expect(truncate(url.path, 1 << 30) == 0)
    expectLoadError(dir, "larger than 4 MB")
    #expect(throws: ModelBundleError.self) {
        _ = try ModelBundle.load(manifestData: Data(count: ModelManifest.maxManifestBytes + 1), directory: dir)
    }
}
