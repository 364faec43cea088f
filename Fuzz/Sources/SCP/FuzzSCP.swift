import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSCP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    // Detection must agree with the reader's own refusal paths; both must only ever throw.
    _ = ECGFileReader.detect(data)
    _ = try? SCPECGReader().read(data: data, path: "/fuzz/in.scp")
    return 0
}
