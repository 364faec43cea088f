import Crypto
import Foundation

/// A DICOM data set being built for writing: elements by tag, encoded in ascending tag order as
/// explicit VR little endian (PS3.5 7.1.2), sequences and items with defined lengths. Used by the
/// ECG waveform writer here and by the CMR image export (CMRExport). See docs/formats.md.
public struct DICOMDataSet: Sendable, Equatable {
    public struct Element: Sendable, Equatable {
        public var vr: String
        /// The value bytes, already padded to even length (empty for sequences).
        public var bytes: [UInt8]
        /// Items of a sequence (VR SQ).
        public var items: [DICOMDataSet]?
    }

    public private(set) var elements: [UInt32: Element] = [:]

    public init() {}

    /// Maximum value lengths (bytes, per value) of the text VRs, PS3.5 table 6.2-1.
    static let maxLength: [String: Int] = ["AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
                                           "LT": 10240, "PN": 64, "SH": 16, "ST": 1024, "TM": 16, "UI": 64, "UC": Int.max,
                                           "UT": Int.max, "UR": Int.max]

    /// A text element. Multiple values are joined with `\`; each value is cut to its VR's maximum
    /// length (PN: per component group); the whole padded to even length (UI with NUL, others with space).
    public mutating func set(_ tag: UInt32, _ vr: String, _ values: [String]) {
        let limit = DICOMDataSet.maxLength[vr] ?? Int.max
        let cut = values.map { v -> String in
            var s = v
            if vr != "LT" && vr != "ST" && vr != "UT" {
                s = s.replacingOccurrences(of: "\\", with: "/")   // a backslash would split the value
            }
            while s.utf8.count > limit { s.removeLast() }
            return s
        }
        var bytes = Array(cut.joined(separator: "\\").utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == "UI" ? 0 : 0x20) }
        elements[tag] = Element(vr: vr, bytes: bytes, items: nil)
    }

    public mutating func set(_ tag: UInt32, _ vr: String, _ value: String) { set(tag, vr, [value]) }

    /// An empty (zero-length) element: a Type 2 attribute whose value is unknown.
    public mutating func setEmpty(_ tag: UInt32, _ vr: String) { elements[tag] = Element(vr: vr, bytes: [], items: vr == "SQ" ? [] : nil) }

    public mutating func set(_ tag: UInt32, us values: [UInt16]) {
        elements[tag] = Element(vr: "US", bytes: values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, items: nil)
    }

    public mutating func set(_ tag: UInt32, ul values: [UInt32]) {
        elements[tag] = Element(vr: "UL", bytes: values.flatMap(DICOMDataSet.le32), items: nil)
    }

    /// Attribute Tag values (VR AT): group then element, each 16-bit little endian.
    public mutating func set(_ tag: UInt32, at values: [UInt32]) {
        elements[tag] = Element(vr: "AT", bytes: values.flatMap { v -> [UInt8] in
            let g = UInt16(v >> 16), e = UInt16(v & 0xFFFF)
            return [UInt8(g & 0xFF), UInt8(g >> 8), UInt8(e & 0xFF), UInt8(e >> 8)]
        }, items: nil)
    }

    /// Binary data (OB, OW): padded with one zero byte to even length.
    public mutating func set(_ tag: UInt32, binary vr: String, _ bytes: [UInt8]) {
        var b = bytes
        if b.count % 2 == 1 { b.append(0) }
        elements[tag] = Element(vr: vr, bytes: b, items: nil)
    }

    public mutating func set(_ tag: UInt32, sequence items: [DICOMDataSet]) {
        elements[tag] = Element(vr: "SQ", bytes: [], items: items)
    }

    public func has(_ tag: UInt32) -> Bool { elements[tag] != nil }

    /// True when any text value holds bytes outside ASCII (then Specific Character Set must say UTF-8).
    var hasNonASCIIText: Bool {
        elements.values.contains { e in
            if let items = e.items { return items.contains { $0.hasNonASCIIText } }
            return !["OB", "OW", "US", "UL", "AT", "SS", "SL", "FL", "FD"].contains(e.vr) && e.bytes.contains { $0 >= 0x80 }
        }
    }

    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    /// VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"]

    /// Explicit VR little endian encoding, ascending tag order.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        for tag in elements.keys.sorted() {
            let e = elements[tag]!
            out += DICOMDataSet.le16(UInt16(tag >> 16)) + DICOMDataSet.le16(UInt16(tag & 0xFFFF))
            out += Array(e.vr.utf8)
            var value = e.bytes
            if let items = e.items {
                value = []
                for item in items {
                    let body = item.encoded()
                    value += [0xFE, 0xFF, 0x00, 0xE0] + DICOMDataSet.le32(UInt32(body.count)) + body
                }
            }
            if DICOMDataSet.longVRs.contains(e.vr) {
                out += [0, 0] + DICOMDataSet.le32(UInt32(value.count))
            } else {
                out += DICOMDataSet.le16(UInt16(min(value.count, 0xFFFE)))
            }
            out += value
        }
        return out
    }
}

/// DICOM Part 10 files: 128-byte preamble, "DICM", the File Meta Information group (with its group
/// length), then the data set in explicit VR little endian.
public enum DICOMFile {
    public static let explicitVRLittleEndian = "1.2.840.10008.1.2.1"
    /// ecg2cmr's implementation class UID: 2.25 form of the fixed UUID 6f1c8a52-3b7e-4d1a-9c55-2e0b7f4a9d13.
    public static let implementationClassUID = DICOMUID.fromUUID(UUID(uuidString: "6f1c8a52-3b7e-4d1a-9c55-2e0b7f4a9d13")!)
    public static let implementationVersionName = "ECG2CMR_0_1"

    public static func encode(_ dataset: DICOMDataSet, sopClassUID: String, sopInstanceUID: String) -> Data {
        var ds = dataset
        ds.set(0x0008_0016, "UI", sopClassUID)
        ds.set(0x0008_0018, "UI", sopInstanceUID)
        if ds.hasNonASCIIText { ds.set(0x0008_0005, "CS", "ISO_IR 192") }
        var meta = DICOMDataSet()
        meta.set(0x0002_0001, binary: "OB", [0x00, 0x01])
        meta.set(0x0002_0002, "UI", sopClassUID)
        meta.set(0x0002_0003, "UI", sopInstanceUID)
        meta.set(0x0002_0010, "UI", explicitVRLittleEndian)
        meta.set(0x0002_0012, "UI", implementationClassUID)
        meta.set(0x0002_0013, "SH", implementationVersionName)
        let metaBytes = meta.encoded()
        var groupLength = DICOMDataSet()
        groupLength.set(0x0002_0000, ul: [UInt32(metaBytes.count)])
        var out = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        out += groupLength.encoded() + metaBytes + ds.encoded()
        return Data(out)
    }
}

/// UIDs under the 2.25 root (PS3.5 B.2): the decimal value of a 128-bit UUID.
public enum DICOMUID {
    public static func fromUUID(_ uuid: UUID) -> String {
        let u = uuid.uuid
        return fromBytes([u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
    }

    /// A fresh random (version 4) UUID as a UID.
    public static func random() -> String { fromUUID(UUID()) }

    /// A name-based UUID (RFC 9562 version 8: the first 16 bytes of SHA-256 of `name`, version and
    /// variant bits set) as a UID: the same name always gives the same UID, different names different ones.
    public static func named(_ name: String) -> String {
        var b = Array(SHA256.hash(data: Data(name.utf8))).prefix(16).map { $0 }
        b[6] = (b[6] & 0x0F) | 0x80
        b[8] = (b[8] & 0x3F) | 0x80
        return fromBytes(b)
    }

    static func fromBytes(_ bytes: [UInt8]) -> String {
        // 128-bit big-endian integer as four 32-bit words; repeated division by 10.
        var words: [UInt64] = stride(from: 0, to: 16, by: 4).map { i in
            UInt64(bytes[i]) << 24 | UInt64(bytes[i + 1]) << 16 | UInt64(bytes[i + 2]) << 8 | UInt64(bytes[i + 3])
        }
        var digits: [Character] = []
        while words.contains(where: { $0 != 0 }) {
            var rem: UInt64 = 0
            for k in words.indices {
                let cur = rem << 32 | words[k]
                words[k] = cur / 10
                rem = cur % 10
            }
            digits.append(Character(String(rem)))
        }
        return "2.25." + (digits.isEmpty ? "0" : String(digits.reversed()))
    }
}

/// DICOM value formatting.
public enum DICOMValue {
    /// Decimal String (at most 16 characters), shortest representation that fits.
    public static func ds(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { let s = String(Int64(x)); if s.count <= 16 { return s } }
        for precision in stride(from: 15, through: 1, by: -1) {
            var s = String(format: "%.\(precision)g", x)
            if s.contains("e") { s = s.replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e-0", with: "e-") }
            if s.count <= 16 { return s }
        }
        return "0"
    }

    static let utc: TimeZone = TimeZone(identifier: "UTC")!

    public static func date(_ d: Date) -> String { format(d, "yyyyMMdd") }
    public static func time(_ d: Date) -> String { format(d, "HHmmss") }
    public static func dateTime(_ d: Date) -> String { format(d, "yyyyMMddHHmmss") }

    static func format(_ d: Date, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = utc
        f.dateFormat = pattern
        return f.string(from: d)
    }

    /// Age String: "078Y" (or months / weeks / days for infants).
    public static func age(_ years: Double) -> String? {
        guard years.isFinite, years >= 0, years < 1000 else { return nil }
        if years >= 2 { return String(format: "%03dY", Int(years)) }
        if years * 12 >= 1 { return String(format: "%03dM", Int(years * 12)) }
        return String(format: "%03dD", Int(years * 365.25))
    }

    /// Patient's Sex code string: M, F, or nil (unknown → empty, a Type 2 attribute).
    public static func sex(_ s: Sex?) -> String? {
        switch s {
        case .male: return "M"
        case .female: return "F"
        default: return nil
        }
    }
}
