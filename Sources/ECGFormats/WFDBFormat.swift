import Foundation

/// One WFDB signal format (PhysioNet signal(5)) as data: how samples pack into bytes and which
/// digital value marks an invalid sample. Bit-level unpacking is in `unpack`, one case per format.
struct WFDBFormat: Sendable {
    let code: Int
    /// Samples that pack into one whole group of `bytesPerGroup` bytes (212: 2 in 3; 310/311: 3 in 4).
    let samplesPerGroup: Int
    let bytesPerGroup: Int
    /// Bytes taken by a trailing partial group of r samples (r = 0 ..< samplesPerGroup).
    let partialGroupBytes: [Int]
    /// WFDB's "invalid sample" value; decoded as NaN like wfdb-python.
    let invalidValue: Int32
    /// Format 8 stores first differences: a sample depends on every earlier one, so a window can
    /// only be decoded by streaming from the start of the file.
    let isDifference: Bool

    static let table: [Int: WFDBFormat] = {
        func f(_ code: Int, _ g: Int, _ b: Int, _ partial: [Int], _ invalid: Int32, difference: Bool = false) -> WFDBFormat {
            WFDBFormat(code: code, samplesPerGroup: g, bytesPerGroup: b, partialGroupBytes: partial,
                       invalidValue: invalid, isDifference: difference)
        }
        let all = [
            f(8, 1, 1, [0], -128, difference: true),
            f(16, 1, 2, [0], -32768),
            f(24, 1, 3, [0], -8_388_608),
            f(32, 1, 4, [0], Int32.min),
            f(61, 1, 2, [0], -32768),
            f(80, 1, 1, [0], -128),
            f(160, 1, 2, [0], -32768),
            f(212, 2, 3, [0, 2], -2048),
            f(310, 3, 4, [0, 2, 4], -512),
            f(311, 3, 4, [0, 2, 4], -512),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })
    }()

    static var supportedCodes: [Int] { table.keys.sorted() }

    /// Bytes holding `t` consecutive samples that start on a group boundary.
    func bytesNeeded(samples t: Int) -> Int {
        (t / samplesPerGroup) * bytesPerGroup + partialGroupBytes[t % samplesPerGroup]
    }

    /// Whole samples in `b` bytes from a group boundary.
    func samplesFitting(bytes b: Int) -> Int {
        let rest = b % bytesPerGroup
        let partial = partialGroupBytes.lastIndex { $0 <= rest } ?? 0
        return (b / bytesPerGroup) * samplesPerGroup + partial
    }

    @inline(__always) static func signExtend(_ v: UInt32, bits: Int) -> Int32 {
        let shift = 32 - bits
        return Int32(bitPattern: v << UInt32(shift)) >> Int32(shift)
    }

    /// Unpacks `count` interleaved digital samples starting on a group boundary of `b` (the caller
    /// has checked `bytesNeeded(count) <= b.count`). Format 8 keeps one running value per signal of
    /// the frame (`positionMember[i % frameSize]` names it), carried across calls in `running`.
    func unpack(_ b: UnsafeRawBufferPointer, count: Int, into o: UnsafeMutableBufferPointer<Int32>,
                running: inout [Int32], positionMember: [Int]) {
        switch code {
        case 16:
            for i in 0..<count { o[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8)) }
        case 61:
            for i in 0..<count { o[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) << 8 | UInt16(b[2 * i + 1]))) }
        case 160:
            for i in 0..<count { o[i] = Int32(UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8) - 32768 }
        case 80:
            for i in 0..<count { o[i] = Int32(b[i]) - 128 }
        case 8:
            // First differences, one running value per interleaved signal, starting at its initial value.
            let n = max(1, positionMember.count)
            for i in 0..<count {
                let s = positionMember.isEmpty ? 0 : positionMember[i % n]
                running[s] = running[s] &+ Int32(Int8(bitPattern: b[i]))
                o[i] = running[s]
            }
        case 24:
            for i in 0..<count {
                let v = UInt32(b[3 * i]) | UInt32(b[3 * i + 1]) << 8 | UInt32(b[3 * i + 2]) << 16
                o[i] = Self.signExtend(v, bits: 24)
            }
        case 32:
            for i in 0..<count {
                let v = UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24
                o[i] = Int32(bitPattern: v)
            }
        case 212:
            // Two 12-bit samples in three bytes; the middle byte holds both high nibbles.
            var i = 0, p = 0
            while i < count {
                let b0 = UInt32(b[p]), b1 = UInt32(b[p + 1])
                o[i] = Self.signExtend(b0 | (b1 & 0x0F) << 8, bits: 12)
                if i + 1 < count {
                    let b2 = UInt32(b[p + 2])
                    o[i + 1] = Self.signExtend(b2 | (b1 & 0xF0) << 4, bits: 12)
                }
                i += 2; p += 3
            }
        case 310:
            // Three 10-bit samples in two little-endian 16-bit words (bit 0 of each word unused).
            var i = 0, p = 0
            while i < count {
                let w0 = UInt32(b[p]) | UInt32(b[p + 1]) << 8
                o[i] = Self.signExtend((w0 >> 1) & 0x3FF, bits: 10)
                if i + 1 < count {
                    let w1 = UInt32(b[p + 2]) | UInt32(b[p + 3]) << 8
                    o[i + 1] = Self.signExtend((w1 >> 1) & 0x3FF, bits: 10)
                    if i + 2 < count {
                        o[i + 2] = Self.signExtend(((w0 >> 11) & 0x1F) | ((w1 >> 6) & 0x3E0), bits: 10)
                    }
                }
                i += 3; p += 4
            }
        case 311:
            // Three 10-bit samples in one little-endian 32-bit word.
            var i = 0, p = 0
            while i < count {
                var w = UInt32(b[p]) | UInt32(b[p + 1]) << 8
                if i + 1 < count { w |= UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24 }
                o[i] = Self.signExtend(w & 0x3FF, bits: 10)
                if i + 1 < count { o[i + 1] = Self.signExtend((w >> 10) & 0x3FF, bits: 10) }
                if i + 2 < count { o[i + 2] = Self.signExtend((w >> 20) & 0x3FF, bits: 10) }
                i += 3; p += 4
            }
        default:
            break
        }
    }
}
