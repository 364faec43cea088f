import Foundation

/// Reads DICOM 12-lead ECG waveform objects (Part 3 A.34) in explicit or implicit VR little endian:
/// the Waveform Sequence (5400,0100), each multiplex group's channel definitions with sensitivity,
/// correction factor and baseline, 8- or 16-bit samples. The rhythm group is read (a median-beat
/// group, when present, is not a continuous signal).
public struct DICOMWaveformReader: SingleFileECGReader {
    public static let format = ECGFileFormat.dicom
    public init() {}

    static let implicitLE = "1.2.840.10008.1.2"
    static let explicitLE = "1.2.840.10008.1.2.1"
    static let maxDepth = 12

    /// Tags whose value is a sequence; needed in implicit VR, where no VR is written.
    static let sequenceTags: Set<UInt32> = [
        0x5400_0100, 0x003A_0200, 0x003A_0208, 0x003A_0211, 0x003A_0209, 0x003A_0300,
        0x0040_A730, 0x0040_A043, 0x0040_A168, 0x0040_B020, 0x0008_1110, 0x0008_1111, 0x0008_1032,
        0x0018_0026, 0x0018_0029, 0x0008_1250, 0x0040_0275, 0x0032_1064, 0x0040_A370, 0x0040_A385,
        0x0040_0260, 0x0040_A088, 0x0040_0008, 0x0008_0096, 0x0008_1084, 0x0040_A195, 0x0040_A504,
    ]

    /// A parsed element: raw value bytes, or the items of a sequence.
    struct Element {
        var vr: String?
        var value: Range<Int>
        var items: [[UInt32: Element]]?
    }

    public func read(data: Data, path: String) throws -> ECGRecord {
        let bytes = [UInt8](data)
        guard bytes.count >= 132, bytes[128] == 0x44, bytes[129] == 0x49, bytes[130] == 0x43, bytes[131] == 0x4D else {
            throw ECGFormatError(.unknownFormat, file: path, "no 'DICM' marker at byte 128: not a DICOM Part 10 file", at: "byte 128")
        }
        var cursor = ByteCursor(bytes, file: path, offset: 132)
        // File meta information (group 0002) is always explicit VR little endian.
        var meta: [UInt32: Element] = [:]
        while cursor.remaining >= 2 {
            let group = UInt16(bytes[cursor.offset]) | UInt16(bytes[cursor.offset + 1]) << 8
            guard group == 0x0002 else { break }
            let (tag, element) = try parseElement(&cursor, explicit: true, depth: 0)
            meta[tag] = element
        }
        let syntax = meta[0x0002_0010].map { string(bytes, $0) } ?? DICOMWaveformReader.explicitLE
        let explicit: Bool
        switch syntax {
        case DICOMWaveformReader.implicitLE: explicit = false
        case DICOMWaveformReader.explicitLE: explicit = true
        default:
            throw ECGFormatError(.unsupported, file: path, "transfer syntax \(syntax) is not read (only implicit and explicit VR little endian)", at: "(0002,0010)")
        }
        let dataset = try parseDataset(&cursor, end: bytes.count, explicit: explicit, depth: 0)
        guard let groups = dataset[0x5400_0100]?.items, !groups.isEmpty else {
            throw ECGFormatError(.missingData, file: path, "no Waveform Sequence (5400,0100): not a waveform object")
        }
        func label(_ g: [UInt32: Element]) -> String { g[0x003A_0020].map { string(bytes, $0) }?.uppercased() ?? "" }
        let groupIndex = groups.firstIndex { label($0).contains("RHYTHM") }
            ?? groups.firstIndex { !label($0).contains("MEDIAN") } ?? 0
        let group = groups[groupIndex]
        let at = "Waveform Sequence item \(groupIndex + 1)"

        func uint(_ tag: UInt32, _ what: String) throws -> Int {
            guard let e = group[tag] else {
                throw ECGFormatError(.missingData, file: path, "\(what) \(tagText(tag)) is missing", at: at)
            }
            switch e.value.count {
            case 2: return Int(UInt16(bytes[e.value.lowerBound]) | UInt16(bytes[e.value.lowerBound + 1]) << 8)
            case 4: return Int(UInt32(bytes[e.value.lowerBound]) | UInt32(bytes[e.value.lowerBound + 1]) << 8 | UInt32(bytes[e.value.lowerBound + 2]) << 16 | UInt32(bytes[e.value.lowerBound + 3]) << 24)
            default: throw ECGFormatError(.malformedHeader, file: path, "\(what) \(tagText(tag)) has \(e.value.count) bytes, not 2 or 4", at: at)
            }
        }
        let channels = try uint(0x003A_0005, "Number of Waveform Channels")
        let samples = try uint(0x003A_0010, "Number of Waveform Samples")
        let bits = try uint(0x5400_1004, "Waveform Bits Allocated")
        let interpretation = group[0x5400_1006].map { string(bytes, $0) } ?? "SS"
        guard let fsElement = group[0x003A_001A], let fs = Double(string(bytes, fsElement)), fs > 0, fs.isFinite else {
            throw ECGFormatError(.invalidValue, file: path, "Sampling Frequency (003A,001A) is missing or not positive", at: at)
        }
        guard channels > 0, channels <= ReaderLimits.maxLeads else {
            throw ECGFormatError(.invalidValue, file: path, "\(channels) waveform channels", at: at)
        }
        guard samples <= ReaderLimits.maxSamplesPerLead else {
            throw ECGFormatError(.invalidValue, file: path, "\(samples) samples per channel exceeds the limit", at: at)
        }
        let bytesPerSample: Int
        switch (bits, interpretation) {
        case (16, "SS"), (16, "US"): bytesPerSample = 2
        case (8, "SB"), (8, "UB"): bytesPerSample = 1
        default:
            throw ECGFormatError(.unsupported, file: path, "\(bits)-bit '\(interpretation)' samples (read: 16-bit SS/US, 8-bit SB/UB)", at: at)
        }
        guard let wave = group[0x5400_1010] else {
            throw ECGFormatError(.missingData, file: path, "Waveform Data (5400,1010) is missing", at: at)
        }
        let needed = channels * samples * bytesPerSample
        guard wave.value.count >= needed else {
            throw ECGFormatError(.truncated, file: path, "Waveform Data holds \(wave.value.count) bytes, \(channels) channels × \(samples) samples need \(needed)", at: at)
        }
        guard let defs = group[0x003A_0200]?.items, defs.count == channels else {
            throw ECGFormatError(.malformedHeader, file: path, "Channel Definition Sequence (003A,0200) must have one item per channel (\(channels))", at: at)
        }
        // Waveform Padding Value (5400,100A): samples equal to it are missing (PS3.3 C.10.9.1.6),
        // read as NaN like every other reader's gaps, not as a huge negative voltage. Honoured only
        // when it is the most negative value of signed samples (−32768, −128: what writers that mark
        // gaps use, ours included): ECG Toolkit declares a padding value of 0, which would erase
        // every real 0 µV sample (1,269 of them in its example file; pydicom ignores the element).
        var padding: Double? = nil
        if let pad = group[0x5400_100A], pad.value.count >= bytesPerSample {
            let p = pad.value.lowerBound
            switch (bytesPerSample, interpretation) {
            case (2, "SS"):
                let v = Int16(bitPattern: UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8)
                if v == Int16.min { padding = Double(v) }
            case (1, "SB"):
                let v = Int8(bitPattern: bytes[p])
                if v == Int8.min { padding = Double(v) }
            default: break
            }
        }
        var leads: [Lead] = []
        for (c, def) in defs.enumerated() {
            let cat = "\(at), channel \(c + 1)"
            func ds(_ tag: UInt32, default d: Double) throws -> Double {
                guard let e = def[tag] else { return d }
                let s = string(bytes, e)
                guard let v = Double(s.split(separator: "\\").first.map(String.init) ?? s), v.isFinite else {
                    throw ECGFormatError(.invalidValue, file: path, "\(tagText(tag)) '\(s.prefix(20))' is not a number", at: cat)
                }
                return v
            }
            let sensitivity = try ds(0x003A_0210, default: 1)
            let correction = try ds(0x003A_0212, default: 1)
            let baseline = try ds(0x003A_0213, default: 0)
            var unitFactor = 0.001 // µV: the unit DICOM ECGs use in practice
            if let unitItem = def[0x003A_0211]?.items?.first, let code = unitItem[0x0008_0100].map({ string(bytes, $0) }) {
                guard let f = millivoltFactor(forUnit: code) else {
                    throw ECGFormatError(.unsupported, file: path, "channel sensitivity unit '\(code)' is not a voltage", at: cat)
                }
                unitFactor = f
            }
            var name = "channel\(c + 1)"
            if let source = def[0x003A_0208]?.items?.first {
                if let meaning = source[0x0008_0104].map({ string(bytes, $0) }), !meaning.isEmpty {
                    name = meaning
                } else if let code = source[0x0008_0100].map({ string(bytes, $0) }), !code.isEmpty {
                    name = DICOMWaveformReader.scpLeadName(code) ?? code
                }
            } else if let label = def[0x003A_0203].map({ string(bytes, $0) }), !label.isEmpty {
                name = label
            }
            if let paren = name.firstIndex(of: "(") { name = name[..<paren].trimmedOfWhitespace() }
            // Baseline is in sensitivity units (PS3.3 C.10.9.1.4.2), as pydicom applies it.
            let scale = sensitivity * correction * unitFactor
            var mv = [Float](repeating: 0, count: samples)
            let base = wave.value.lowerBound
            for t in 0..<samples {
                let p = base + (t * channels + c) * bytesPerSample
                let raw: Double
                switch (bytesPerSample, interpretation) {
                case (2, "SS"): raw = Double(Int16(bitPattern: UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8))
                case (2, _): raw = Double(UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8)
                case (1, "SB"): raw = Double(Int8(bitPattern: bytes[p]))
                default: raw = Double(bytes[p])
                }
                mv[t] = raw == padding ? .nan : Float((raw * scale + baseline * unitFactor))
            }
            leads.append(Lead(parsing: name, millivolts: mv))
        }
        var md = ECGMetadata()
        md.patientID = dataset[0x0010_0020].map { string(bytes, $0) }.flatMap { $0.isEmpty ? nil : $0 }
        md.sex = dataset[0x0010_0040].map { string(bytes, $0) }.flatMap(parseSex)
        if let age = dataset[0x0010_1010].map({ string(bytes, $0) }), let n = Double(age.prefix { $0.isNumber }) {
            switch age.last {
            case "M": md.ageYears = n / 12
            case "W": md.ageYears = n / 52.18
            case "D": md.ageYears = n / 365.25
            default: md.ageYears = n
            }
        }
        let maker = [0x0008_0070, 0x0008_1090].compactMap { dataset[UInt32($0)].map { string(bytes, $0) } }.filter { !$0.isEmpty }
        if !maker.isEmpty { md.device = maker.joined(separator: " ") }
        let stamp = dataset[0x0008_002A].map { string(bytes, $0) }
            ?? [dataset[0x0008_0023], dataset[0x0008_0033]].compactMap { $0.map { string(bytes, $0) } }.joined()
        if stamp.count >= 14 {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyyMMddHHmmss"
            md.acquisitionTime = f.date(from: String(stamp.prefix(14)))
        }
        md.extra["transferSyntax"] = syntax
        func text(_ tag: UInt32) -> String? { dataset[tag].map { string(bytes, $0) } }
        if let study = text(0x0020_000D), DICOMStudyReference.isValidUID(study) {
            md.sourceStudy = DICOMStudyReference(
                studyInstanceUID: study,
                accessionNumber: DICOMStudyReference.cleanText(text(0x0008_0050), limit: 16),
                studyID: DICOMStudyReference.cleanText(text(0x0020_0010), limit: 16),
                sopClassUID: text(0x0008_0016).flatMap { DICOMStudyReference.isValidUID($0) ? $0 : nil },
                sopInstanceUID: text(0x0008_0018).flatMap { DICOMStudyReference.isValidUID($0) ? $0 : nil },
                patientName: DICOMStudyReference.cleanText(text(0x0010_0010), limit: 64 * 5),
                patientBirthDate: DICOMStudyReference.cleanDate(text(0x0010_0030)),
                referringPhysician: DICOMStudyReference.cleanText(text(0x0008_0090), limit: 64 * 5))
        }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: fs, metadata: md,
                                   provenance: Provenance(format: .dicom, path: path, sha256: sha256Hex([data])))
    }

    /// SCP-ECG lead codes (coding scheme SCPECG) used when a file gives no code meaning.
    static func scpLeadName(_ code: String) -> String? {
        let table = ["5.6.3-9-1": "I", "5.6.3-9-2": "II", "5.6.3-9-3": "V1", "5.6.3-9-4": "V2", "5.6.3-9-5": "V3",
                     "5.6.3-9-6": "V4", "5.6.3-9-7": "V5", "5.6.3-9-8": "V6", "5.6.3-9-61": "III",
                     "5.6.3-9-62": "aVR", "5.6.3-9-63": "aVL", "5.6.3-9-64": "aVF"]
        return table[code]
    }

    func tagText(_ tag: UInt32) -> String { String(format: "(%04X,%04X)", tag >> 16, tag & 0xFFFF) }

    func string(_ bytes: [UInt8], _ e: Element) -> String {
        let s = String(decoding: bytes[e.value], as: UTF8.self)
        return s.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
    }

    static let longVRs: Set<String> = ["OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UT", "UN", "UC", "UR", "SV", "UV"]

    func parseElement(_ c: inout ByteCursor, explicit: Bool, depth: Int) throws -> (UInt32, Element) {
        let start = c.offset
        let group = try c.u16le("element tag"), elem = try c.u16le("element tag")
        let tag = UInt32(group) << 16 | UInt32(elem)
        var vr: String?
        var length: UInt32
        if explicit && group != 0xFFFE {
            let v = try c.take(2, "value representation")
            vr = String(decoding: v, as: UTF8.self)
            if DICOMWaveformReader.longVRs.contains(vr ?? "") {
                _ = try c.take(2, "reserved bytes")
                length = try c.u32le("value length")
            } else {
                length = UInt32(try c.u16le("value length"))
            }
        } else {
            length = try c.u32le("value length")
            if DICOMWaveformReader.sequenceTags.contains(tag) { vr = "SQ" }
        }
        let undefined = length == 0xFFFF_FFFF
        if vr == "SQ" || (undefined && (vr == nil || vr == "UN")) {
            guard depth < DICOMWaveformReader.maxDepth else {
                throw ECGFormatError(.invalidValue, file: c.file, "sequences nest deeper than \(DICOMWaveformReader.maxDepth) levels", at: "byte \(start)")
            }
            let end = undefined ? nil : c.offset + Int(length)
            if let end { try c.need(Int(length), "sequence \(tagText(tag))") }
            let items = try parseItems(&c, end: end, explicit: explicit, depth: depth + 1)
            return (tag, Element(vr: "SQ", value: start..<start, items: items))
        }
        if undefined {
            throw ECGFormatError(.unsupported, file: c.file, "undefined-length value in \(tagText(tag)) (encapsulated data) is not read", at: "byte \(start)")
        }
        let range = c.offset..<(c.offset + Int(min(length, UInt32(Int32.max))))
        _ = try c.take(Int(length), "value of \(tagText(tag))")
        return (tag, Element(vr: vr, value: range, items: nil))
    }

    func parseItems(_ c: inout ByteCursor, end: Int?, explicit: Bool, depth: Int) throws -> [[UInt32: Element]] {
        var items: [[UInt32: Element]] = []
        while end.map({ c.offset < $0 }) ?? true {
            let at = c.offset
            let group = try c.u16le("item tag"), elem = try c.u16le("item tag")
            let length = try c.u32le("item length")
            if group == 0xFFFE && elem == 0xE0DD { break } // sequence delimiter
            guard group == 0xFFFE && elem == 0xE000 else {
                throw ECGFormatError(.malformedHeader, file: c.file, String(format: "expected a sequence item, found (%04X,%04X)", group, elem), at: "byte \(at)")
            }
            if length == 0xFFFF_FFFF {
                items.append(try parseDataset(&c, end: nil, explicit: explicit, depth: depth))
            } else {
                try c.need(Int(length), "sequence item")
                let itemEnd = c.offset + Int(length)
                items.append(try parseDataset(&c, end: itemEnd, explicit: explicit, depth: depth))
                c.offset = itemEnd
            }
            if items.count > 100_000 {
                throw ECGFormatError(.invalidValue, file: c.file, "sequence has more than 100000 items", at: "byte \(at)")
            }
        }
        if let end { c.offset = max(c.offset, end) }
        return items
    }

    /// Elements until `end`, or until an item delimiter when the item has undefined length.
    func parseDataset(_ c: inout ByteCursor, end: Int?, explicit: Bool, depth: Int) throws -> [UInt32: Element] {
        var out: [UInt32: Element] = [:]
        while end.map({ c.offset < $0 }) ?? (c.remaining > 0) {
            if end == nil || depth > 0, c.remaining >= 4 {
                let g = UInt16(c.bytes[c.offset]) | UInt16(c.bytes[c.offset + 1]) << 8
                let e = UInt16(c.bytes[c.offset + 2]) | UInt16(c.bytes[c.offset + 3]) << 8
                if g == 0xFFFE && e == 0xE00D { // item delimiter
                    _ = try c.take(8, "item delimiter")
                    return out
                }
            }
            // Trailing padding after the last element of the file.
            if depth == 0, end != nil, c.remaining < 8, c.bytes[c.offset...].allSatisfy({ $0 == 0 }) { break }
            let (tag, element) = try parseElement(&c, explicit: explicit, depth: depth)
            if let end, c.offset > end {
                throw ECGFormatError(.malformedHeader, file: c.file, "element \(tagText(tag)) runs past the end of its item", at: "byte \(c.offset)")
            }
            // A tag appears once per data set (PS3.5 7.1): a repeat is corruption, e.g. a zero-filled
            // file whose every 8 bytes parse as element (0000,0000) — refused at the second one.
            guard out[tag] == nil else {
                throw ECGFormatError(.corrupt, file: c.file, "element \(tagText(tag)) appears twice in one data set", at: "byte \(c.offset)")
            }
            out[tag] = element
        }
        if end == nil && depth > 0 {
            throw ECGFormatError(.truncated, file: c.file, "file ends inside an undefined-length sequence item", at: "byte \(c.offset)")
        }
        return out
    }
}
