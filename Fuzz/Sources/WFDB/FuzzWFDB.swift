import ECGFormats
import Foundation

/// Input = header text, a NUL byte, then the bytes of the one signal file every header line names.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWFDB(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Data(bytes: start, count: count)
    let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
    let header = bytes[bytes.startIndex..<split]
    let signal = split < bytes.endIndex ? bytes[(split + 1)...] : Data()
    _ = try? WFDBReader().read(headerData: Data(header), headerURL: URL(fileURLWithPath: "/fuzz/rec.hea")) { _ in Data(signal) }
    return 0
}
