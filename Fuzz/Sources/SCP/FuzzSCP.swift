import ECGFormats
import Foundation

/// Nearly every mutation breaks a CRC, so each input is read twice: as it is (the CRC checks
/// themselves), then with the record CRC and the CRC of every section that section 0 points to
/// recomputed, so the pointer, Huffman and reconstruction code behind the checks is reached.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSCP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    _ = ECGFileReader.detect(data)
    _ = try? SCPECGReader().read(data: data, path: "/fuzz/in.scp")
    var b = [UInt8](data)
    guard b.count >= 22 else { return 0 }
    func u32(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
    func setCRC(at o: Int, over range: Range<Int>) {
        let crc = CRCCCITT.checksum(b[range])
        b[o] = UInt8(crc & 0xFF); b[o + 1] = UInt8(crc >> 8)
    }
    let s0 = u32(10)
    var k = 22
    while k + 10 <= min(6 + s0, b.count) {
        let length = u32(k + 2), offset = u32(k + 6) - 1
        if length >= 16, offset >= 0, offset + 8 <= b.count, u32(offset + 4) >= 16, offset + u32(offset + 4) <= b.count {
            setCRC(at: offset, over: (offset + 2)..<(offset + u32(offset + 4)))
        }
        k += 10
    }
    if s0 >= 16, 6 + s0 <= b.count { setCRC(at: 6, over: 8..<(6 + s0)) }
    let recordLength = u32(2)
    if recordLength >= 22, recordLength <= b.count { setCRC(at: 0, over: 2..<recordLength) }
    _ = try? SCPECGReader().read(data: Data(b), path: "/fuzz/in.scp")
    return 0
}
