import ECGFormats
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? CSVReader(samplingRate: nil).read(data: Data(bytes: start, count: count), path: "/fuzz/in.csv")
    return 0
}
