import Foundation

/// Writes a float32 array as a NumPy `.npy` file (format 1.0, little-endian, C order).
public enum NPYWriter {
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data([0x93]); d.append(contentsOf: Array("NUMPY".utf8)); d.append(contentsOf: [1, 0])
        let n = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        d.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { buf in
            for v in buf { let b = v.bitPattern.littleEndian; withUnsafeBytes(of: b) { d.append(contentsOf: $0) } }
        }
        return d
    }
}
