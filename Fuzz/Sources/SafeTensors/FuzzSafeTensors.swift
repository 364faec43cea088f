import Foundation
import NeuralCore

/// The bytes as a whole .safetensors file: header validation, then every tensor read back the
/// way a bundle load does (widened to Float32, finiteness checked).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let url = URL(fileURLWithPath: "/fuzz/in.safetensors")
    guard let file = try? SafeTensorsFile(data: Data(bytes: start, count: count), url: url) else { return 0 }
    for name in file.names {
        guard let entry = file.entries[name], let t = try? file.tensor(name, shape: entry.shape) else { continue }
        _ = t.isFinite
    }
    _ = try? WeightFiles(files: [file]).tensor(file.names.first ?? "", shape: [])
    return 0
}
