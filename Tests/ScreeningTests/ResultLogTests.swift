import Foundation
import Testing
@testable import Screening
import ECGFormats

private func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("screening-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

@Test func jsonlLogCutsTornTailAndSkipsCompletedFiles() throws {
    let path = temporaryPath("results.jsonl")
    do {
        let log = try ResultLog(path: path)
        try log.append(.failure(file: "/a.hea", kind: "truncated", message: "short"))
        try log.append(.failure(file: "/b.xml", kind: "corrupt", message: "bad base64"))
    }
    // Simulate a kill -9 in the middle of writing the third line.
    let handle = try #require(FileHandle(forWritingAtPath: path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"file\":\"/c.dcm\",\"sta".utf8))
    try handle.close()

    let reopened = try ResultLog(path: path)
    #expect(reopened.completedFiles == ["/a.hea", "/b.xml"])
    try reopened.append(.failure(file: "/c.dcm", kind: "unknownFormat", message: "x"))
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 3)
    for line in lines {
        #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil)
    }
}

@Test func csvLogKeepsHeaderAndQuotes() throws {
    let path = temporaryPath("results.csv")
    do {
        let log = try ResultLog(path: path)
        try log.append(.failure(file: "/x, y.csv", kind: "malformedHeader", message: "say \"hi\""))
    }
    let reopened = try ResultLog(path: path)
    #expect(reopened.completedFiles == ["/x, y.csv"])
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasPrefix("file,status,error,"))
    #expect(text.contains("\"/x, y.csv\""))
}

@Test func refusesToAppendToAForeignFile() throws {
    let path = temporaryPath("notes.jsonl")
    try "hello world\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: ResultLogError.self) { try ResultLog(path: path) }
}

@Test func discoveryFindsRecordsSkipsCompanionsAndSurvivesLoops() throws {
    let root = temporaryPath("tree")
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
    fm.createFile(atPath: root + "/r1.hea", contents: Data("r1 1 500 10\n".utf8))
    fm.createFile(atPath: root + "/r1.dat", contents: Data(count: 20))
    fm.createFile(atPath: root + "/sub/ecg.bin", contents: Data("<?xml version=\"1.0\"?><RestingECG/>".utf8))
    fm.createFile(atPath: root + "/sub/notes.bin", contents: Data("nothing".utf8))
    try fm.createSymbolicLink(atPath: root + "/sub/loop", withDestinationPath: root)
    try fm.createSymbolicLink(atPath: root + "/dangling.hea", withDestinationPath: root + "/missing")
    let items = ECGFileDiscovery().discover([root])
    let files = items.compactMap { if case .ecgFile(let p) = $0 { return (p as NSString).lastPathComponent } else { return nil } }
    #expect(files.sorted() == ["ecg.bin", "r1.hea"])
    let problems = items.compactMap { if case .unreadable(let p, _) = $0 { return (p as NSString).lastPathComponent } else { return nil } }
    #expect(problems == ["dangling.hea"])
}

@Test func discoveryTakesECGFilesOnlyNeverWeightsImagesOrOtherXML() throws {
    let root = temporaryPath("mixed")
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/model", withIntermediateDirectories: true)
    fm.createFile(atPath: root + "/r1.hea", contents: Data("r1 1 500 10\n".utf8))
    // A PyTorch checkpoint is a zip whose pickled text can hold anything, "<?xml" included.
    fm.createFile(atPath: root + "/model/checkpoint.pth", contents: Data("PK\u{3}\u{4}archive/data.pkl <?xml".utf8))
    fm.createFile(atPath: root + "/model/model.safetensors", contents: Data(count: 64))
    fm.createFile(atPath: root + "/model/figure.png", contents: Data([0x89, 0x50, 0x4E, 0x47]))
    fm.createFile(atPath: root + "/pom.xml", contents: Data("<?xml version=\"1.0\"?><project/>".utf8))
    fm.createFile(atPath: root + "/muse.xml", contents: Data("<?xml version=\"1.0\"?><RestingECG/>".utf8))
    fm.createFile(atPath: root + "/noext", contents: Data("<?xml version=\"1.0\"?><svg/>".utf8))
    let items = ECGFileDiscovery().discover([root])
    let files = items.compactMap { if case .ecgFile(let p) = $0 { return (p as NSString).lastPathComponent } else { return nil } }
    #expect(files.sorted() == ["muse.xml", "r1.hea"])
    #expect(items.count == 2, "nothing else listed, not even as unreadable: \(items)")
}

// MARK: issue 15 — output safety, locks, size caps on signal files

@Test func foreignFileIsNotTruncatedEvenWithATornLastLine() throws {
    let path = temporaryPath("notes.jsonl")
    let original = "my notes\nno trailing newline"
    try original.write(toFile: path, atomically: false, encoding: .utf8)
    #expect(throws: ResultLogError.self) { try ResultLog(path: path) }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
    // A JSON line that is not one of ours (no 'file'/'status') is foreign too.
    let json = temporaryPath("other.jsonl")
    try "{\"name\":\"x\"}\n{\"torn".write(toFile: json, atomically: false, encoding: .utf8)
    #expect(throws: ResultLogError.self) { try ResultLog(path: json) }
    #expect(try String(contentsOfFile: json, encoding: .utf8) == "{\"name\":\"x\"}\n{\"torn")
    // A CSV whose header is not ours.
    let csv = temporaryPath("sheet.csv")
    try "file,owner\na,b\n".write(toFile: csv, atomically: false, encoding: .utf8)
    #expect(throws: ResultLogError.self) { try ResultLog(path: csv) }
    #expect(try String(contentsOfFile: csv, encoding: .utf8) == "file,owner\na,b\n")
}

@Test func symlinkedOutputIsRefusedAndTheTargetUntouched() throws {
    let target = temporaryPath("precious.txt")
    try "precious\n".write(toFile: target, atomically: false, encoding: .utf8)
    let link = (target as NSString).deletingLastPathComponent + "/results.jsonl"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    #expect(throws: ResultLogError.self) { try ResultLog(path: link) }
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
}

@Test func secondLogOnTheSameOutputRefusesNamingTheHolder() throws {
    let path = temporaryPath("results.jsonl")
    let first = try ResultLog(path: path)
    do {
        _ = try ResultLog(path: path)
        Issue.record("second log opened")
    } catch let e as LockError {
        #expect(e.description.contains("process \(getpid())"))
    }
    try first.append(.failure(file: "/a", kind: "x", message: "y"))
}

@Test func csvResultsNeutraliseFormulasAndResumeStillMatches() throws {
    let path = temporaryPath("results.csv")
    do {
        let log = try ResultLog(path: path)
        try log.append(.failure(file: "=HYPERLINK(\"http://evil\").csv", kind: "x", message: "@SUM(1)"))
    }
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("'=HYPERLINK"))
    #expect(!text.split(separator: "\n").dropFirst().contains { $0.hasPrefix("=") })
    let reopened = try ResultLog(path: path)
    #expect(reopened.completedFiles == ["=HYPERLINK(\"http://evil\").csv"])
}

@Test func discoveryCapsTheSignalFileAHeaderNames() throws {
    let root = temporaryPath("cap")
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: root + "/big.dat", contents: nil)
    let h = try #require(FileHandle(forWritingAtPath: root + "/big.dat"))
    // Signal files are read by window, so a 300 MB one (a long Holter record) is screened …
    try h.truncate(atOffset: 300 << 20)
    FileManager.default.createFile(atPath: root + "/r.hea", contents: Data("r 1 500\nbig.dat 16 200 16 0 0 0 0 I\n".utf8))
    #expect(ECGFileDiscovery().discover([root]) == [.ecgFile(root + "/r.hea")])
    // … but one over the reader's per-file limit is reported, naming it.
    try h.truncate(atOffset: UInt64(ReaderLimits.maxFileBytes) + 1); try h.close()
    let items = ECGFileDiscovery().discover([root])
    #expect(items.count == 1)
    if case .unreadable(_, let reason) = items.first { #expect(reason.contains("big.dat") && reason.contains("limit")) } else { Issue.record("not refused: \(items)") }
}

// MARK: issue 18 — SCP-ECG files are screened, not silently skipped

@Test func discoveryFindsSCPECGFilesByExtensionAndByContent() throws {
    let root = temporaryPath("scp-tree")
    let fm = FileManager.default
    try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let scp = try Data(contentsOf: repo.appendingPathComponent("Tests/ECGFormatsTests/Fixtures/scp/synthetic-default-d2.scp"))
    fm.createFile(atPath: root + "/rest.SCP", contents: scp)
    fm.createFile(atPath: root + "/exported-without-extension", contents: scp)
    fm.createFile(atPath: root + "/other.bin", contents: Data(count: 64))
    let files = ECGFileDiscovery().discover([root]).compactMap { item -> String? in
        if case .ecgFile(let p) = item { return (p as NSString).lastPathComponent } else { return nil }
    }
    #expect(files.sorted() == ["exported-without-extension", "rest.SCP"])
}
