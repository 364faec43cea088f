import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMUSE(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? MUSEXMLReader().read(data: Data(bytes: start, count: count), path: "/fuzz/in.xml")
    return 0
}
