import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAECG(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? AECGReader().read(data: Data(bytes: start, count: count), path: "/fuzz/in.xml")
    return 0
}
