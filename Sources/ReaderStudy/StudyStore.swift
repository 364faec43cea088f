import CommonKit
import Foundation
import ECGFormats
import GRDB
#if canImport(Glibc)
import Glibc
private let posixOpen: (UnsafePointer<CChar>, Int32, mode_t) -> Int32 = { Glibc.open($0, $1, $2) }
#else
import Darwin
private let posixOpen: (UnsafePointer<CChar>, Int32, mode_t) -> Int32 = { Darwin.open($0, $1, $2) }
#endif

/// The study database: one SQLite file (WAL, synchronous = FULL, owner-only permissions) holding
/// the resolved definition, readers, their recorded case orders, every confirmed answer and an
/// audit log of every action. An answer is durable when `recordAnswer` returns.
public final class StudyStore {
    public let path: String
    let dbQueue: DatabaseQueue
    public let definition: StudyDefinition
    /// Time source (tests move it to check wash-out periods).
    public var now: () -> Date

    // MARK: opening

    /// Creates a new study database from a validated definition. Refuses to overwrite a file.
    public static func create(at path: String, definition: StudyDefinition, definitionSource: String,
                              operatorName: String, now: @escaping () -> Date = Date.init) throws -> StudyStore {
        // Create the file ourselves with mode 0600 (O_EXCL: never clobber an existing study);
        // SQLite then gives the -wal and -shm files the same permissions.
        let fd = posixOpen(path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw StudyError(.databaseExists, file: path, "a file already exists here; refusing to overwrite it") }
            throw StudyError(.storage, file: path, "cannot create the database (\(String(cString: strerror(errno))))")
        }
        _ = close(fd)
        do {
            let queue = try openQueue(path)
            let json = try encodeDefinition(definition)
            try queue.write { db in
                try createSchema(db)
                try db.execute(sql: """
                    INSERT INTO study (id, study_id, title, definition_json, definition_source, seed, created_at)
                    VALUES (1, ?, ?, ?, ?, ?, ?)
                    """, arguments: [definition.id, definition.title, json, definitionSource, String(definition.seed), iso(now())])
                try appendAudit(db, at: now(), actor: operatorName, action: "study-init", detail: "definition \(definitionSource), \(definition.cases.count) cases, \(definition.stages.count) stages")
            }
            return StudyStore(path: path, queue: queue, definition: definition, now: now)
        } catch let e as StudyError {
            try? FileManager.default.removeItem(atPath: path); throw e
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw StudyError(.storage, file: path, "cannot initialise the study database: \(error)")
        }
    }

    /// Opens an existing study database.
    /// `readOnly` (for `study status`): opens over a read-only connection, changes nothing (no chmod,
    /// no migration), so a database on read-only media or in a read-only folder can be inspected.
    public static func open(at path: String, readOnly: Bool = false, now: @escaping () -> Date = Date.init) throws -> StudyStore {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw StudyError(.databaseMissing, file: path, "no study database here (create one with `ecg2cmr study init`)")
        }
        // Everything is checked before anything is changed: a foreign file is never chmod-ed,
        // converted to SQLite or switched to WAL.
        try checkIsStudyDatabase(path, lstat: st)
        // Keep the answers private even if someone copied the file with a broad umask.
        if !readOnly { chmod(path, 0o600) }
        do {
            let queue = try openQueue(path, readOnly: readOnly)
            let json = try queue.read { db -> String? in
                guard try db.tableExists("study") else { return nil }
                return try String.fetchOne(db, sql: "SELECT definition_json FROM study WHERE id = 1")
            }
            guard let json, let data = json.data(using: .utf8) else {
                throw StudyError(.notAStudyDatabase, file: path, "not an ecg2cmr study database (no study table)")
            }
            let definition = try JSONDecoder().decode(StudyDefinition.self, from: data)
            if !readOnly { try queue.write { db in try migrate(db) } }
            return StudyStore(path: path, queue: queue, definition: definition, now: now)
        } catch let e as StudyError { throw e } catch {
            if let storage = storageProblem(error, path: path) { throw storage }
            throw StudyError(.notAStudyDatabase, file: path, "cannot open as a study database: \(error)")
        }
    }

    /// A full disk, a read-only file system or folder, or an I/O error is a storage problem with the
    /// study database, not a sign that the file is something else: said as such.
    static func storageProblem(_ error: Error, path: String) -> StudyError? {
        guard let e = error as? DatabaseError else { return nil }
        let what: String
        switch e.resultCode {
        case .SQLITE_FULL: what = "the disk is full"
        case .SQLITE_READONLY: what = "the database or its folder is read-only (reader sessions, reports and add-reader need write access)"
        case .SQLITE_CANTOPEN: what = "SQLite cannot open it or its -wal/-shm files (is the folder read-only?)"
        case .SQLITE_IOERR: what = "an input/output error"
        case .SQLITE_PERM, .SQLITE_AUTH: what = "permission denied"
        default: return nil
        }
        return StudyError(.storage, file: path, "cannot use the study database: \(what) (\(e.message ?? "\(e.resultCode)"))")
    }

    /// Refuses a symlink (never followed to a file that may not be ours), anything but a regular
    /// file, a file without the SQLite header, and a SQLite database without this tool's `study`
    /// table — the last checked over a read-only connection, so nothing is written.
    static func checkIsStudyDatabase(_ path: String, lstat st: stat) throws {
        let mode = st.st_mode & S_IFMT
        if mode == S_IFLNK {
            throw StudyError(.notAStudyDatabase, file: path, "is a symbolic link; refusing to follow it (give the study database's real path)")
        }
        guard mode == S_IFREG else {
            throw StudyError(.notAStudyDatabase, file: path, "is not a regular file (it is \(fileKindName(mode: st.st_mode))); not a study database")
        }
        for side in ["-wal", "-shm", "-journal"] {
            var sideStat = stat()
            if lstat(path + side, &sideStat) == 0, (sideStat.st_mode & S_IFMT) != S_IFREG {
                throw StudyError(.notAStudyDatabase, file: path + side, "is not a regular file (it is \(fileKindName(mode: sideStat.st_mode))); refusing to open the study database beside it")
            }
        }
        guard st.st_size >= 100 else {
            throw StudyError(.notAStudyDatabase, file: path, st.st_size == 0 ? "is an empty file, not a study database; refusing to touch it"
                                                                              : "is too small to be a study database; refusing to touch it")
        }
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0)
        guard fd >= 0 else {
            throw StudyError(.storage, file: path, "cannot open the study database (\(describeErrno(errno)))")
        }
        var magic = [UInt8](repeating: 0, count: 16)
        let n = Glibc.read(fd, &magic, 16)
        _ = close(fd)
        guard n == 16, magic == Array("SQLite format 3\0".utf8) else {
            throw StudyError(.notAStudyDatabase, file: path, "is not a SQLite database, so not a study database; refusing to touch it")
        }
        do {
            var config = Configuration()
            config.readonly = true
            config.busyMode = .timeout(5)
            let probe = try DatabaseQueue(path: path, configuration: config)
            let ours = try probe.read { db -> Bool in
                try db.tableExists("study") && db.tableExists("readers") && db.tableExists("answers")
                    && (try String.fetchOne(db, sql: "SELECT definition_json FROM study WHERE id = 1")) != nil
            }
            try probe.close()
            guard ours else {
                throw StudyError(.notAStudyDatabase, file: path, "is a SQLite database but not an ecg2cmr study database (no study table); refusing to touch it")
            }
        } catch let e as StudyError { throw e } catch {
            if let storage = storageProblem(error, path: path) { throw storage }
            throw StudyError(.notAStudyDatabase, file: path, "cannot be read as a study database (\(error)); refusing to touch it")
        }
    }

    private init(path: String, queue: DatabaseQueue, definition: StudyDefinition, now: @escaping () -> Date) {
        self.path = path; self.dbQueue = queue; self.definition = definition; self.now = now
    }

    private static func openQueue(_ path: String, readOnly: Bool = false) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(5)
        if readOnly {
            config.readonly = true
            return try DatabaseQueue(path: path, configuration: config)
        }
        config.prepareDatabase { db in
            // FULL: the WAL is fsynced at every commit, so a confirmed answer survives kill -9 and power loss.
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return try DatabaseQueue(path: path, configuration: config)
    }

    static func encodeDefinition(_ d: StudyDefinition) throws -> String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try enc.encode(d), as: UTF8.self)
    }

    /// Brings a database made by an earlier version up to this schema. Only nullable columns are
    /// added, so old answers read back unchanged (with no terminal size) and older binaries, which
    /// name their columns, keep reading and writing the file.
    static func migrate(_ db: Database) throws {
        let columns = Set(try db.columns(in: "answers").map(\.name))
        if !columns.contains("terminal_columns") {
            try db.execute(sql: "ALTER TABLE answers ADD COLUMN terminal_columns INTEGER")
            try db.execute(sql: "ALTER TABLE answers ADD COLUMN terminal_rows INTEGER")
        }
    }

    static func createSchema(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE study (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              study_id TEXT NOT NULL, title TEXT NOT NULL,
              definition_json TEXT NOT NULL, definition_source TEXT NOT NULL,
              seed TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE readers (
              id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
              order_seed TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE case_order (
              reader_id TEXT NOT NULL REFERENCES readers(id), stage_id TEXT NOT NULL,
              position INTEGER NOT NULL, case_id TEXT NOT NULL,
              PRIMARY KEY (reader_id, stage_id, position), UNIQUE (reader_id, stage_id, case_id));
            CREATE TABLE stage_sessions (
              reader_id TEXT NOT NULL REFERENCES readers(id), stage_id TEXT NOT NULL,
              started_at TEXT NOT NULL, completed_at TEXT,
              washout_override_by TEXT, washout_override_reason TEXT,
              PRIMARY KEY (reader_id, stage_id));
            CREATE TABLE answers (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              reader_id TEXT NOT NULL REFERENCES readers(id), stage_id TEXT NOT NULL,
              case_id TEXT NOT NULL, position INTEGER NOT NULL,
              finding INTEGER NOT NULL CHECK (finding IN (0, 1)),
              confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 5),
              subtype TEXT, note TEXT,
              seconds_on_case REAL NOT NULL, answered_at TEXT NOT NULL,
              terminal_columns INTEGER, terminal_rows INTEGER,
              UNIQUE (reader_id, stage_id, case_id));
            CREATE TABLE audit_log (
              id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
              action TEXT NOT NULL, reader_id TEXT, stage_id TEXT, case_id TEXT, detail TEXT);
            CREATE TABLE model_scores (
              case_id TEXT NOT NULL, model_id TEXT NOT NULL, weights_sha256 TEXT NOT NULL,
              target TEXT NOT NULL, probability REAL NOT NULL, computed_at TEXT NOT NULL,
              PRIMARY KEY (case_id, model_id, weights_sha256, target));
            """)
    }

    // MARK: time

    static let isoFormatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter(); f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]; return f
    }()
    static func iso(_ d: Date) -> String { isoFormatter.string(from: d) }
    static func date(_ s: String?) -> Date? { s.flatMap { isoFormatter.date(from: $0) } }

    static func appendAudit(_ db: Database, at: Date, actor: String, action: String, reader: String? = nil,
                            stage: String? = nil, caseID: String? = nil, detail: String? = nil) throws {
        try db.execute(sql: "INSERT INTO audit_log (at, actor, action, reader_id, stage_id, case_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [iso(at), actor, action, reader, stage, caseID, detail])
    }

    /// Appends one line to the audit log in its own transaction.
    public func audit(actor: String, action: String, reader: String? = nil, stage: String? = nil,
                      caseID: String? = nil, detail: String? = nil) throws {
        let t = now()
        try write { db in try Self.appendAudit(db, at: t, actor: actor, action: action, reader: reader, stage: stage, caseID: caseID, detail: detail) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try dbQueue.write(body) } catch let e as StudyError { throw e } catch {
            throw StudyError(.storage, file: path, "database write failed: \(error)")
        }
    }
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try dbQueue.read(body) } catch let e as StudyError { throw e } catch {
            throw StudyError(.storage, file: path, "database read failed: \(error)")
        }
    }

    // MARK: readers

    public struct Reader: Sendable, Equatable {
        public var id: String
        public var name: String
        public var role: String
        public var orderSeed: UInt64
    }

    /// Registers a reader and records their case order for every stage (a fresh shuffle per stage,
    /// from a seed derived from the study seed and the reader id — recorded, so reproducible).
    @discardableResult
    public func addReader(id: String, name: String, role: String, operatorName: String) throws -> Reader {
        guard !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw StudyError(.answerInvalid, file: path, "reader id '\(id)' must be letters, digits, - or _")
        }
        if !definition.roles.isEmpty, !definition.roles.contains(role) {
            throw StudyError(.answerInvalid, file: path, "role '\(role)' is not one of \(definition.roles)")
        }
        let seed = Self.readerSeed(studySeed: definition.seed, readerID: id)
        let reader = Reader(id: id, name: name, role: role, orderSeed: seed)
        let t = now()
        try write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM readers WHERE id = ?", arguments: [id]) == true {
                throw StudyError(.duplicateReader, file: path, "reader '\(id)' already exists")
            }
            try db.execute(sql: "INSERT INTO readers (id, name, role, order_seed, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, name, role, String(seed), Self.iso(t)])
            for (stageIndex, stage) in definition.stages.enumerated() {
                for (position, caseID) in Self.caseOrder(caseIDs: definition.cases.map(\.id), readerSeed: seed, stageIndex: stageIndex).enumerated() {
                    try db.execute(sql: "INSERT INTO case_order (reader_id, stage_id, position, case_id) VALUES (?, ?, ?, ?)",
                                   arguments: [id, stage.id, position + 1, caseID])
                }
            }
            try Self.appendAudit(db, at: t, actor: operatorName, action: "add-reader", reader: id, detail: "name \(name), role \(role), order seed \(seed)")
        }
        return reader
    }

    /// FNV-1a of the reader id mixed into the study seed through SplitMix64.
    static func readerSeed(studySeed: UInt64, readerID: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in readerID.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var g = SplitMix64(seed: studySeed ^ h)
        return g.next()
    }

    /// Fisher–Yates with SplitMix64(readerSeed + stage).
    static func caseOrder(caseIDs: [String], readerSeed: UInt64, stageIndex: Int) -> [String] {
        var g = SplitMix64(seed: readerSeed &+ UInt64(stageIndex) &* 0x9E37_79B9_7F4A_7C15)
        var ids = caseIDs
        if ids.count > 1 {
            for i in stride(from: ids.count - 1, to: 0, by: -1) { ids.swapAt(i, g.index(below: i + 1)) }
        }
        return ids
    }

    public func readers() throws -> [Reader] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, order_seed FROM readers ORDER BY created_at, id").map {
                Reader(id: $0["id"], name: $0["name"], role: $0["role"], orderSeed: UInt64($0["order_seed"] as String) ?? 0)
            }
        }
    }

    public func reader(_ id: String) throws -> Reader {
        guard let r = try readers().first(where: { $0.id == id }) else {
            throw StudyError(.unknownReader, file: path, "no reader '\(id)' in this study (add one with `ecg2cmr study add-reader`)")
        }
        return r
    }

    /// The recorded case order of a reader in a stage (case ids, position 1 first).
    public func caseOrder(reader: String, stage: String) throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT case_id FROM case_order WHERE reader_id = ? AND stage_id = ? ORDER BY position",
                                arguments: [reader, stage])
        }
    }

    // MARK: stages and wash-out

    public struct StageSession: Sendable, Equatable {
        public var stageID: String
        public var startedAt: Date
        public var completedAt: Date?
        public var overrideBy: String?
        public var overrideReason: String?
    }

    public func stageSessions(reader: String) throws -> [String: StageSession] {
        try read { db in
            var out: [String: StageSession] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM stage_sessions WHERE reader_id = ?", arguments: [reader]) {
                let s = StageSession(stageID: row["stage_id"], startedAt: Self.date(row["started_at"]) ?? .distantPast,
                                     completedAt: Self.date(row["completed_at"]), overrideBy: row["washout_override_by"],
                                     overrideReason: row["washout_override_reason"])
                out[s.stageID] = s
            }
            return out
        }
    }

    /// Where a reader stands: the stage to work on next and whether it may start now.
    public enum StageAvailability: Equatable, Sendable {
        case inProgress(stage: String)
        case ready(stage: String)
        /// The wash-out after the previous stage has not elapsed.
        case washout(stage: String, availableFrom: Date)
        /// The previous stage is not finished.
        case blocked(stage: String, waitingFor: String)
        case finished
    }

    public func availability(reader: String, stage requested: String? = nil) throws -> StageAvailability {
        _ = try self.reader(reader)
        let sessions = try stageSessions(reader: reader)
        let stages = definition.stages
        let index: Int
        if let requested {
            guard let i = definition.stageIndex(requested) else {
                throw StudyError(.unknownStage, file: path, "no stage '\(requested)' (stages: \(stages.map(\.id).joined(separator: ", ")))")
            }
            index = i
        } else if let i = stages.firstIndex(where: { sessions[$0.id]?.completedAt == nil }) {
            index = i
        } else { return .finished }
        let stage = stages[index]
        if let s = sessions[stage.id] { return s.completedAt == nil ? .inProgress(stage: stage.id) : .finished }
        if index == 0 { return .ready(stage: stage.id) }
        let previous = stages[index - 1]
        guard let done = sessions[previous.id]?.completedAt else { return .blocked(stage: stage.id, waitingFor: previous.id) }
        let from = done.addingTimeInterval(stage.washoutDays * 86_400)
        return now() >= from ? .ready(stage: stage.id) : .washout(stage: stage.id, availableFrom: from)
    }

    /// Starts (or resumes) a stage for a reader. An early start inside the wash-out needs an operator
    /// override, which is stored with the stage and in the audit log.
    public func beginStage(reader: String, stage requested: String? = nil,
                           washoutOverride: (operatorName: String, reason: String)? = nil) throws -> String {
        let t = now()
        switch try availability(reader: reader, stage: requested) {
        case .finished:
            if let requested { throw StudyError(.stageFinished, file: path, "reader '\(reader)' has finished stage '\(requested)'") }
            throw StudyError(.studyComplete, file: path, "reader '\(reader)' has finished every stage")
        case .blocked(let stage, let previous):
            throw StudyError(.stageLocked, file: path, "stage '\(stage)' cannot start: reader '\(reader)' has not finished '\(previous)'")
        case .inProgress(let stage):
            try audit(actor: reader, action: "resume-stage", reader: reader, stage: stage)
            return stage
        case .ready(let stage):
            try write { db in
                try db.execute(sql: "INSERT INTO stage_sessions (reader_id, stage_id, started_at) VALUES (?, ?, ?)", arguments: [reader, stage, Self.iso(t)])
                try Self.appendAudit(db, at: t, actor: reader, action: "start-stage", reader: reader, stage: stage)
            }
            return stage
        case .washout(let stage, let from):
            guard let o = washoutOverride else {
                throw StudyError(.stageLocked, file: path, "stage '\(stage)' is in its wash-out for reader '\(reader)' until \(Self.iso(from)); an operator may override with --override-washout REASON")
            }
            try write { db in
                try db.execute(sql: """
                    INSERT INTO stage_sessions (reader_id, stage_id, started_at, washout_override_by, washout_override_reason)
                    VALUES (?, ?, ?, ?, ?)
                    """, arguments: [reader, stage, Self.iso(t), o.operatorName, o.reason])
                try Self.appendAudit(db, at: t, actor: o.operatorName, action: "washout-override", reader: reader, stage: stage,
                                     detail: "wash-out until \(Self.iso(from)) overridden: \(o.reason)")
                try Self.appendAudit(db, at: t, actor: reader, action: "start-stage", reader: reader, stage: stage)
            }
            return stage
        }
    }

    // MARK: answers

    public struct Answer: Sendable, Equatable {
        public var caseID: String
        public var position: Int
        public var finding: Bool
        public var confidence: Int
        public var subtype: String?
        public var note: String?
        public var secondsOnCase: Double
        public var answeredAt: Date
        /// The terminal the answer was given on; nil for answers recorded before sizes were kept.
        public var terminal: TerminalSize?
        public var rating: Double { confidenceRating(finding: finding, confidence: confidence) }
    }

    public func answers(reader: String, stage: String) throws -> [Answer] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM answers WHERE reader_id = ? AND stage_id = ? ORDER BY position",
                             arguments: [reader, stage]).map {
                Answer(caseID: $0["case_id"], position: $0["position"], finding: ($0["finding"] as Int) == 1,
                       confidence: $0["confidence"], subtype: $0["subtype"], note: $0["note"],
                       secondsOnCase: $0["seconds_on_case"], answeredAt: Self.date($0["answered_at"]) ?? .distantPast,
                       terminal: Self.terminalSize($0["terminal_columns"], $0["terminal_rows"]))
            }
        }
    }

    /// Commits one confirmed answer (and its audit line, and the stage completion when it was the
    /// last case) in one transaction. Returns only after the WAL is on disk.
    static func terminalSize(_ columns: Int?, _ rows: Int?) -> TerminalSize? {
        guard let columns, let rows else { return nil }
        return TerminalSize(columns: columns, rows: rows)
    }

    /// `terminal`: the size the case was read on. A stage with `minimumTerminal` refuses answers
    /// from a smaller (or unknown) terminal, so every answer was read at the required size.
    public func recordAnswer(reader: String, stage: String, caseID: String, finding: Bool, confidence: Int,
                             subtype: String?, note: String?, secondsOnCase: Double, terminal: TerminalSize? = nil) throws {
        if let minimum = definition.stage(stage)?.minimumTerminal {
            guard let terminal, terminal.isAtLeast(minimum) else {
                throw StudyError(.answerInvalid, file: path, "stage '\(stage)' must be read on a terminal of at least \(minimum); this one is \(terminal?.description ?? "of unknown size")")
            }
        }
        guard (1...5).contains(confidence) else { throw StudyError(.answerInvalid, file: path, "confidence must be 1–5, got \(confidence)") }
        if let subtype, !definition.questions.subtypes.contains(subtype) {
            throw StudyError(.answerInvalid, file: path, "subtype '\(subtype)' is not one of \(definition.questions.subtypes)")
        }
        let t = now()
        try write { db in
            guard let position = try Int.fetchOne(db, sql: "SELECT position FROM case_order WHERE reader_id = ? AND stage_id = ? AND case_id = ?",
                                                  arguments: [reader, stage, caseID]) else {
                throw StudyError(.answerInvalid, file: path, "case is not in reader '\(reader)' stage '\(stage)'")
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM answers WHERE reader_id = ? AND stage_id = ? AND case_id = ?", arguments: [reader, stage, caseID]) == true {
                throw StudyError(.answerInvalid, file: path, "case \(position) of stage '\(stage)' is already answered by '\(reader)'; answers are final")
            }
            try db.execute(sql: """
                INSERT INTO answers (reader_id, stage_id, case_id, position, finding, confidence, subtype, note, seconds_on_case, answered_at,
                                     terminal_columns, terminal_rows)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [reader, stage, caseID, position, finding ? 1 : 0, confidence, subtype, note, secondsOnCase, Self.iso(t),
                                 terminal?.columns, terminal?.rows])
            try Self.appendAudit(db, at: t, actor: reader, action: "answer", reader: reader, stage: stage, caseID: caseID,
                                 detail: "position \(position): finding \(finding ? "yes" : "no"), confidence \(confidence)\(subtype.map { ", subtype \($0)" } ?? "")\(terminal.map { ", terminal \($0)" } ?? "")")
            let remaining = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM case_order o WHERE o.reader_id = ? AND o.stage_id = ?
                AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.reader_id = o.reader_id AND a.stage_id = o.stage_id AND a.case_id = o.case_id)
                """, arguments: [reader, stage]) ?? 0
            if remaining == 0 {
                try db.execute(sql: "UPDATE stage_sessions SET completed_at = ? WHERE reader_id = ? AND stage_id = ?", arguments: [Self.iso(t), reader, stage])
                try Self.appendAudit(db, at: t, actor: reader, action: "complete-stage", reader: reader, stage: stage)
            }
        }
    }

    // MARK: audit and model scores

    public struct AuditEntry: Sendable {
        public var at: Date
        public var actor: String
        public var action: String
        public var reader: String?
        public var stage: String?
        public var caseID: String?
        public var detail: String?
    }

    public func auditLog() throws -> [AuditEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY id").map {
                AuditEntry(at: Self.date($0["at"]) ?? .distantPast, actor: $0["actor"], action: $0["action"],
                           reader: $0["reader_id"], stage: $0["stage_id"], caseID: $0["case_id"], detail: $0["detail"])
            }
        }
    }

    public func cachedModelScores(modelID: String, weightsSHA256: String, target: String) throws -> [String: Double] {
        try read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT case_id, probability FROM model_scores WHERE model_id = ? AND weights_sha256 = ? AND target = ?",
                                        arguments: [modelID, weightsSHA256, target]) { out[row["case_id"]] = row["probability"] }
            return out
        }
    }

    public func storeModelScores(_ scores: [String: Double], modelID: String, weightsSHA256: String, target: String) throws {
        let t = Self.iso(now())
        try write { db in
            for (caseID, p) in scores {
                try db.execute(sql: "INSERT OR REPLACE INTO model_scores (case_id, model_id, weights_sha256, target, probability, computed_at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [caseID, modelID, weightsSHA256, target, p, t])
            }
        }
    }

    /// PRAGMA values as the connection sees them (the durability test checks them).
    public func pragmas() throws -> (journalMode: String, synchronous: Int) {
        try read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }
}
