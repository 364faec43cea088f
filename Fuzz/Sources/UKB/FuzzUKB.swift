import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUKB(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? UKBXMLReader().read(data: Data(bytes: start, count: count), path: "/fuzz/in.xml")
    return 0
}
