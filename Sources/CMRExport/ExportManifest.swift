import CaseAnalysis
import ECGFormats
import Foundation
import Imaging

/// What to export and how; stored in every case manifest so the export can be regenerated.
public struct ExportOptions: Sendable, Codable, Equatable {
    public enum FrameSelection: String, Sendable, Codable, CaseIterable {
        /// Every generated frame.
        case all
        /// Only the end-diastole and end-systole frames (see `CardiacPhases`).
        case edES = "ed-es"
    }

    /// Seed of the generator's initial noise: same seed + same ECG + same model → identical images.
    public var seed: UInt64
    /// Output edge length (pixels) of every SAX / LAX frame and montage panel.
    public var size: Int
    public var filter: ResamplingFilter
    public var frames: FrameSelection
    /// Frames per cardiac cycle; nil = the model's own count (`generator.frames`, usually 50).
    public var frameCount: Int?
    /// Patient identifiers (ID, age, sex, acquisition time) go into PNG text chunks, the ECG
    /// sheet and the manifest only when true.
    public var includePHI: Bool
    /// Head output whose Grad-CAM is drawn on the ECG sheet, "head.output"; nil = the first risk output.
    public var gradCAMTarget: String?
    /// Folder with real CMR series to show beside the generated ones (`<dir>/<case>/{sax,lax}/*.png`).
    public var realDirectory: String?
    public var contactSheetThumbnail: Int
    public var previewPanelSize: Int
    public var ecgPixelsPerMillimetre: Int
    /// Also write the generator's float frames as `sax/frames.npy`, `lax/frames.npy` (float32 [F, H, W]).
    public var saveFloatFrames: Bool
    /// Stored as nil when false, so manifests written before DICOM export decode and compare unchanged.
    var writeDICOM: Bool?
    /// Also write the SAX and LAX cines as multi-frame DICOM (`dicom/sax.dcm`, `dicom/lax.dcm`); see docs/export.md.
    public var dicom: Bool {
        get { writeDICOM ?? false }
        set { writeDICOM = newValue ? true : nil }
    }
    /// Also write `report.pdf` (the one-page report, `ECGReportWriter`) on this paper; nil = no PDF.
    /// Optional so that manifests written before the report existed still decode (and still match).
    public var pdfPaper: PaperSize?
    /// The DICOM study the series join when the input is not a DICOM ECG filed in one (or to
    /// override it): `--study-uid`, `--accession`. nil = a DICOM input's own study with
    /// --include-phi, else a new name-based study.
    public var studyInstanceUID: String?
    public var accessionNumber: String?
    /// Stored as nil when false, so earlier manifests decode and compare unchanged.
    var showUnreliableOutputs: Bool?
    /// For an out-of-distribution ECG: list its withheld outputs on the report, greyed and labelled
    /// unreliable (`--show-unreliable`), instead of the statement that they are withheld.
    public var showUnreliable: Bool {
        get { showUnreliableOutputs ?? false }
        set { showUnreliableOutputs = newValue ? true : nil }
    }
    /// Stored as nil for the default point estimate, so earlier manifests decode and compare unchanged.
    var anatomyDraw: AnatomyMode?
    /// The generated heart's anatomy: the printed point estimate, or a draw within the 80 % intervals.
    public var anatomy: AnatomyMode {
        get { anatomyDraw ?? .pointEstimate }
        set { anatomyDraw = newValue == .pointEstimate ? nil : newValue }
    }

    public init(seed: UInt64 = 1, size: Int = 256, filter: ResamplingFilter = .bicubic, frames: FrameSelection = .all,
                frameCount: Int? = nil, includePHI: Bool = false, gradCAMTarget: String? = nil, realDirectory: String? = nil,
                contactSheetThumbnail: Int = 96, previewPanelSize: Int = 128, ecgPixelsPerMillimetre: Int = 5,
                saveFloatFrames: Bool = false, dicom: Bool = false, pdfPaper: PaperSize? = nil,
                studyInstanceUID: String? = nil, accessionNumber: String? = nil,
                anatomy: AnatomyMode? = nil, showUnreliable: Bool = false) {
        self.seed = seed; self.size = size; self.filter = filter; self.frames = frames; self.frameCount = frameCount
        self.includePHI = includePHI; self.gradCAMTarget = gradCAMTarget; self.realDirectory = realDirectory
        self.contactSheetThumbnail = contactSheetThumbnail; self.previewPanelSize = previewPanelSize
        self.ecgPixelsPerMillimetre = ecgPixelsPerMillimetre; self.saveFloatFrames = saveFloatFrames
        self.writeDICOM = dicom ? true : nil
        self.pdfPaper = pdfPaper
        self.studyInstanceUID = studyInstanceUID; self.accessionNumber = accessionNumber
        self.anatomyDraw = anatomy == .pointEstimate ? nil : anatomy
        self.showUnreliableOutputs = showUnreliable ? true : nil
    }

    public func validate() throws {
        guard (16...4096).contains(size) else { throw CMRExportError.invalidOption("--size \(size) must be 16…4096 pixels") }
        if let n = frameCount, !(1...500).contains(n) { throw CMRExportError.invalidOption("frame count \(n) must be 1…500") }
        guard (16...1024).contains(contactSheetThumbnail) else { throw CMRExportError.invalidOption("contact-sheet thumbnail \(contactSheetThumbnail) must be 16…1024") }
        guard (16...1024).contains(previewPanelSize) else { throw CMRExportError.invalidOption("preview panel size \(previewPanelSize) must be 16…1024") }
        guard (2...20).contains(ecgPixelsPerMillimetre) else { throw CMRExportError.invalidOption("ECG pixels per mm \(ecgPixelsPerMillimetre) must be 2…20") }
        if let uid = studyInstanceUID, !DICOMStudyReference.isValidUID(uid) {
            throw CMRExportError.invalidOption("--study-uid '\(TerminalText.sanitize(uid))' is not a DICOM UID (digits and dots, no leading zeros, at most 64 characters)")
        }
        if let a = accessionNumber, DICOMStudyReference.cleanText(a, limit: 16) == nil {
            throw CMRExportError.invalidOption("--accession must be 1–16 characters without control characters or backslashes")
        }
        if let t = gradCAMTarget, t.split(separator: ".").count != 2 {
            throw CMRExportError.invalidOption("Grad-CAM head '\(t)' must be written head.output, e.g. risk.cad")
        }
    }
}

/// `manifest.json` of one exported case: provenance, options, results and every file's SHA-256 —
/// enough to regenerate the export byte for byte (`CaseExporter.regenerate`).
public struct ExportManifest: Codable, Sendable, Equatable {
    public struct Software: Codable, Sendable, Equatable { public var name: String; public var version: String }
    public struct Model: Codable, Sendable, Equatable {
        public var id: String
        public var displayName: String
        public var directory: String
        public var weightsSHA256: String
        public var synthetic: Bool
        public var disclaimer: String
    }
    public struct Input: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
        public var format: String
        public var leads: [String]
        public var samplingRate: Double
        public var durationSeconds: Double
        /// Where the model's input window starts in the record (seconds).
        public var modelWindowOffsetSeconds: Double
        /// `--sampling-rate` the file was read with (a CSV that states no rate); nil — and absent
        /// from the JSON — when the file states its own. A regeneration reads the file with it.
        public var givenSamplingRate: Double? = nil
        /// Which bytes `sha256` covers when the exported record is a window of a long WFDB record
        /// (`Provenance.sha256Scope`); nil — and absent from the JSON — for the whole file(s).
        public var sha256Scope: String? = nil
    }
    public struct Patient: Codable, Sendable, Equatable {
        public var id: String?
        public var ageYears: Double?
        public var sex: String?
        public var acquisitionTime: String?
    }
    public struct Scaling: Codable, Sendable, Equatable {
        public var filter: ResamplingFilter
        public var rule: String
        public var saxSourceSize: [Int]
        public var laxSourceSize: [Int]
        public var outputSize: [Int]
    }
    public struct Phases: Codable, Sendable, Equatable {
        public var endDiastoleFrame: Int
        public var endSystoleFrame: Int
        public var rule: String
        public var frameCount: Int
        /// Cardiac phase (0…1, 0 = end-diastole by the generator's convention) of each frame.
        public var framePhases: [Double]
    }
    /// The case's scores: the shared schema of CaseAnalysis (screening results write the same types).
    public typealias Risk = RiskFinding
    public typealias Subtype = SubtypeFinding
    public typealias Phenotype = PhenotypeFinding
    /// Whether the ECG lies inside what the model was trained on (nil: the model has no such check).
    /// The verdict's distances and thresholds are written with its own field names (one list, the
    /// verdict's), flat beside whether the ECG is outside and what the front ends said of it.
    public struct OutOfDistribution: Codable, Sendable, Equatable {
        public var verdict: OutOfDistributionVerdict
        public var outside: Bool
        public var warning: String?
        /// Set when outside: every risk and phenotype carries it as `withheld` too.
        public var withheld: String?

        private enum CodingKeys: String, CodingKey { case outside, warning, withheld }

        public init(_ verdict: OutOfDistributionVerdict, withheld: String?) {
            self.verdict = verdict
            outside = verdict.isOutside
            warning = verdict.isOutside ? OutOfDistributionVerdict.warning : nil
            self.withheld = withheld
        }

        public init(from decoder: Decoder) throws {
            verdict = try OutOfDistributionVerdict(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            outside = try c.decode(Bool.self, forKey: .outside)
            warning = try c.decodeIfPresent(String.self, forKey: .warning)
            withheld = try c.decodeIfPresent(String.self, forKey: .withheld)
        }

        public func encode(to encoder: Encoder) throws {
            try verdict.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(outside, forKey: .outside)
            try c.encodeIfPresent(warning, forKey: .warning)
            try c.encodeIfPresent(withheld, forKey: .withheld)
        }
    }
    /// What the model's generated cines were measured to carry on its validation split.
    public struct GeneratorInformativeness: Codable, Sendable, Equatable {
        public var subjects: Int?
        public var efVsTrueEF: Double?
        public var edAreaVsTrueEDV: Double?
        public var efVsModelEF: Double?
        public var statement: String
    }
    public struct Segment: Codable, Sendable, Equatable {
        public var lead: String; public var startSeconds: Double; public var endSeconds: Double; public var weight: Double
    }
    public struct GradCAM: Codable, Sendable, Equatable {
        public var target: String
        /// Strongest (lead, window) segments; seconds in the model input window.
        public var topSegments: [Segment]
    }
    public struct RealCMR: Codable, Sendable, Equatable {
        public var directory: String
        public var files: [FileEntry]
    }
    public struct FileEntry: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
        public var bytes: Int
        public var kind: String
    }

    public var formatVersion: Int
    public var software: Software
    /// ISO 8601, UTC. Not part of the reproducibility check.
    public var createdAt: String
    public var caseName: String
    public var notice: String
    public var model: Model
    public var input: Input
    public var patient: Patient?
    public var options: ExportOptions
    public var scaling: Scaling
    public var phases: Phases
    public var risks: [Risk]
    public var subtypes: [Subtype]
    public var phenotypes: [Phenotype]
    public var gradCAM: GradCAM?
    public var realCMR: RealCMR?
    public var outOfDistribution: OutOfDistribution?
    public var generatorInformativeness: GeneratorInformativeness?
    /// The DICOM objects written with `--dicom` (nil otherwise).
    public var dicom: DICOMSeries?
    public var files: [FileEntry]

    /// What `--dicom` wrote: one study, one multi-frame series per view.
    public struct DICOMSeries: Codable, Sendable, Equatable {
        public struct View: Codable, Sendable, Equatable {
            public var view: String
            public var path: String
            public var seriesInstanceUID: String
            public var sopInstanceUID: String
            public var frames: Int
            public var pixelSpacingMillimetres: Double
            /// The burned-in "synthetic" label: x, y, width, height in pixels (every frame).
            public var labelRect: [Int]
        }
        public var sopClassUID: String
        public var studyInstanceUID: String
        public var heartRateBpm: Double
        public var heartRateSource: String
        public var frameTimeMilliseconds: Double
        public var views: [View]
        /// The PDF report as an Encapsulated PDF instance in the same study (`--pdf --dicom`).
        public var report: Document?

        public struct Document: Codable, Sendable, Equatable {
            public var path: String
            public var sopClassUID: String
            public var seriesInstanceUID: String
            public var sopInstanceUID: String
            /// The file (in the case folder) whose bytes the instance encapsulates unchanged.
            public var encapsulates: String
        }
    }

    public static let fileName = "manifest.json"

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(self) } catch {
            throw CMRExportError.manifest(path: caseName, reason: "cannot encode: \(error)")
        }
    }

    public static func load(from url: URL) throws -> ExportManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CMRExportError.manifest(path: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let manifest: ExportManifest
        do { manifest = try JSONDecoder().decode(ExportManifest.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw CMRExportError.manifest(path: url.path, reason: "missing '\(key.stringValue)' at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw CMRExportError.manifest(path: url.path, reason: "not a valid export manifest: \(error)")
        }
        // The case name becomes a folder under --out: one plain name, never a path.
        if let why = PathComponent.problem(manifest.caseName) {
            throw CMRExportError.manifest(path: url.path, reason: "caseName '\(TerminalText.sanitize(manifest.caseName))' \(why)")
        }
        return manifest
    }
}
