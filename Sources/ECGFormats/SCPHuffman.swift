import Foundation

/// CRC-CCITT as SCP-ECG (EN 1064 §5.3.2) defines it: polynomial x¹⁶ + x¹² + x⁵ + 1 (0x1021), initial
/// value 0xFFFF, bits most significant first, no final inversion. Public for the fuzz target, which
/// repairs CRCs of mutated records so that the fuzzer reaches the decoders behind the CRC checks.
public enum CRCCCITT {
    static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }

    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes { crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte))] }
        return crc
    }
}

/// One code of an SCP Huffman table (section 2): `prefixBits` identify it; when `totalBits` is larger
/// the next `totalBits − prefixBits` bits are a two's-complement value added to `baseValue`. A code
/// with `isSwitch` selects table number `baseValue` (1-based) for the following codes.
struct SCPHuffmanCode: Sendable, Equatable {
    var prefixBits: Int
    var totalBits: Int
    var isSwitch: Bool
    var baseValue: Int
    /// The prefix read first bit first, as an integer (the file stores it bit-reversed).
    var prefix: UInt32
}

/// The Huffman tables a record uses: none (16-bit samples stored as they are), the standard's default
/// table, or the tables the file defines.
enum SCPHuffmanTables: Sendable, Equatable {
    case none
    case standardDefault
    case custom([[SCPHuffmanCode]])

    /// Section 2 counts this many tables to mean "the default table of the standard".
    static let defaultTableMarker = 19999
    /// No real table is longer; a table with more codes than this is refused rather than searched.
    static let maxCodesPerTable = 512
    static let maxTables = 64

    /// The default table (EN 1064 Annex C): 0 → 0; k ones, a 0 and a sign bit → ±k for k = 1…8;
    /// nine ones then 0 → an 8-bit value follows, nine ones then 1 → a 16-bit value follows.
    static let defaultCodes: [SCPHuffmanCode] = {
        var codes = [SCPHuffmanCode(prefixBits: 1, totalBits: 1, isSwitch: false, baseValue: 0, prefix: 0)]
        for k in 1...8 {
            let ones = (UInt32(1) << k) - 1
            codes.append(SCPHuffmanCode(prefixBits: k + 2, totalBits: k + 2, isSwitch: false, baseValue: k, prefix: ones << 2))
            codes.append(SCPHuffmanCode(prefixBits: k + 2, totalBits: k + 2, isSwitch: false, baseValue: -k, prefix: ones << 2 | 1))
        }
        codes.append(SCPHuffmanCode(prefixBits: 10, totalBits: 18, isSwitch: false, baseValue: 0, prefix: 0b11_1111_1110))
        codes.append(SCPHuffmanCode(prefixBits: 10, totalBits: 26, isSwitch: false, baseValue: 0, prefix: 0b11_1111_1111))
        return codes
    }()

    /// Parses the body of section 2 (after its 16-byte header). Every table is checked: prefix
    /// lengths 1…32, total lengths ≥ prefix and ≤ prefix + 32, switch codes naming an existing table,
    /// and no two codes where one prefix is the start of another (the code must be decodable).
    static func parse(_ cursor: inout ByteCursor, end: Int, at location: String) throws -> SCPHuffmanTables {
        let file = cursor.file
        let count = Int(try cursor.u16le("number of Huffman tables"))
        if count == defaultTableMarker { return .standardDefault }
        if count == 0 { return .none }
        guard count <= maxTables else {
            throw ECGFormatError(.invalidValue, file: file, "section 2 declares \(count) Huffman tables (more than \(maxTables))", at: location)
        }
        var tables: [[SCPHuffmanCode]] = []
        for t in 0..<count {
            let here = "\(location), table \(t + 1)"
            guard end - cursor.offset >= 2 else { throw ECGFormatError(.truncated, file: file, "section 2 ends before Huffman table \(t + 1)", at: here) }
            let codes = Int(try cursor.u16le("number of codes"))
            guard codes >= 1, codes <= maxCodesPerTable else {
                throw ECGFormatError(.invalidValue, file: file, "Huffman table has \(codes) codes (1…\(maxCodesPerTable) allowed)", at: here)
            }
            guard (end - cursor.offset) >= codes * 9 else {
                throw ECGFormatError(.truncated, file: file, "section 2 ends inside Huffman table \(t + 1): \(codes) codes need \(codes * 9) bytes", at: here)
            }
            var table: [SCPHuffmanCode] = []
            table.reserveCapacity(codes)
            for c in 0..<codes {
                let prefixBits = Int(try cursor.u8("code prefix length"))
                let totalBits = Int(try cursor.u8("code length"))
                let mode = try cursor.u8("table mode switch")
                let value = Int(Int16(bitPattern: try cursor.u16le("base value")))
                let stored = try cursor.u32le("base code")
                guard (1...32).contains(prefixBits), totalBits >= prefixBits, totalBits - prefixBits <= 32 else {
                    throw ECGFormatError(.invalidValue, file: file, "Huffman code \(c + 1) has prefix \(prefixBits) bits and length \(totalBits) bits", at: here)
                }
                guard stored >> prefixBits == 0 || prefixBits == 32 else {
                    throw ECGFormatError(.invalidValue, file: file, "Huffman code \(c + 1) stores more bits than its \(prefixBits)-bit prefix", at: here)
                }
                // Stored first bit in the least significant position; turn it around once here.
                var prefix: UInt32 = 0
                for k in 0..<prefixBits { prefix = prefix << 1 | ((stored >> UInt32(k)) & 1) }
                table.append(SCPHuffmanCode(prefixBits: prefixBits, totalBits: mode == 0 ? prefixBits : totalBits,
                                            isSwitch: mode == 0, baseValue: value, prefix: prefix))
            }
            tables.append(table)
        }
        for (t, table) in tables.enumerated() {
            for (a, x) in table.enumerated() {
                if x.isSwitch, !(1...tables.count).contains(x.baseValue) {
                    throw ECGFormatError(.invalidValue, file: file, "Huffman code \(a + 1) switches to table \(x.baseValue), which does not exist", at: "\(location), table \(t + 1)")
                }
                for (b, y) in table.enumerated() where b != a && y.prefixBits <= x.prefixBits {
                    if x.prefix >> UInt32(x.prefixBits - y.prefixBits) == y.prefix {
                        throw ECGFormatError(.invalidValue, file: file, "Huffman codes \(b + 1) and \(a + 1) are ambiguous (one prefix starts the other)", at: "\(location), table \(t + 1)")
                    }
                }
            }
        }
        return .custom(tables)
    }

    /// The most values a stream of `bytes` can hold (a Huffman code takes at least one bit).
    func capacity(ofBytes bytes: Int) -> Int {
        if case .none = self { return bytes / 2 }
        return bytes * 8
    }

    /// Decodes exactly `count` values from `bytes`; a stream that ends first is a typed error, as is a
    /// bit pattern no code matches. Table switches persist from one lead to the next only within one
    /// call (each lead's stream starts at table 1, as encoders write it).
    func decode(_ bytes: ArraySlice<UInt8>, count: Int, file: String, at location: String) throws -> [Int32] {
        switch self {
        case .none:
            guard bytes.count / 2 >= count else {
                throw ECGFormatError(.truncated, file: file, "lead data holds \(bytes.count / 2) 16-bit samples, \(count) expected", at: location)
            }
            var out = [Int32](repeating: 0, count: count)
            var k = bytes.startIndex
            for t in 0..<count {
                out[t] = Int32(Int16(bitPattern: UInt16(bytes[k]) | UInt16(bytes[k + 1]) << 8))
                k += 2
            }
            return out
        case .standardDefault:
            return try Self.decode(bytes, tables: [Self.defaultCodes], count: count, file: file, at: location)
        case .custom(let tables):
            return try Self.decode(bytes, tables: tables, count: count, file: file, at: location)
        }
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, tables: [[SCPHuffmanCode]], count: Int,
                               file: String, at location: String) throws -> [Int32] {
        // Every code takes at least one bit, so a stream cannot hold more values than bits.
        guard count <= bytes.count * 8 else {
            throw ECGFormatError(.truncated, file: file, "lead data is \(bytes.count) bytes, too short for \(count) Huffman-coded samples", at: location)
        }
        var bits = SCPBitReader(bytes)
        var out = [Int32]()
        out.reserveCapacity(count)
        // Codes bucketed by prefix length and sorted: one binary search per bit read, so a 512-code
        // table costs little more than the default one (no hashing in the inner loop).
        let lookups: [[[SCPHuffmanCode]]] = tables.map { codes in
            var byLength = [[SCPHuffmanCode]](repeating: [], count: 33)
            for c in codes { byLength[c.prefixBits].append(c) }
            return byLength.map { $0.sorted { $0.prefix < $1.prefix } }
        }
        func find(_ bucket: [SCPHuffmanCode], _ code: UInt32) -> SCPHuffmanCode? {
            var lo = 0, hi = bucket.count - 1
            while lo <= hi {
                let mid = (lo + hi) / 2
                if bucket[mid].prefix == code { return bucket[mid] }
                if bucket[mid].prefix < code { lo = mid + 1 } else { hi = mid - 1 }
            }
            return nil
        }
        var table = lookups[0]
        var switches = 0
        while out.count < count {
            var code: UInt32 = 0
            var length = 0
            var hit: SCPHuffmanCode?
            while hit == nil {
                guard length < 32, let bit = bits.next() else {
                    if bits.exhausted {
                        throw ECGFormatError(.truncated, file: file, "Huffman data ends after \(out.count) of \(count) samples", at: location)
                    }
                    throw ECGFormatError(.corrupt, file: file, "bit pattern matches no Huffman code (sample \(out.count))", at: location)
                }
                code = code << 1 | bit
                length += 1
                let bucket = table[length]
                if !bucket.isEmpty { hit = find(bucket, code) }
            }
            guard let h = hit else { continue }
            if h.isSwitch {
                // A switch that is never followed by a value would loop forever on hostile data.
                switches += 1
                guard switches <= count + 16 else {
                    throw ECGFormatError(.corrupt, file: file, "Huffman data switches tables without coding samples", at: location)
                }
                table = lookups[h.baseValue - 1]
                continue
            }
            var value = h.baseValue
            let extra = h.totalBits - h.prefixBits
            if extra > 0 {
                var raw: UInt64 = 0
                for _ in 0..<extra {
                    guard let bit = bits.next() else {
                        throw ECGFormatError(.truncated, file: file, "Huffman data ends inside sample \(out.count) of \(count)", at: location)
                    }
                    raw = raw << 1 | UInt64(bit)
                }
                // Two's complement of `extra` bits.
                let signed = (raw >> UInt64(extra - 1)) & 1 == 1 ? Int64(raw) - (Int64(1) << Int64(extra)) : Int64(raw)
                value += Int(signed)
            }
            out.append(Int32(truncatingIfNeeded: value))
        }
        return out
    }
}

/// Reads bits first-bit-most-significant, as SCP-ECG packs Huffman codes into bytes.
struct SCPBitReader {
    private let bytes: ArraySlice<UInt8>
    private var bitOffset = 0
    private(set) var exhausted = false

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    mutating func next() -> UInt32? {
        guard bitOffset < bytes.count * 8 else { exhausted = true; return nil }
        let byte = bytes[bytes.startIndex + bitOffset >> 3]
        let bit = UInt32(byte >> UInt8(7 - bitOffset & 7)) & 1
        bitOffset += 1
        return bit
    }
}
