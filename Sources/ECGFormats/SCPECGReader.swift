import Foundation

/// Reads SCP-ECG records (EN 1064:2005 / ISO 11073-91064, protocol versions 1.x–2.x).
///
/// Sections: 0 pointers; 1 patient data tags (patient ID, age or birth date → age, sex, acquisition
/// date/time, device, filters — names and birth date are not kept, as no reader keeps them); 2 Huffman
/// tables (none, the standard's default table, or the file's own, with table switches); 3 lead
/// definition; 4 QRS locations, reference-beat subtraction zones and bimodal protected zones; 5 the
/// reference beat; 6 rhythm or residual data (first/second differences, bimodal compression, reference
/// beat added back); 7 global measurements (kept as the device's own values); 8 and 11 interpretive
/// statements; 9 (manufacturer) and 10 (per-lead measurements) are checked but not kept. The record
/// CRC and every section's CRC-CCITT are verified before anything is decoded.
public struct SCPECGReader: SingleFileECGReader {
    public static let format = ECGFileFormat.scpECG
    public init() {}

    /// Bytes 6… are section 0's header: CRC, ID 0, length, versions and, by convention, "SCPECG".
    /// Without that marker the record length must match and section 0's CRC must hold.
    /// Works on the first bytes of a file (discovery sniffs 1 KB).
    public static func looksLikeSCP(_ data: Data) -> Bool {
        let b = [UInt8](data.prefix(64))
        guard b.count >= 22, b[8] == 0, b[9] == 0 else { return false }
        if Array(b[16..<22]) == Array("SCPECG".utf8) { return true }
        let recordLength = Int(UInt32(b[2]) | UInt32(b[3]) << 8 | UInt32(b[4]) << 16 | UInt32(b[5]) << 24)
        let section0 = Int(UInt32(b[10]) | UInt32(b[11]) << 8 | UInt32(b[12]) << 16 | UInt32(b[13]) << 24)
        guard recordLength >= 22, section0 >= 16, section0 <= recordLength - 6, 6 + section0 <= data.count,
              (section0 - 16) % 10 == 0 else { return false }
        let all = [UInt8](data.prefix(6 + section0))
        return CRCCCITT.checksum(all[8..<(6 + section0)]) == UInt16(b[6]) | UInt16(b[7]) << 8
    }

    /// Where one section lies: its body (after the 16-byte header) and its header's protocol version.
    struct Section {
        var id: Int
        var offset: Int
        var length: Int
        var protocolVersion: Int
        var bodyStart: Int { offset + 16 }
        var end: Int { offset + length }
        var name: String { "section \(id)" }
    }

    public func read(data: Data, path: String) throws -> ECGRecord {
        let bytes = [UInt8](data)
        var cursor = ByteCursor(bytes, file: path)
        guard bytes.count >= 22 else {
            throw ECGFormatError(.truncated, file: path, "file is \(bytes.count) bytes, shorter than an SCP-ECG record header and section 0 header (22 bytes)")
        }
        let recordCRC = try cursor.u16le("record CRC")
        let recordLength = Int(try cursor.u32le("record length"))
        guard recordLength >= 22 else {
            throw ECGFormatError(.invalidValue, file: path, "record length \(recordLength) is shorter than the record and section 0 headers", at: "byte 2")
        }
        guard recordLength <= bytes.count else {
            throw ECGFormatError(.truncated, file: path, "record says it is \(recordLength) bytes, the file has \(bytes.count)", at: "byte 2")
        }
        let computed = CRCCCITT.checksum(bytes[2..<recordLength])
        guard computed == recordCRC else {
            throw ECGFormatError(.corrupt, file: path, String(format: "record CRC-CCITT mismatch: file says 0x%04X, bytes 2…%d give 0x%04X", recordCRC, recordLength - 1, computed), at: "byte 0")
        }
        let pointers = try readPointers(bytes, recordLength: recordLength, file: path)
        var sections: [Int: Section] = [:]
        for (id, pointer) in pointers.sorted(by: { $0.key < $1.key }) where pointer.length > 0 {
            sections[id] = try checkedSection(bytes, id: id, offset: pointer.offset, length: pointer.length,
                                              recordLength: recordLength, file: path)
        }
        var md = ECGMetadata()
        var birthDate: DateComponents?
        if let s1 = sections[1] { birthDate = try readPatientData(bytes, s1, into: &md, file: path) }
        if md.ageYears == nil, let birth = birthDate, let acquired = md.acquisitionTime {
            md.ageYears = Self.age(born: birth, at: acquired)
        }
        if let v = sections[0]?.protocolVersion, v > 0 { md.extra["scpProtocolVersion"] = String(format: "%.1f", Double(v) / 10) }
        let tables = try sections[2].map { s in
            var c = ByteCursor(bytes, file: path, offset: s.bodyStart)
            return try SCPHuffmanTables.parse(&c, end: s.end, at: s.name)
        } ?? .none
        guard let s3 = sections[3] else {
            throw ECGFormatError(.missingData, file: path, "no lead definition (section 3 is absent)", at: "section 0")
        }
        let definition = try readLeadDefinition(bytes, s3, file: path)
        let qrs = try sections[4].map { try readQRSLocations(bytes, $0, file: path) }
        guard let s6 = sections[6] else {
            throw ECGFormatError(.missingData, file: path, "no rhythm data (section 6 is absent); a record holding only a reference beat is not a 10 s ECG", at: "section 0")
        }
        let rhythm = try readRhythm(bytes, s6, section5: sections[5], definition: definition, qrs: qrs, tables: tables, file: path)
        if let s7 = sections[7] { md.deviceMeasurements = try readGlobalMeasurements(bytes, s7, device: md.device, file: path) }
        var statements: [String] = []
        var codes: [String] = []
        if let s8 = sections[8] { statements = try readStatements(bytes, s8, typed: false, file: path).texts }
        if let s11 = sections[11] {
            let universal = try readStatements(bytes, s11, typed: true, file: path)
            if statements.isEmpty { statements = universal.texts }
            codes = universal.codes
        }
        if let s10 = sections[10] { try checkLeadMeasurements(bytes, s10, file: path) }
        if !statements.isEmpty { md.extra["diagnosis"] = statements.joined(separator: " ") }
        if !codes.isEmpty { md.extra["statementCodes"] = codes.joined(separator: " ") }
        if let hr = md.deviceMeasurements?.heartRateBpm { md.extra["ventricularRate"] = NumberText.whole(hr) }
        return try ECGRecord.canonical(storedLeads: rhythm.leads, samplingRate: rhythm.samplingRate, metadata: md,
                                       provenance: Provenance(format: .scpECG, path: path, sha256: sha256Hex([data])))
    }

    // MARK: Sections 0 and the section headers

    private func readPointers(_ bytes: [UInt8], recordLength: Int, file: String) throws -> [Int: (offset: Int, length: Int)] {
        let s0 = try checkedSection(bytes, id: 0, offset: 6, length: nil, recordLength: recordLength, file: file)
        var c = ByteCursor(bytes, file: file, offset: s0.bodyStart)
        var pointers: [Int: (offset: Int, length: Int)] = [:]
        while s0.end - c.offset >= 10 {
            let at = "section 0, byte \(c.offset)"
            let id = Int(try c.u16le("section ID"))
            let length = Int(try c.u32le("section length"))
            let index = Int(try c.u32le("section index"))
            guard pointers[id] == nil else {
                throw ECGFormatError(.invalidValue, file: file, "section \(id) is listed twice in the pointer section", at: at)
            }
            if length == 0 { pointers[id] = (0, 0); continue }
            // Index is the 1-based byte position in the record.
            guard index >= 1, length >= 16, index - 1 <= recordLength, length <= recordLength - (index - 1) else {
                throw ECGFormatError(.invalidValue, file: file, "section \(id) pointer (byte \(index), \(length) bytes) lies outside the \(recordLength)-byte record", at: at)
            }
            pointers[id] = (index - 1, length)
        }
        if let own = pointers[0], own.length > 0, own.offset != 6 {
            throw ECGFormatError(.invalidValue, file: file, "section 0 points to itself at byte \(own.offset + 1), not 7", at: "section 0")
        }
        pointers[0] = nil
        return pointers
    }

    /// Checks a section header against its pointer (ID, length, inside the record) and its CRC, which
    /// covers the section from its ID to its last byte.
    private func checkedSection(_ bytes: [UInt8], id: Int, offset: Int, length declared: Int?, recordLength: Int, file: String) throws -> Section {
        let at = "section \(id) at byte \(offset)"
        guard offset >= 0, offset <= recordLength - 16 else {
            throw ECGFormatError(.truncated, file: file, "record ends inside the header of section \(id)", at: at)
        }
        var c = ByteCursor(bytes, file: file, offset: offset)
        let crc = try c.u16le("section CRC")
        let storedID = Int(try c.u16le("section ID"))
        let length = Int(try c.u32le("section length"))
        _ = try c.u8("section version")
        let protocolVersion = Int(try c.u8("protocol version"))
        guard storedID == id else {
            throw ECGFormatError(.invalidValue, file: file, "pointer for section \(id) leads to a header of section \(storedID)", at: at)
        }
        guard length >= 16, length <= recordLength - offset else {
            throw ECGFormatError(.invalidValue, file: file, "section \(id) says it is \(length) bytes; only \(recordLength - offset) remain in the record", at: at)
        }
        if let declared, declared != length {
            throw ECGFormatError(.invalidValue, file: file, "section \(id) header says \(length) bytes, the pointer section says \(declared)", at: at)
        }
        let computed = CRCCCITT.checksum(bytes[(offset + 2)..<(offset + length)])
        guard computed == crc else {
            throw ECGFormatError(.corrupt, file: file, String(format: "section %d CRC-CCITT mismatch: file says 0x%04X, data gives 0x%04X", id, crc, computed), at: at)
        }
        return Section(id: id, offset: offset, length: length, protocolVersion: protocolVersion)
    }

    // MARK: Section 1: patient data

    /// Fills the metadata; returns the birth date (used for the age when no age tag is given, never kept).
    private func readPatientData(_ bytes: [UInt8], _ s: Section, into md: inout ECGMetadata, file: String) throws -> DateComponents? {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        var birth: DateComponents?
        var date: DateComponents?
        var time: (Int, Int, Int)?
        while s.end - c.offset >= 3 {
            let tagAt = "section 1, byte \(c.offset)"
            let tag = try c.u8("tag")
            let length = Int(try c.u16le("tag length"))
            if tag == 255 { break }
            guard length <= s.end - c.offset else {
                throw ECGFormatError(.truncated, file: file, "tag \(tag) says \(length) bytes; section 1 has \(s.end - c.offset) left", at: tagAt)
            }
            let value = Array(try c.take(length, "tag \(tag)"))
            func u16(_ k: Int) -> Int { Int(UInt16(value[k]) | UInt16(value[k + 1]) << 8) }
            switch tag {
            case 2: md.patientID = Self.text(value).nonEmpty
            case 4 where value.count >= 3:
                let n = Double(u16(0))
                switch value[2] {
                case 1: md.ageYears = n
                case 2: md.ageYears = n / 12
                case 3: md.ageYears = n * 7 / 365.25
                case 4: md.ageYears = n / 365.25
                case 5: md.ageYears = n / (24 * 365.25)
                default: break
                }
                if u16(0) == 0 { md.ageYears = nil }  // writers put 0 for "not known"
            case 5 where value.count >= 4:
                if u16(0) > 0 { birth = DateComponents(year: u16(0), month: Int(value[2]), day: Int(value[3])) }
            case 8 where value.count >= 1:
                switch value[0] { case 1: md.sex = .male; case 2: md.sex = .female; default: md.sex = .unknown }
            case 14: md.device = Self.deviceName(value)
            case 25 where value.count >= 4:
                date = DateComponents(year: u16(0), month: Int(value[2]), day: Int(value[3]))
            case 26 where value.count >= 3:
                time = (Int(value[0]), Int(value[1]), Int(value[2]))
            case 27 where value.count >= 2:
                let v = u16(0)
                if v > 0, v != 0xFFFF { md.extra["highPassHz"] = String(format: "%.2f", Double(v) / 100) }
            case 28 where value.count >= 2:
                let v = u16(0)
                if v > 0, v != 0xFFFF { md.extra["lowPassHz"] = String(v) }
            default: break  // names, free text, drugs, history …: PHI or not used here
            }
        }
        if var d = date, let y = d.year, (1900...2200).contains(y) {
            d.hour = time?.0 ?? 0; d.minute = time?.1 ?? 0; d.second = time?.2 ?? 0
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
            if d.isValidDate(in: calendar) { md.acquisitionTime = calendar.date(from: d) }
        }
        return birth
    }

    static func age(born: DateComponents, at date: Date) -> Double? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        guard born.isValidDate(in: calendar), let b = calendar.date(from: born), b <= date else { return nil }
        return calendar.dateComponents([.year], from: b, to: date).year.map(Double.init)
    }

    /// Tag 14: 35 fixed bytes (institution, department, device ID, type, manufacturer code, 6-byte
    /// model, versions, mains frequency, reserved), a length-prefixed analysing-program revision, then
    /// NUL-terminated serial number, system software, SCP software and manufacturer name.
    static func deviceName(_ value: [UInt8]) -> String? {
        guard value.count >= 14 else { return nil }
        let model = text(Array(value[8..<14]))
        var manufacturer = ""
        if value.count > 36 {
            var k = 35 + 1 + Int(value[35])
            var strings: [String] = []
            while k < value.count, strings.count < 4 {
                let end = value[k...].firstIndex(of: 0) ?? value.count
                strings.append(text(Array(value[k..<end])))
                k = end + 1
            }
            if strings.count == 4 { manufacturer = strings[3] }
        }
        let parts = [manufacturer, model].filter { $0.lowercased() != "unknown" && $0.contains { $0.isLetter || $0.isNumber } }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// SCP strings are NUL-terminated; older devices write Latin-1, so that is the fallback.
    static func text(_ bytes: [UInt8]) -> String {
        let cut = bytes.prefix { $0 != 0 }
        let s = String(bytes: cut, encoding: .utf8) ?? String(bytes: cut, encoding: .isoLatin1) ?? ""
        return TerminalText.sanitize(s).trimmedOfWhitespace()
    }

    // MARK: Section 3: lead definition

    struct LeadDefinition {
        struct Entry { var id: LeadID; var firstSample: Int; var lastSample: Int; var count: Int { lastSample - firstSample + 1 } }
        var leads: [Entry]
        var referenceBeatSubtracted: Bool
    }

    private func readLeadDefinition(_ bytes: [UInt8], _ s: Section, file: String) throws -> LeadDefinition {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 2 else { throw ECGFormatError(.truncated, file: file, "section 3 has no lead count", at: "section 3") }
        let count = Int(try c.u8("number of leads"))
        let flags = try c.u8("lead flags")
        guard count >= 1 else { throw ECGFormatError(.missingData, file: file, "section 3 defines no leads", at: "section 3") }
        guard s.end - c.offset >= count * 9 else {
            throw ECGFormatError(.truncated, file: file, "section 3 declares \(count) leads but holds \(max(0, s.end - c.offset) / 9)", at: "section 3")
        }
        var entries: [LeadDefinition.Entry] = []
        for k in 0..<count {
            var first = Int(try c.u32le("first sample"))
            let last = Int(try c.u32le("last sample"))
            // Sample numbers start at 1; some writers (ECG Viewer) count from 0 with the same length.
            if first == 0, last > 0 { first = 1 }
            let code = Int(try c.u8("lead code"))
            let id = Self.leadID(code: code, position: k)
            guard first >= 1, last >= first, last - first < ReaderLimits.maxSamplesPerLead else {
                throw ECGFormatError(.invalidValue, file: file, "lead \(id) spans samples \(first)…\(last)", at: "section 3, lead \(k + 1)")
            }
            entries.append(.init(id: id, firstSample: first, lastSample: last))
        }
        return LeadDefinition(leads: entries, referenceBeatSubtracted: flags & 1 == 1)
    }

    /// Lead codes of EN 1064 Table 10 (1 = I … 8 = V6, 61 = III … 64 = aVF, …); unknown codes keep their number.
    static let leadCodeNames: [String] = [
        "", "I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V2R", "V3R", "V4R", "V5R", "V6R", "V7R", "X", "Y", "Z",
        "CC5", "CM5", "LA", "RA", "LL", "fI", "fE", "fC", "fA", "fM", "fF", "fH", "dI", "dII", "dV1", "dV2", "dV3", "dV4",
        "dV5", "dV6", "dV7", "dV2R", "dV3R", "dV4R", "dV5R", "dV6R", "dV7R", "dX", "dY", "dZ", "dCC5", "dCM5", "dLA", "dRA",
        "dLL", "dfI", "dfE", "dfC", "dfA", "dfM", "dfF", "dfH", "III", "aVR", "aVL", "aVF", "-aVR", "V8", "V9", "V8R", "V9R",
        "D", "A", "J", "Defib", "Extern", "A1", "A2", "A3", "A4", "dV8", "dV9", "dV8R", "dV9R", "dD", "dA", "dJ", "Chest",
        "V", "VR", "VL", "VF", "MCL", "MCL1", "MCL2", "MCL3", "MCL4", "MCL5", "MCL6", "CC", "CC1", "CC2", "CC3", "CC4",
        "CC6", "CC7", "CM", "CM1", "CM2", "CM3", "CM4", "CM6", "dIII", "daVR", "daVL", "daVF", "d-aVR", "dChest", "dV",
        "dVR", "dVL", "dVF", "CM7", "CH5", "CS5", "CB5", "CR5", "ML", "AB1", "AB2", "AB3", "AB4", "ES", "AS", "AI", "S",
        "dDefib", "dExtern", "dA1", "dA2", "dA3", "dA4", "dMCL1", "dMCL2", "dMCL3", "dMCL4", "dMCL5", "dMCL6", "RL",
        "CV5RL", "CV6LL", "CV6LU", "V10",
    ]

    static func leadID(code: Int, position: Int) -> LeadID {
        guard code > 0 else { return .other("lead \(position + 1)") }
        guard code < leadCodeNames.count else { return .other("SCP lead code \(code)") }
        let name = leadCodeNames[code]
        // −aVR is aVR inverted; parsing it as aVR would flip its sign.
        if name.hasPrefix("-") { return .other(name) }
        return LeadID(parsing: name)
    }

    // MARK: Section 4: QRS locations

    struct QRSLocations {
        struct Beat { var type: Int; var subtractionStart: Int; var fiducial: Int; var subtractionEnd: Int }
        var referenceBeatMs: Int
        var referenceFiducial: Int
        var beats: [Beat]
        /// Full-rate zones (1-based, inclusive) of bimodal compression.
        var protectedZones: [ClosedRange<Int>]
    }

    private func readQRSLocations(_ bytes: [UInt8], _ s: Section, file: String) throws -> QRSLocations {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 6 else { throw ECGFormatError(.truncated, file: file, "section 4 is shorter than its 6-byte header", at: "section 4") }
        let length = Int(try c.u16le("reference beat length"))
        let fiducial = Int(try c.u16le("reference beat fiducial"))
        let count = Int(try c.u16le("number of QRS complexes"))
        guard s.end - c.offset >= count * 14 else {
            throw ECGFormatError(.truncated, file: file, "section 4 declares \(count) QRS complexes but holds \((s.end - c.offset) / 14)", at: "section 4")
        }
        var beats: [QRSLocations.Beat] = []
        var previousEnd = 0
        for k in 0..<count {
            let type = Int(try c.u16le("beat type"))
            let start = Int(try c.u32le("subtraction start"))
            let fc = Int(try c.u32le("fiducial"))
            let end = Int(try c.u32le("subtraction end"))
            if type == 0 {
                // Zones of successive beats follow each other; overlapping zones would add the beat twice.
                guard start >= 1, start <= fc, fc <= end, start > previousEnd else {
                    throw ECGFormatError(.invalidValue, file: file, "QRS \(k + 1): subtraction zone \(start)…\(end) with fiducial \(fc) is not ordered or overlaps the previous one", at: "section 4")
                }
                previousEnd = end
            }
            beats.append(.init(type: type, subtractionStart: start, fiducial: fc, subtractionEnd: end))
        }
        var zones: [ClosedRange<Int>] = []
        if s.end - c.offset >= count * 8 {
            var previous = 0
            for k in 0..<count {
                let start = Int(try c.u32le("protected zone start"))
                let end = Int(try c.u32le("protected zone end"))
                if start == 0 && end == 0 { continue }
                guard start >= 1, end >= start, start > previous else {
                    throw ECGFormatError(.invalidValue, file: file, "protected zone \(k + 1) (\(start)…\(end)) is empty, reversed or overlaps the previous one", at: "section 4")
                }
                zones.append(start...end)
                previous = end
            }
        }
        return QRSLocations(referenceBeatMs: length, referenceFiducial: fiducial, beats: beats, protectedZones: zones)
    }

    // MARK: Sections 5 and 6: reference beat and rhythm

    /// Sections 5 and 6 share a layout: AVM (nV), sample interval (µs), difference order, a flag
    /// byte (bimodal compression in section 6), a 2-byte length per lead, then each lead's bytes.
    struct EncodedLeads {
        var avmNanovolts: Int
        var intervalMicroseconds: Int
        var differenceOrder: Int
        var bimodal: Bool
        var streams: [ArraySlice<UInt8>]
    }

    private func readEncoded(_ bytes: [UInt8], _ s: Section, leads: Int, file: String) throws -> EncodedLeads {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 6 + 2 * leads else {
            throw ECGFormatError(.truncated, file: file, "\(s.name) is too short for its header and \(leads) lead lengths", at: s.name)
        }
        let avm = Int(try c.u16le("AVM"))
        let interval = Int(try c.u16le("sample interval"))
        let difference = Int(try c.u8("difference order"))
        let flag = try c.u8("bimodal flag")
        guard avm > 0 else { throw ECGFormatError(.invalidValue, file: file, "amplitude value multiplier (AVM) is 0 nV", at: s.name) }
        guard interval > 0 else { throw ECGFormatError(.invalidValue, file: file, "sample interval is 0 µs", at: s.name) }
        guard difference <= 2 else {
            throw ECGFormatError(.unsupported, file: file, "difference data order \(difference) (0, 1 or 2 are defined)", at: s.name)
        }
        var lengths: [Int] = []
        for _ in 0..<leads { lengths.append(Int(try c.u16le("lead data length"))) }
        var streams: [ArraySlice<UInt8>] = []
        for (k, n) in lengths.enumerated() {
            guard n <= s.end - c.offset else {
                throw ECGFormatError(.truncated, file: file, "lead \(k + 1) data says \(n) bytes; \(s.name) has \(s.end - c.offset) left", at: s.name)
            }
            streams.append(try c.take(n, "lead \(k + 1) data"))
        }
        return EncodedLeads(avmNanovolts: avm, intervalMicroseconds: interval, differenceOrder: difference, bimodal: flag == 1, streams: streams)
    }

    /// Undoes first or second differences (x[t] = d[t] + x[t−1]; x[t] = d[t] + 2x[t−1] − x[t−2]);
    /// the first one or two values are stored as they are. Wrapping arithmetic: hostile data can
    /// overflow, and that must not trap.
    static func undoDifferences(_ d: inout [Int32], order: Int) {
        if order == 1 { for t in d.indices.dropFirst() { d[t] = d[t] &+ d[t - 1] } }
        if order == 2 { for t in d.indices.dropFirst(2) { d[t] = d[t] &+ 2 &* d[t - 1] &- d[t - 2] } }
    }

    private func decodeLead(_ enc: EncodedLeads, lead k: Int, count: Int, tables: SCPHuffmanTables, at location: String, file: String) throws -> [Int32] {
        var values = try tables.decode(enc.streams[k], count: count, file: file, at: location)
        Self.undoDifferences(&values, order: enc.differenceOrder)
        return values
    }

    struct Rhythm { var leads: [Lead]; var samplingRate: Double }

    /// Each lead placed on the record's timeline (first…last sample over all leads); samples a lead
    /// does not cover are NaN (missing).
    private func readRhythm(_ bytes: [UInt8], _ s6: Section, section5: Section?, definition: LeadDefinition,
                            qrs: QRSLocations?, tables: SCPHuffmanTables, file: String) throws -> Rhythm {
        let nLeads = definition.leads.count
        let rhythm = try readEncoded(bytes, s6, leads: nLeads, file: file)
        let reference = try section5.map { try readEncoded(bytes, $0, leads: nLeads, file: file) }
        let timelineStart = definition.leads.map(\.firstSample).min() ?? 1
        let timelineEnd = definition.leads.map(\.lastSample).max() ?? 1
        let timeline = timelineEnd - timelineStart + 1
        guard timeline <= ReaderLimits.maxSamplesPerLead, timeline * nLeads <= ReaderLimits.maxSamplesPerLead else {
            throw ECGFormatError(.invalidValue, file: file, "\(nLeads) leads × \(timeline) samples exceed the \(ReaderLimits.maxSamplesPerLead)-sample limit", at: "section 3")
        }
        // Gaps between leads recorded at different times are allowed, but not a timeline longer than
        // all leads together: that would allocate for samples no lead holds.
        let totalSamples = definition.leads.reduce(0) { $0 + $1.count }
        guard timeline <= totalSamples else {
            throw ECGFormatError(.invalidValue, file: file, "leads span \(timeline) samples but hold only \(totalSamples) together", at: "section 3")
        }
        // Bimodal: outside protected zones one stored value stands for `factor` full-rate samples.
        var factor = 1
        var outputInterval = rhythm.intervalMicroseconds
        if rhythm.bimodal {
            guard let qrs, !qrs.protectedZones.isEmpty else {
                throw ECGFormatError(.missingData, file: file, "bimodal compression without protected zones in section 4", at: "section 6")
            }
            guard let reference else {
                throw ECGFormatError(.missingData, file: file, "bimodal compression without section 5 (its sample interval is the full rate)", at: "section 6")
            }
            guard rhythm.intervalMicroseconds % reference.intervalMicroseconds == 0,
                  (1...16).contains(rhythm.intervalMicroseconds / reference.intervalMicroseconds) else {
                throw ECGFormatError(.unsupported, file: file, "bimodal rhythm interval \(rhythm.intervalMicroseconds) µs is not 1…16 × the reference beat's \(reference.intervalMicroseconds) µs", at: "section 6")
            }
            factor = rhythm.intervalMicroseconds / reference.intervalMicroseconds
            outputInterval = reference.intervalMicroseconds
        }
        var subtraction: (qrs: QRSLocations, beat: EncodedLeads, samples: Int)?
        if definition.referenceBeatSubtracted {
            guard let qrs else { throw ECGFormatError(.missingData, file: file, "reference beat subtraction without QRS locations (section 4)", at: "section 3") }
            guard let reference else { throw ECGFormatError(.missingData, file: file, "reference beat subtraction without a reference beat (section 5)", at: "section 3") }
            guard reference.intervalMicroseconds == outputInterval else {
                throw ECGFormatError(.unsupported, file: file, "reference beat at \(reference.intervalMicroseconds) µs, rhythm at \(outputInterval) µs: subtraction needs one rate", at: "section 5")
            }
            let samples = (qrs.referenceBeatMs * 1000 + reference.intervalMicroseconds / 2) / reference.intervalMicroseconds
            guard samples >= 1, samples <= 100_000 else {
                throw ECGFormatError(.invalidValue, file: file, "reference beat of \(qrs.referenceBeatMs) ms is \(samples) samples", at: "section 4")
            }
            subtraction = (qrs, reference, samples)
        }
        // Every lead must fit its stream before anything is allocated for it.
        for (k, entry) in definition.leads.enumerated() where entry.count > tables.capacity(ofBytes: rhythm.streams[k].count) * factor {
            throw ECGFormatError(.truncated, file: file, "lead data is \(rhythm.streams[k].count) bytes, too short for \(entry.count) samples", at: "section 6, lead \(entry.id)")
        }
        var leads: [Lead] = []
        for (k, entry) in definition.leads.enumerated() {
            let at = "section 6, lead \(entry.id)"
            var values: [Double]
            if factor > 1, let zones = qrs?.protectedZones {
                let layout = Self.bimodalLayout(first: entry.firstSample, last: entry.lastSample, zones: zones, factor: factor)
                let stored = try decodeLead(rhythm, lead: k, count: layout.count, tables: tables, at: at, file: file)
                values = Self.expandBimodal(stored, layout: layout, count: entry.count)
            } else {
                values = try decodeLead(rhythm, lead: k, count: entry.count, tables: tables, at: at, file: file).map(Double.init)
            }
            let avm = Double(rhythm.avmNanovolts)
            for t in values.indices { values[t] *= avm }
            if let sub = subtraction {
                let beat = try decodeLead(sub.beat, lead: k, count: sub.samples, tables: tables, at: "section 5, lead \(entry.id)", file: file)
                let beatAVM = Double(sub.beat.avmNanovolts)
                for b in sub.qrs.beats where b.type == 0 {
                    // Samples where the beat's index m = fcM − 1 + sample − fc is inside the beat.
                    let beatFirst = b.fiducial - sub.qrs.referenceFiducial + 1
                    let lo = max(b.subtractionStart, entry.firstSample, beatFirst)
                    let hi = min(b.subtractionEnd, entry.lastSample, beatFirst + beat.count - 1)
                    guard lo <= hi else { continue }
                    for sample in lo...hi {
                        let m = sub.qrs.referenceFiducial - 1 + sample - b.fiducial
                        guard m >= 0, m < beat.count else { continue }
                        values[sample - entry.firstSample] += Double(beat[m]) * beatAVM
                    }
                }
            }
            var mv = [Float](repeating: .nan, count: timeline)
            let offset = entry.firstSample - timelineStart
            for t in values.indices { mv[offset + t] = Float(values[t] / 1_000_000) }
            leads.append(Lead(id: entry.id, millivolts: mv))
        }
        return Rhythm(leads: leads, samplingRate: 1_000_000 / Double(outputInterval))
    }

    /// Stored-value layout of a bimodally compressed lead: runs of full-rate samples inside protected
    /// zones, blocks of `factor` samples (the last one of a run possibly shorter) outside. Each entry
    /// is (first sample index, number of samples it covers), indices from 0 at the lead's first sample.
    static func bimodalLayout(first: Int, last: Int, zones: [ClosedRange<Int>], factor: Int) -> [(start: Int, span: Int)] {
        var layout: [(start: Int, span: Int)] = []
        var t = first
        var z = zones.firstIndex { $0.upperBound >= first } ?? zones.count
        while t <= last {
            if z < zones.count, zones[z].contains(t) {
                let end = min(zones[z].upperBound, last)
                for u in t...end { layout.append((u - first, 1)) }
                t = end + 1
                z += 1
            } else {
                let runEnd = min(z < zones.count ? zones[z].lowerBound - 1 : last, last)
                while t <= runEnd {
                    let span = min(factor, runEnd - t + 1)
                    layout.append((t - first, span))
                    t += span
                }
            }
        }
        return layout
    }

    /// Full-rate samples from the stored values: each value sits at the centre of what it covers and
    /// samples in between are linearly interpolated (held before the first and after the last centre),
    /// so a signal that is linear across a block is restored exactly.
    static func expandBimodal(_ stored: [Int32], layout: [(start: Int, span: Int)], count: Int) -> [Double] {
        var out = [Double](repeating: 0, count: count)
        guard !stored.isEmpty else { return out }
        let centres = layout.map { Double($0.start) + Double($0.span - 1) / 2 }
        var j = 0
        for t in 0..<count {
            let x = Double(t)
            while j + 1 < centres.count, centres[j + 1] <= x { j += 1 }
            if x <= centres[0] { out[t] = Double(stored[0]); continue }
            if j + 1 >= centres.count { out[t] = Double(stored[centres.count - 1]); continue }
            let a = centres[j], b = centres[j + 1]
            let w = (x - a) / (b - a)
            out[t] = Double(stored[j]) * (1 - w) + Double(stored[j + 1]) * w
        }
        return out
    }

    // MARK: Section 7: global measurements

    /// 29999 marks an undefined value in sections 7 and 10.
    static let undefined = 29999

    private func readGlobalMeasurements(_ bytes: [UInt8], _ s: Section, device: String?, file: String) throws -> DeviceMeasurements? {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 6 else { throw ECGFormatError(.truncated, file: file, "section 7 is shorter than its 6-byte header", at: "section 7") }
        let beatTypes = Int(try c.u8("number of QRS measurement blocks"))
        let spikes = Int(try c.u8("number of pacemaker spikes"))
        let rr = Int(try c.u16le("average RR interval"))
        _ = try c.u16le("average PP interval")
        func defined(_ v: Int) -> Double? { v == Self.undefined || v == 0xFFFF ? nil : Double(v) }
        var pOn: Double?, qrsOn: Double?, qrsOff: Double?, tOff: Double?, axes: [Double?] = [nil, nil, nil]
        if beatTypes >= 1 {
            guard s.end - c.offset >= beatTypes * 16 else {
                throw ECGFormatError(.truncated, file: file, "section 7 declares \(beatTypes) measurement blocks but holds \((s.end - c.offset) / 16)", at: "section 7")
            }
            // The first block is reference beat type 0, the one the rhythm strip is measured by.
            pOn = defined(Int(try c.u16le("P onset")))
            _ = try c.u16le("P offset")
            qrsOn = defined(Int(try c.u16le("QRS onset")))
            qrsOff = defined(Int(try c.u16le("QRS offset")))
            tOff = defined(Int(try c.u16le("T offset")))
            for a in 0..<3 {
                let v = Int(Int16(bitPattern: try c.u16le("axis")))
                axes[a] = v == Self.undefined || !(-180...360).contains(v) ? nil : Double(v > 180 ? v - 360 : v)
            }
            _ = try c.take((beatTypes - 1) * 16, "further measurement blocks")
        }
        var ventricularRate: Double?
        var qtc: (Double, Int)?
        // Pacemaker spikes (4 bytes each, then 6 bytes of information each), QRS types, then the
        // 2005 additions: ventricular rate, atrial rate, QTc and its formula.
        if s.end - c.offset >= spikes * 4 { _ = try c.take(spikes * 4, "pacemaker spikes") }
        if s.end - c.offset >= spikes * 6 { _ = try c.take(spikes * 6, "pacemaker spike information") }
        if s.end - c.offset >= 2 {
            let n = Int(try c.u16le("number of QRS complexes"))
            if s.end - c.offset >= n {
                _ = try c.take(n, "QRS types")
                if s.end - c.offset >= 7 {
                    ventricularRate = defined(Int(try c.u16le("ventricular rate")))
                    _ = try c.u16le("atrial rate")
                    let q = defined(Int(try c.u16le("QTc")))
                    let formula = Int(try c.u8("QTc formula"))
                    if let q { qtc = (q, formula) }
                }
            }
        }
        func interval(_ a: Double?, _ b: Double?) -> Double? {
            guard let a, let b, b >= a else { return nil }
            return b - a
        }
        var heartRate = ventricularRate.flatMap { $0 > 0 ? $0 : nil }
        if heartRate == nil, let r = defined(rr), r > 0 { heartRate = (60_000 / r * 10).rounded() / 10 }
        let source = "SCP-ECG section 7" + (device.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
        var m = DeviceMeasurements(prMs: interval(pOn, qrsOn), qrsMs: interval(qrsOn, qrsOff), qtMs: interval(qrsOn, tOff),
                                   pAxisDeg: axes[0], qrsAxisDeg: axes[1], tAxisDeg: axes[2], heartRateBpm: heartRate, source: source)
        if let qtc {
            // Formula codes: 1 Bazett, 2 Hodges, 3 Fridericia, 4 Framingham, 0 unstated.
            switch qtc.1 {
            case 1: m.qtcBazettMs = qtc.0
            case 3: m.qtcFridericiaMs = qtc.0
            default: m.qtcReportedMs = qtc.0
            }
        }
        return m.isEmpty ? nil : m
    }

    // MARK: Sections 8 and 11: statements; section 10: lead measurements

    private func readStatements(_ bytes: [UInt8], _ s: Section, typed: Bool, file: String) throws -> (texts: [String], codes: [String]) {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 9 else { throw ECGFormatError(.truncated, file: file, "\(s.name) is shorter than its 9-byte header", at: s.name) }
        _ = try c.take(8, "report type, date and time")
        let count = Int(try c.u8("number of statements"))
        var texts: [String] = [], codes: [String] = []
        for k in 0..<count {
            guard s.end - c.offset >= 3 else {
                throw ECGFormatError(.truncated, file: file, "\(s.name) declares \(count) statements, ends after \(k)", at: s.name)
            }
            _ = try c.u8("statement number")
            let length = Int(try c.u16le("statement length"))
            guard length <= s.end - c.offset else {
                throw ECGFormatError(.truncated, file: file, "statement \(k + 1) says \(length) bytes; \(s.end - c.offset) left", at: s.name)
            }
            var body = Array(try c.take(length, "statement"))
            if typed {
                // Section 11: a type byte (1 coded, 2 full text, 3 statement logic), then NUL-separated fields.
                guard let type = body.first else { continue }
                body.removeFirst()
                let fields = body.split(separator: 0).map { Self.text(Array($0)) }.filter { !$0.isEmpty }
                if type == 1 { codes += fields } else if type == 2 { texts += fields }
            } else {
                let t = Self.text(body)
                if !t.isEmpty { texts.append(t) }
            }
        }
        return (texts, codes)
    }

    private func checkLeadMeasurements(_ bytes: [UInt8], _ s: Section, file: String) throws {
        var c = ByteCursor(bytes, file: file, offset: s.bodyStart)
        guard s.end - c.offset >= 4 else { throw ECGFormatError(.truncated, file: file, "section 10 is shorter than its 4-byte header", at: "section 10") }
        let leads = Int(try c.u16le("number of leads"))
        _ = try c.u16le("manufacturer specific")
        for k in 0..<leads {
            guard s.end - c.offset >= 4 else {
                throw ECGFormatError(.truncated, file: file, "section 10 declares \(leads) leads, ends after \(k)", at: "section 10")
            }
            _ = try c.u16le("lead ID")
            let length = Int(try c.u16le("lead measurement length"))
            guard length <= s.end - c.offset else {
                throw ECGFormatError(.truncated, file: file, "lead \(k + 1) measurements say \(length) bytes; \(s.end - c.offset) left", at: "section 10")
            }
            _ = try c.take(length, "lead measurements")
        }
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
