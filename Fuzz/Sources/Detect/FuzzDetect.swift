import ECGFormats
import Foundation

/// Content detection alone (runs on every file a user opens).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDetect(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = ECGFileReader.detect(Data(bytes: start, count: count))
    return 0
}
