import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDICOM(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? DICOMWaveformReader().read(data: Data(bytes: start, count: count), path: "/fuzz/in.dcm")
    return 0
}
