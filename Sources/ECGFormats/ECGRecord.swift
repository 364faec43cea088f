import Foundation

/// A lead name in the cardiologist's vocabulary. The twelve standard leads have fixed cases in
/// display order; anything else a file carries (Frank X/Y/Z, MLII, V3R …) is kept by name.
public enum LeadID: Hashable, Sendable, CustomStringConvertible {
    case i, ii, iii, aVR, aVL, aVF, v1, v2, v3, v4, v5, v6
    case other(String)

    /// The standard 12 in display order: limb leads, augmented leads, precordial leads.
    public static let standard12: [LeadID] = [.i, .ii, .iii, .aVR, .aVL, .aVF, .v1, .v2, .v3, .v4, .v5, .v6]
    /// Columns of the standard 3×4 printout (2.5 s each): I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6.
    public static let standard3x4Columns: [[LeadID]] = [[.i, .ii, .iii], [.aVR, .aVL, .aVF], [.v1, .v2, .v3], [.v4, .v5, .v6]]
    /// Limb leads that follow from I and II (Einthoven / Goldberger; `LimbLeads`).
    public static let derivableFromIAndII: [LeadID] = [.iii, .aVR, .aVL, .aVF]

    public var description: String {
        switch self {
        case .i: return "I"
        case .ii: return "II"
        case .iii: return "III"
        case .aVR: return "aVR"
        case .aVL: return "aVL"
        case .aVF: return "aVF"
        case .v1: return "V1"
        case .v2: return "V2"
        case .v3: return "V3"
        case .v4: return "V4"
        case .v5: return "V5"
        case .v6: return "V6"
        case .other(let name): return name
        }
    }

    /// Position in the standard order, or nil for non-standard leads.
    public var standardIndex: Int? { LeadID.standard12.firstIndex(of: self) }

    /// Parses the spellings files use: "I", "i", "LEAD_I", "MDC_ECG_LEAD_I", "Lead II", "avr", "aVR", "V1", "v1" …
    /// and the aliases of Holter and arrhythmia databases: the modified limb leads of MIT-BIH ("MLII",
    /// "ML2", "ML II") and the European "DI/DII/DIII" are shown as I/II/III; "MV1"…"MV6" (modified chest
    /// leads) as V1…V6. Anything else — Frank X/Y/Z, V3R, "ECG1" — is kept by its own name. This is the
    /// one table every reader goes through.
    /// `raw` when it is a modified-lead alias (ML…, MV…) that `init(parsing:)` showed as a standard lead.
    public static func modifiedLeadName(_ raw: String, parsedAs id: LeadID) -> String? {
        guard id.standardIndex != nil else { return nil }
        let key = raw.trimmedOfWhitespace(andNewlines: true).uppercased()
        return key.hasPrefix("ML") || key.hasPrefix("MV") ? raw.trimmedOfWhitespace(andNewlines: true) : nil
    }

    public init(parsing raw: String) {
        var s = raw.trimmedOfWhitespace(andNewlines: true)
        for prefix in ["MDC_ECG_LEAD_", "LEAD_", "Lead_", "lead_", "Lead ", "lead ", "LEAD "] where s.hasPrefix(prefix) {
            s = String(s.dropFirst(prefix.count))
        }
        var key = s.uppercased().replacingOccurrences(of: " ", with: "")
        // Modified leads (MLII, MV5) and Einthoven's D notation name the same projection.
        for alias in ["ML", "MV", "D"] where key.hasPrefix(alias) && key.count > alias.count {
            let rest = String(key.dropFirst(alias.count))
            let isLimb = ["I", "II", "III", "1", "2", "3"].contains(rest)
            let isChest = ["1", "2", "3", "4", "5", "6"].contains(rest)
            if alias == "MV", isChest { key = "V" + rest } else if alias != "MV", isLimb { key = rest }
        }
        switch key {
        case "I", "1": self = .i
        case "II", "2": self = .ii
        case "III", "3": self = .iii
        case "AVR", "-AVR": self = .aVR
        case "AVL": self = .aVL
        case "AVF": self = .aVF
        case "V1": self = .v1
        case "V2": self = .v2
        case "V3": self = .v3
        case "V4": self = .v4
        case "V5": self = .v5
        case "V6": self = .v6
        default: self = .other(raw.trimmedOfWhitespace(andNewlines: true))
        }
    }
}

/// One channel of samples in millivolts.
public struct Lead: Sendable, Equatable {
    public var id: LeadID
    public var millivolts: [Float]
    /// True when computed from other leads (e.g. III = II − I) rather than stored in the file.
    public var isDerived: Bool

    /// The file's own name when it names a *modified* lead shown as a standard one (MIT-BIH "MLII"
    /// shown as II, "MV5" as V5): the projection is close, not identical, so `convert` writes the
    /// file's name back (lossless). nil when the standard name is the file's own meaning.
    public var fileLabel: String?

    public init(id: LeadID, millivolts: [Float], isDerived: Bool = false, fileLabel: String? = nil) {
        self.id = id
        self.millivolts = millivolts
        self.isDerived = isDerived
        self.fileLabel = fileLabel
    }

    /// A stored lead named as the file names it (through the one alias table, `LeadID(parsing:)`).
    public init(parsing name: String, millivolts: [Float]) {
        let id = LeadID(parsing: name)
        self.init(id: id, millivolts: millivolts, fileLabel: LeadID.modifiedLeadName(name, parsedAs: id))
    }

    /// The name writers give this lead: the file's own for a modified lead, else the standard name.
    public var writtenName: String { fileLabel ?? id.description }
}

public enum Sex: String, Sendable, Codable {
    case male, female, unknown
}

/// Whatever the file says about the patient and the acquisition. Every field is optional:
/// files differ widely in what they carry.
public struct ECGMetadata: Sendable, Equatable {
    public var patientID: String?
    /// Years; a value no patient has (NaN, ±∞, 1e999, negative, over 150) is dropped as unknown
    /// here, once, so no front end ever converts it (`Int(nan)` traps, JSON cannot hold NaN).
    public var ageYears: Double? { didSet { ageYears = Self.plausibleAge(ageYears) } }
    public var sex: Sex?
    public var acquisitionTime: Date?
    public var device: String?
    /// Free-form key/value pairs from the file (diagnosis codes, comments, site …).
    public var extra: [String: String]
    /// The acquiring device's own global measurements when the file carries them (GE MUSE 12SL,
    /// HL7 aECG annotations), to be shown beside ecg2cmr's.
    public var deviceMeasurements: DeviceMeasurements?
    /// The DICOM study the ECG was filed in (DICOM input only), so derived series can join it.
    public var sourceStudy: DICOMStudyReference?

    public init(patientID: String? = nil, ageYears: Double? = nil, sex: Sex? = nil,
                acquisitionTime: Date? = nil, device: String? = nil, extra: [String: String] = [:],
                deviceMeasurements: DeviceMeasurements? = nil) {
        self.deviceMeasurements = deviceMeasurements
        self.patientID = patientID
        self.ageYears = Self.plausibleAge(ageYears)
        self.sex = sex
        self.acquisitionTime = acquisitionTime
        self.device = device
        self.extra = extra
    }
}

/// Where a DICOM ECG sits in its hospital's archive: what a derived series needs to file itself
/// into the same study (PS3.3 General Study, Patient, SOP Common). Values are kept only when they
/// are valid for their VR (UIDs: digits and dots, ≤ 64 characters), so a hostile file cannot
/// carry other text into the files we write.
public struct DICOMStudyReference: Sendable, Equatable {
    public var studyInstanceUID: String
    public var accessionNumber: String?
    public var studyID: String?
    public var sopClassUID: String?
    public var sopInstanceUID: String?
    public var patientName: String?
    /// DICOM DA (YYYYMMDD).
    public var patientBirthDate: String?
    public var referringPhysician: String?

    public init(studyInstanceUID: String, accessionNumber: String? = nil, studyID: String? = nil,
                sopClassUID: String? = nil, sopInstanceUID: String? = nil, patientName: String? = nil,
                patientBirthDate: String? = nil, referringPhysician: String? = nil) {
        self.studyInstanceUID = studyInstanceUID
        self.accessionNumber = accessionNumber
        self.studyID = studyID
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.referringPhysician = referringPhysician
    }

    /// A UID value as archives hold them: digits and dots only, starting with a digit, at most 64
    /// characters. Real devices write UIDs that break PS3.5 9.1's finer rules (a trailing dot, an
    /// empty or zero-led component); the archive knows the study by that exact string, so it is kept.
    public static func isValidUID(_ s: String) -> Bool {
        guard let first = s.utf8.first, first != UInt8(ascii: "."), s.utf8.count <= 64 else { return false }
        return s.utf8.allSatisfy { $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// A text value kept for a VR of at most `limit` characters with no control characters or
    /// backslashes (the value separator), else nil.
    public static func cleanText(_ s: String?, limit: Int) -> String? {
        guard let s else { return nil }
        let t = s.trimmingCharacters(in: .whitespaces)
        // No control, separator or direction characters (the terminal's rule), no backslash (DICOM's value separator).
        guard !t.isEmpty, t.count <= limit, TerminalText.sanitize(t) == t, !t.contains("\\") else { return nil }
        return t
    }

    /// A DICOM DA value (YYYYMMDD, a real date), else nil.
    public static func cleanDate(_ s: String?) -> String? {
        guard let s = s?.trimmingCharacters(in: .whitespaces), s.count == 8, s.allSatisfy({ $0.isASCII && $0.isNumber }),
              let y = Int(s.prefix(4)), let m = Int(s.dropFirst(4).prefix(2)), let d = Int(s.suffix(2)),
              y >= 1800, (1...12).contains(m), (1...31).contains(d) else { return nil }
        return s
    }
}

extension ECGMetadata {
    /// Ages outside 0–150 years, and non-finite ones, are not ages.
    public static let ageRangeYears: ClosedRange<Double> = 0...150

    static func plausibleAge(_ age: Double?) -> Double? {
        guard let a = age, a.isFinite, ageRangeYears.contains(a) else { return nil }
        return a
    }
}

public enum ECGFileFormat: String, Sendable, Codable, CaseIterable {
    case wfdb, csv, hl7aECG = "hl7-aecg", dicom, museXML = "muse-xml", ukbXML = "ukb-xml", scpECG = "scp-ecg"

    /// What users call the format: in error messages ("MUSE XML file does not exist") and in the
    /// list of what the tool reads.
    public var displayName: String {
        switch self {
        case .wfdb: return "WFDB"
        case .csv: return "CSV/TSV"
        case .hl7aECG: return "HL7 aECG"
        case .dicom: return "DICOM"
        case .museXML: return "MUSE XML"
        case .ukbXML: return "CardioSoft XML"
        case .scpECG: return "SCP-ECG"
        }
    }

    /// The root element that makes an XML file this format (detection, folder discovery and the
    /// reader's own check all ask here); nil for the formats that are not XML.
    public var xmlRootElement: String? {
        switch self {
        case .hl7aECG: return "AnnotatedECG"
        case .museXML: return "RestingECG"
        case .ukbXML: return "CardiologyXML"
        case .wfdb, .csv, .dicom, .scpECG: return nil
        }
    }

    /// The XML formats' root elements, in `allCases` order.
    public static var xmlRootElements: [String] { allCases.compactMap(\.xmlRootElement) }
}

/// Where a record came from, so every result can be traced back to the exact bytes.
public struct Provenance: Sendable, Equatable {
    public var format: ECGFileFormat
    public var path: String
    /// Hex SHA-256 of the primary file's bytes (for WFDB: the header followed by the signal files).
    public var sha256: String
    /// Which bytes `sha256` covers when not the whole file(s): a window of a long WFDB record is
    /// read (and hashed) as the bytes the window needs, e.g. "header + bytes 2880000–2894400 of
    /// 100.dat". nil: the whole file(s) — for WFDB the header and every signal byte it accounts for.
    public var sha256Scope: String?

    public init(format: ECGFileFormat, path: String, sha256: String, sha256Scope: String? = nil) {
        self.format = format
        self.path = path
        self.sha256 = sha256
        self.sha256Scope = sha256Scope
    }
}

/// One resting ECG in canonical form: standard leads first in standard order, then any extra
/// leads by name; all leads share one sampling rate and length.
public struct ECGRecord: Sendable, Equatable {
    public var leads: [Lead]
    public var samplingRate: Double
    public var metadata: ECGMetadata
    public var provenance: Provenance
    /// The channels the file itself stores, in the file's order (derived leads excluded). `info` lists
    /// leads in this order and `convert` writes exactly these channels.
    public var fileLeadOrder: [LeadID]

    public init(leads: [Lead], samplingRate: Double, metadata: ECGMetadata, provenance: Provenance,
                fileLeadOrder: [LeadID]? = nil) {
        self.leads = leads
        self.samplingRate = samplingRate
        self.metadata = metadata
        self.provenance = provenance
        self.fileLeadOrder = fileLeadOrder ?? leads.filter { !$0.isDerived }.map(\.id)
    }

    /// The stored (not derived) leads in the file's own order.
    public var storedLeadsInFileOrder: [Lead] {
        fileLeadOrder.compactMap { id in leads.first { $0.id == id && !$0.isDerived } }
    }

    public var sampleCount: Int { leads.first?.millivolts.count ?? 0 }
    public var durationSeconds: Double { samplingRate > 0 ? Double(sampleCount) / samplingRate : 0 }

    public func lead(_ id: LeadID) -> Lead? { leads.first { $0.id == id } }
}

/// Einthoven / Goldberger relations, the one home of the formulas: with limb leads I and II every
/// other limb lead follows.   III = II − I,  aVR = −(I + II)/2,  aVL = I − II/2,  aVF = II − I/2.
public enum LimbLeads {
    /// `id` (one of `LeadID.derivableFromIAndII`) from samples of I and II; nil for any other lead.
    /// Arrays of unequal length are derived over the shorter.
    @inlinable public static func derive<T: BinaryFloatingPoint>(_ id: LeadID, i: [T], ii: [T]) -> [T]? {
        switch id {
        case .iii: return zip(i, ii).map { $1 - $0 }
        case .aVR: return zip(i, ii).map { -($0 + $1) / 2 }
        case .aVL: return zip(i, ii).map { $0 - $1 / 2 }
        case .aVF: return zip(i, ii).map { $1 - $0 / 2 }
        default: return nil
        }
    }
}
