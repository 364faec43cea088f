import Foundation
import CaseAnalysis

/// What a reader-study operator writes (JSON, format "ecg2cmr-study/1"; see docs/reader-study.md).
/// Paths are relative to the definition file. `study init` resolves them, validates everything and
/// stores the resolved definition inside the study database, so later edits to the file cannot
/// change a running study.
public struct StudyDefinition: Codable, Sendable, Equatable {
    public static let formatTag = "ecg2cmr-study/1"

    public var format: String
    /// Short identifier of the study (goes into reports).
    public var id: String
    public var title: String
    /// Master seed: each reader's case orders are drawn from it (and recorded).
    public var seed: UInt64
    public var questions: Questions
    public var roles: [String]
    public var stages: [Stage]
    public var cases: [Case]
    /// Which model head gives the model's score for the finding, e.g. {"head": "risk", "output": "cardiomyopathy"}.
    public var model: ModelSpec?

    public struct Questions: Codable, Sendable, Equatable {
        /// The binary finding (answered yes/no with confidence 1–5), e.g. "Cardiomyopathy present?".
        public var finding: String
        /// Choices for the subtype question (e.g. DCM, HCM, RCM); empty = not asked.
        public var subtypes: [String]
        /// Whether the reader may add a free-text note.
        public var note: Bool
        public init(finding: String, subtypes: [String] = [], note: Bool = true) {
            self.finding = finding; self.subtypes = subtypes; self.note = note
        }
        enum CodingKeys: String, CodingKey { case finding, subtypes, note }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            finding = try c.decode(String.self, forKey: .finding)
            subtypes = try c.decodeIfPresent([String].self, forKey: .subtypes) ?? []
            note = try c.decodeIfPresent(Bool.self, forKey: .note) ?? true
        }
    }

    /// What a stage may put on the reader's screen. Anything not listed is never rendered.
    public enum Exhibit: String, Codable, Sendable, CaseIterable {
        case traces
        case modelScores = "model-scores"
        case gradCAM = "grad-cam"
        case generatedCMR = "generated-cmr"
        case realCMR = "real-cmr"
        /// Whether showing it needs a model bundle.
        public var needsModel: Bool { self == .modelScores || self == .gradCAM || self == .generatedCMR }
    }

    public struct Stage: Codable, Sendable, Equatable {
        /// e.g. "ecg-only", "ecg+generated-cmr", "ecg+real-cmr".
        public var id: String
        public var title: String
        public var shows: [Exhibit]
        /// Minimum days between a reader finishing the previous stage and starting this one.
        public var washoutDays: Double
        /// Smallest terminal answers may be given on ("minimumTerminal": "120x40"), so every reader
        /// sees the traces at the same scale; nil = any size the workstation runs at.
        public var minimumTerminal: TerminalSize?
        public init(id: String, title: String, shows: [Exhibit], washoutDays: Double = 0, minimumTerminal: TerminalSize? = nil) {
            self.id = id; self.title = title; self.shows = shows; self.washoutDays = washoutDays
            self.minimumTerminal = minimumTerminal
        }
        enum CodingKeys: String, CodingKey { case id, title, shows, washoutDays, minimumTerminal }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            title = try c.decodeIfPresent(String.self, forKey: .title) ?? id
            shows = try c.decode([Exhibit].self, forKey: .shows)
            washoutDays = try c.decodeIfPresent(Double.self, forKey: .washoutDays) ?? 0
            minimumTerminal = try c.decodeIfPresent(TerminalSize.self, forKey: .minimumTerminal)
        }
        public func shows(_ e: Exhibit) -> Bool { shows.contains(e) }
    }

    public struct Truth: Codable, Sendable, Equatable {
        public var finding: Bool
        public var subtype: String?
        public init(finding: Bool, subtype: String? = nil) { self.finding = finding; self.subtype = subtype }
    }

    public struct Case: Codable, Sendable, Equatable {
        /// Operator-facing identifier; never shown to readers (they see "Case 3 of 24").
        public var id: String
        /// ECG file (any format ECGFormats reads).
        public var ecg: String
        /// Optional folder with the real CMR cine (sax.npy / lax.npy, or PNG frames), shown by stages with "real-cmr".
        public var realCMR: String?
        /// Hidden ground truth.
        public var truth: Truth
        public init(id: String, ecg: String, realCMR: String? = nil, truth: Truth) {
            self.id = id; self.ecg = ecg; self.realCMR = realCMR; self.truth = truth
        }
    }

    public struct ModelSpec: Codable, Sendable, Equatable {
        public var head: String
        public var output: String
        /// Probability at or above which the model "calls" the finding (default 0.5).
        public var threshold: Double?
        /// Bundle folder (relative to the definition); default: CaseAnalysis.locateBundle().
        public var bundle: String?
        /// Seed for generated CMR cines shown to readers (same seed → same frames for everyone).
        public var generatorSeed: UInt64?
        public var target: HeadTarget { HeadTarget(head: head, output: output) }
    }

    public var needsModel: Bool { stages.contains { $0.shows.contains { $0.needsModel } } }

    public func stage(_ id: String) -> Stage? { stages.first { $0.id == id } }
    public func stageIndex(_ id: String) -> Int? { stages.firstIndex { $0.id == id } }
    public func caseByID(_ id: String) -> Case? { cases.first { $0.id == id } }
}

/// Everything that can be wrong with a study definition or a study database, each naming where.
public struct StudyError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case unreadableDefinition, invalidDefinition, missingFile, databaseExists, databaseMissing
        case notAStudyDatabase, unknownReader, duplicateReader, unknownStage, stageLocked, stageFinished
        case studyComplete, answerInvalid, modelUnavailable, storage
        /// A ratings file (MRMC analysis) that cannot be read or does not have the design the analysis needs.
        case invalidRatings, unsupportedDesign
    }
    public var kind: Kind
    public var file: String?
    public var message: String
    public init(_ kind: Kind, file: String? = nil, _ message: String) {
        self.kind = kind; self.file = file; self.message = message
    }
    public var description: String { (file.map { "\($0): " } ?? "") + message }
}

extension StudyDefinition {
    /// Reads and validates a definition; relative paths become absolute (relative to the file).
    public static func load(from url: URL) throws -> StudyDefinition {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw StudyError(.unreadableDefinition, file: url.path, "cannot read the study definition (\(error.localizedDescription))")
        }
        var definition: StudyDefinition
        do { definition = try JSONDecoder().decode(StudyDefinition.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw StudyError(.invalidDefinition, file: url.path, "missing field '\(key.stringValue)' at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw StudyError(.invalidDefinition, file: url.path, "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw StudyError(.invalidDefinition, file: url.path, "not valid JSON or bad value at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)")
        } catch {
            throw StudyError(.invalidDefinition, file: url.path, "\(error)")
        }
        let base = url.deletingLastPathComponent()
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
        }
        for i in definition.cases.indices {
            definition.cases[i].ecg = resolve(definition.cases[i].ecg)
            definition.cases[i].realCMR = definition.cases[i].realCMR.map(resolve)
        }
        if let b = definition.model?.bundle { definition.model?.bundle = resolve(b) }
        try definition.validate(file: url.path)
        return definition
    }

    /// Checks ids, stages and files; throws the first problem found, naming it.
    public func validate(file: String) throws {
        func bad(_ m: String) -> StudyError { StudyError(.invalidDefinition, file: file, m) }
        guard format == Self.formatTag else { throw bad("format is '\(format)', expected '\(Self.formatTag)'") }
        guard !stages.isEmpty else { throw bad("no stages") }
        guard !cases.isEmpty else { throw bad("no cases") }
        guard !questions.finding.trimmingCharacters(in: .whitespaces).isEmpty else { throw bad("questions.finding is empty") }
        var seen = Set<String>()
        for s in stages {
            guard !s.id.isEmpty, seen.insert(s.id).inserted else { throw bad("stage id '\(s.id)' is empty or repeated") }
            guard s.washoutDays >= 0, s.washoutDays.isFinite else { throw bad("stage '\(s.id)': washoutDays must be ≥ 0") }
            guard !s.shows.isEmpty else { throw bad("stage '\(s.id)' shows nothing") }
        }
        if needsModel && model == nil {
            throw bad("a stage shows model output (scores, Grad-CAM or generated CMR) but no \"model\" section names the head")
        }
        if let t = model?.threshold, !(0...1).contains(t) { throw bad("model.threshold must be within 0…1") }
        let showsReal = stages.contains { $0.shows(.realCMR) }
        seen.removeAll()
        for c in cases {
            guard !c.id.isEmpty, seen.insert(c.id).inserted else { throw bad("case id '\(c.id)' is empty or repeated") }
            guard FileManager.default.fileExists(atPath: c.ecg) || FileManager.default.fileExists(atPath: c.ecg + ".hea") else {
                throw StudyError(.missingFile, file: file, "case '\(c.id)': ECG file \(c.ecg) does not exist")
            }
            if let s = c.truth.subtype, !questions.subtypes.isEmpty, !questions.subtypes.contains(s) {
                throw bad("case '\(c.id)': truth subtype '\(s)' is not one of \(questions.subtypes)")
            }
            if showsReal {
                guard let dir = c.realCMR else { throw bad("case '\(c.id)': a stage shows real CMR but the case has no realCMR folder") }
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                    throw StudyError(.missingFile, file: file, "case '\(c.id)': realCMR folder \(dir) does not exist")
                }
            }
        }
        for r in roles where r.isEmpty { _ = r; throw bad("empty reader role") }
    }
}

/// A terminal size in character cells, written "120x40" (columns × rows) in definitions and reports.
public struct TerminalSize: Codable, Sendable, Hashable, CustomStringConvertible {
    public var columns: Int
    public var rows: Int
    public init(columns: Int, rows: Int) { self.columns = columns; self.rows = rows }

    /// Parses "120x40" (also "120×40"); nil for anything else.
    public init?(parsing text: String) {
        let parts = text.lowercased().replacingOccurrences(of: "×", with: "x").split(separator: "x")
        guard parts.count == 2, let c = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let r = Int(parts[1].trimmingCharacters(in: .whitespaces)), (1...10_000).contains(c), (1...10_000).contains(r) else { return nil }
        columns = c; rows = r
    }
    public var description: String { isHeadless ? Self.headlessName : "\(columns)×\(rows)" }

    /// A scripted session (`study run --headless`) has no terminal: its answers are recorded as
    /// "headless" (stored as 0 × 0), not as the size its in-memory screen happens to render at.
    public static let headless = TerminalSize(columns: 0, rows: 0)
    public static let headlessName = "headless"
    public var isHeadless: Bool { columns == 0 && rows == 0 }
    /// As written in answers.csv and the report: "120x40", or "headless".
    public var csvText: String { isHeadless ? Self.headlessName : "\(columns)x\(rows)" }

    /// True when this terminal is at least `minimum` in both directions. A headless session passes:
    /// reader mode itself refuses to show a case on a screen below the stage's minimum, and the
    /// scripted screen renders at its own fixed size; the answers still say "headless".
    public func isAtLeast(_ minimum: TerminalSize) -> Bool { isHeadless || (columns >= minimum.columns && rows >= minimum.rows) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = TerminalSize(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "terminal size must be written COLUMNSxROWS, e.g. \"120x40\" (got \"\(text)\")"))
        }
        self = size
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(csvText)
    }
}
