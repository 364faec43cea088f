import Foundation
import Testing
@testable import NeuralCore

/// Builds a safetensors file from a header dictionary and a data buffer.
func writeSafetensors(header: [String: Any], data: [UInt8], headerOverride: Data? = nil) throws -> URL {
    let json = try headerOverride ?? JSONSerialization.data(withJSONObject: header)
    var bytes = [UInt8]()
    var n = UInt64(json.count)
    for _ in 0..<8 { bytes.append(UInt8(n & 0xff)); n >>= 8 }
    bytes += [UInt8](json) + data
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("nc-\(UUID().uuidString).safetensors")
    try Data(bytes).write(to: url)
    return url
}

func floatBytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

@Test func readsF32F16AndBF16() throws {
    let f = try LayerFixtures()
    #expect(try f.t("dtype.f16").values == (try f.t("dtype.f16_as_f32").values))
    #expect(try f.t("dtype.bf16").values == (try f.t("dtype.bf16_as_f32").values))
    #expect(try f.file.tensor("linear.weight", shape: [5, 7]).shape == [5, 7])
    #expect(throws: NeuralCoreError.shapeMismatch(file: "layers.safetensors", tensor: "linear.weight", expected: [7, 5], found: [5, 7])) {
        try f.file.tensor("linear.weight", shape: [7, 5])
    }
    #expect(throws: NeuralCoreError.missingTensor(file: "layers.safetensors", tensor: "nope")) { try f.file.tensor("nope") }
}

@Test func halfPrecisionSpecialValues() {
    #expect(SafeTensorsFile.halfToFloat(0x3c00) == 1)
    #expect(SafeTensorsFile.halfToFloat(0xc000) == -2)
    #expect(SafeTensorsFile.halfToFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))
    #expect(SafeTensorsFile.halfToFloat(0x7c00) == .infinity)
    #expect(SafeTensorsFile.halfToFloat(0x7e00).isNaN)
}

@Test func rejectsMalformedFiles() throws {
    let ok: [String: Any] = ["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]]]
    let good = try writeSafetensors(header: ok, data: floatBytes([1, 2]))
    #expect(try SafeTensorsFile(url: good).tensor("a").values == [1, 2])

    func fails(_ header: [String: Any], _ data: [UInt8], override: Data? = nil, _ fragment: String) throws {
        let url = try writeSafetensors(header: header, data: data, headerOverride: override)
        do {
            _ = try SafeTensorsFile(url: url)
            Issue.record("accepted a file that should fail: \(fragment)")
        } catch let e as NeuralCoreError {
            #expect(e.description.contains(fragment), "\(e.description)")
        }
    }
    // Truncated data buffer.
    try fails(ok, floatBytes([1]), "truncated")
    // Size disagrees with shape × dtype.
    try fails(["a": ["dtype": "F32", "shape": [3], "data_offsets": [0, 8]]], floatBytes([1, 2]), "needs 12")
    // Overlapping tensors.
    try fails(["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
               "b": ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]]], floatBytes([1, 2, 3]), "overlap")
    // Unsupported dtype.
    try fails(["a": ["dtype": "I64", "shape": [1], "data_offsets": [0, 8]]], floatBytes([1, 2]), "unsupported dtype")
    // Header not JSON.
    try fails([:], [], override: Data("{nope".utf8), "not valid JSON")
    // Header length past the end of the file.
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("nc-short.safetensors")
    try Data([0xff, 0, 0, 0, 0, 0, 0, 0, 0x7b]).write(to: url)
    #expect(throws: NeuralCoreError.self) { try SafeTensorsFile(url: url) }
    // Too short for the length field.
    try Data([1, 2, 3]).write(to: url)
    #expect(throws: NeuralCoreError.self) { try SafeTensorsFile(url: url) }
    // Header length above 100 MB.
    try Data([0, 0, 0, 0x10, 0, 0, 0, 0]).write(to: url)
    #expect(throws: NeuralCoreError.self) { try SafeTensorsFile(url: url) }
}

@Test func nonFiniteWeightsAreRejected() throws {
    let url = try writeSafetensors(header: ["w": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]]], data: floatBytes([1, .nan]))
    let src = WeightFiles(files: [try SafeTensorsFile(url: url)])
    #expect(throws: NeuralCoreError.nonFiniteWeights(file: url.lastPathComponent, tensor: "w")) { try src.tensor("w", shape: [2]) }
}
