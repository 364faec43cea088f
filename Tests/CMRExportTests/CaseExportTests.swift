import CaseAnalysis
import CardiacModels
import ECGFormats
import Foundation
@testable import Imaging
import TestSupport
import Testing
@testable import CMRExport

/// End-to-end exports with the committed tiny random bundle (Fixtures/bundle-tiny, 16×16 SAX,
/// 24×24 LAX, 20 frames) and a real 12-lead record from tests/records.
@Suite(.serialized) struct CaseExportTests {
    static let recordURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tests/records/cinc2021/E07500.hea")

    static func pipeline() throws -> CardiacPipeline {
        let url = try #require(Bundle.module.url(forResource: "bundle-tiny", withExtension: nil, subdirectory: "Fixtures"))
        return try CardiacPipeline(bundle: try ModelBundle.load(from: url))
    }

    static func cases() throws -> CaseAnalysis { CaseAnalysis(pipeline: try pipeline()) }

    static func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cmrexport-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func options(seed: UInt64 = 3) -> ExportOptions {
        ExportOptions(seed: seed, size: 48, filter: .bilinear, contactSheetThumbnail: 24, previewPanelSize: 32, ecgPixelsPerMillimetre: 2)
    }

    @Test func exportWritesEveryFileListedWithItsHash() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: Self.recordURL)
        let exporter = try CaseExporter(cases: try Self.cases(), options: Self.options())
        var stages: [ExportProgress.Stage] = []
        let result = try exporter.export(record: record, into: out) { stages.append($0.stage) }
        let caseName = "E07500-" + record.provenance.sha256.prefix(8)
        #expect(result.caseDirectory.lastPathComponent == caseName)
        #expect(!result.skipped)
        #expect(stages.first == .analysing && stages.last == .done)
        let m = result.manifest
        #expect(m.phases.frameCount == 20)
        // 20 SAX + 20 LAX + 20 montages + contact sheet + preview + ECG sheet.
        #expect(m.files.count == 63)
        for f in m.files {
            let data = try Data(contentsOf: result.caseDirectory.appendingPathComponent(f.path))
            #expect(SHA256Hex.of(data) == f.sha256, "\(f.path)")
        }
        #expect(m.input.sha256 == record.provenance.sha256)
        #expect(m.model.weightsSHA256 == exporter.model.weightsSHA256)
        #expect(m.patient == nil)
        // Nothing left behind but the case folder (and the folder's lock file, which stays: unlinking
        // a flock file would let two processes hold "the" lock).
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted() == [".ecg2cmr-export.lock", caseName])
        // Frames are the generator's output after the documented scaling.
        let cmr = try exporter.caseAnalysis.pipeline.generateCMR(embedding: exporter.caseAnalysis.pipeline.analyse(try exporter.caseAnalysis.pipeline.prepare(record)).embedding,
                                                    seed: 3, frameCount: 20)
        let png = try PNGCodec.decodeGrey(contentsOf: result.caseDirectory.appendingPathComponent("sax/frame_007.png"))
        // … with "GENERATED" burned into the top-left corner (SyntheticLabel), and nothing else changed.
        var expected = try Resampler.resample(cmr.sax.frames[7], width: 16, height: 16, toWidth: 48, height: 48, filter: .bilinear)
        SyntheticLabel.burn(into: &expected)
        #expect(png == expected)
        let r = SyntheticLabel.rect(forSize: 48)
        #expect(r.width > 0 && png.pixels.contains(255))
    }

    @Test func sameSeedGivesByteIdenticalFilesAndOtherSeedsDiffer() throws {
        let a = try Self.tempDir(), b = try Self.tempDir(), c = try Self.tempDir()
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(at: d) } }
        let record = try ECGFileReader.read(url: Self.recordURL)
        let pipeline = try Self.pipeline()
        let ra = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: Self.options(seed: 5)).export(record: record, into: a)
        let rb = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: Self.options(seed: 5)).export(record: record, into: b)
        let rc = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: Self.options(seed: 6)).export(record: record, into: c)
        #expect(ra.manifest.files == rb.manifest.files)
        for f in ra.manifest.files {
            #expect(try Data(contentsOf: ra.caseDirectory.appendingPathComponent(f.path)) == Data(contentsOf: rb.caseDirectory.appendingPathComponent(f.path)))
        }
        let frameA = ra.manifest.files.first { $0.path == "sax/frame_000.png" }?.sha256
        let frameC = rc.manifest.files.first { $0.path == "sax/frame_000.png" }?.sha256
        #expect(frameA != nil && frameA != frameC)
    }

    @Test func rerunSkipsCompleteCasesAndRedoesDamagedOnes() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: Self.recordURL)
        let exporter = try CaseExporter(cases: try Self.cases(), options: Self.options())
        let first = try exporter.export(record: record, into: out)
        #expect(try exporter.export(record: record, into: out).skipped)
        // Damage one frame: the hashes no longer match, so the case is exported again.
        let frame = first.caseDirectory.appendingPathComponent("lax/frame_003.png")
        try Data([0x89, 0x50]).write(to: frame)
        let again = try exporter.export(record: record, into: out)
        #expect(!again.skipped)
        #expect(SHA256Hex.of(try Data(contentsOf: frame)) == first.manifest.files.first { $0.path == "lax/frame_003.png" }?.sha256)
        // Different options → not the same export.
        var other = Self.options(); other.size = 40
        #expect(!(try CaseExporter(cases: exporter.caseAnalysis, options: other).export(record: record, into: out).skipped))
    }

    @Test func staleStagingFoldersAreRemoved() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        // A staging folder of a process that no longer exists (pid 2^22 + 1 is above Linux's default pid_max).
        let record = try ECGFileReader.read(url: Self.recordURL)
        let name = CaseExporter.caseName(for: record)
        let stale = out.appendingPathComponent(".\(name).partial-4194305-7")
        try FileManager.default.createDirectory(at: stale.appendingPathComponent("sax"), withIntermediateDirectories: true)
        try Data([1, 2]).write(to: stale.appendingPathComponent("sax/frame_000.png"))
        _ = try CaseExporter(cases: try Self.cases(), options: Self.options()).export(record: record, into: out)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted() == [".ecg2cmr-export.lock", name])
    }

    /// A CSV that states no sampling rate is exported with `--sampling-rate 500`: the manifest records
    /// the rate, so the export regenerates from the manifest alone (before, the regeneration read the
    /// file with no rate and failed); the same file at another rate is another export, not "complete".
    @Test func aCSVReadWithAGivenRateRegeneratesFromItsManifest() throws {
        let dir = try Self.tempDir(), a = try Self.tempDir(), b = try Self.tempDir()
        defer { for d in [dir, a, b] { try? FileManager.default.removeItem(at: d) } }
        let source = TestEnvironment.repositoryRoot.appendingPathComponent("sample-data/P06-rcm/ecg.csv")
        let text = try String(contentsOf: source, encoding: .utf8)
        let csv = dir.appendingPathComponent("norate.csv")
        try text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }
            .joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)
        #expect(throws: ECGFormatError.self) { try ECGFileReader.read(url: csv) }

        let readOptions = ECGFileReader.Options(csvSamplingRate: 500)
        let exporter = try CaseExporter(cases: try Self.cases(), options: Self.options(), readOptions: readOptions)
        let outcome = try #require(BatchExporter.export(files: [csv], exporter: exporter, into: a).first)
        let first = try #require(outcome.result, "\(String(describing: outcome.error))")
        #expect(first.manifest.input.givenSamplingRate == 500 && first.manifest.input.samplingRate == 500)
        let (_, mismatched) = try CaseExporter.regenerate(manifestAt: first.caseDirectory.appendingPathComponent("manifest.json"), into: b)
        #expect(mismatched.isEmpty)

        let record250 = try ECGFileReader.read(url: csv, options: .init(csvSamplingRate: 250))
        let at250 = try CaseExporter(cases: exporter.caseAnalysis, options: Self.options(), readOptions: .init(csvSamplingRate: 250))
        #expect(at250.completeManifest(caseDirectory: first.caseDirectory, record: record250) == nil)
        #expect(exporter.completeManifest(caseDirectory: first.caseDirectory,
                                          record: try ECGFileReader.read(url: csv, options: readOptions)) != nil)
    }

    @Test func manifestAloneRegeneratesTheSameBytes() throws {
        let a = try Self.tempDir(), b = try Self.tempDir()
        defer { for d in [a, b] { try? FileManager.default.removeItem(at: d) } }
        let record = try ECGFileReader.read(url: Self.recordURL)
        var options = Self.options(seed: 11); options.frames = .edES
        let first = try CaseExporter(cases: try Self.cases(), options: options).export(record: record, into: a)
        let (again, mismatched) = try CaseExporter.regenerate(manifestAt: first.caseDirectory.appendingPathComponent("manifest.json"), into: b)
        #expect(mismatched.isEmpty)
        #expect(again.manifest.files.map(\.path) == first.manifest.files.map(\.path))
        for f in first.manifest.files {
            #expect(try Data(contentsOf: first.caseDirectory.appendingPathComponent(f.path)) == Data(contentsOf: again.caseDirectory.appendingPathComponent(f.path)))
        }
        // The manifest too: a regeneration keeps the original's createdAt.
        #expect(try Data(contentsOf: first.caseDirectory.appendingPathComponent("manifest.json"))
                == Data(contentsOf: again.caseDirectory.appendingPathComponent("manifest.json")))
        // ed-es: only the two phase frames per view.
        let ph = first.manifest.phases
        let saxFrames = first.manifest.files.filter { $0.kind == "sax-frame" }.map(\.path)
        #expect(saxFrames == Array(Set([ph.endDiastoleFrame, ph.endSystoleFrame])).sorted().map { "sax/" + CaseExporter.frameFileName($0) })
    }

    /// A window of a long record (exported from `view`) carries the digest of the bytes it read
    /// (`input.sha256Scope`); a regeneration, which reads records whole, refuses it and says why
    /// instead of reporting the input as changed.
    @Test func aWindowsExportIsNotRegeneratedFromWholeFiles() throws {
        let a = try Self.tempDir(), b = try Self.tempDir()
        defer { for d in [a, b] { try? FileManager.default.removeItem(at: d) } }
        var record = try ECGFileReader.read(url: Self.recordURL)
        record.provenance.sha256Scope = "header + bytes 120000–239999 of long.dat"
        var options = Self.options(seed: 11); options.frames = .edES
        let first = try CaseExporter(cases: try Self.cases(), options: options).export(record: record, into: a)
        #expect(first.manifest.input.sha256Scope == "header + bytes 120000–239999 of long.dat")
        let manifest = first.caseDirectory.appendingPathComponent("manifest.json")
        #expect(try String(contentsOf: manifest, encoding: .utf8).contains("\"sha256Scope\""))
        #expect {
            _ = try CaseExporter.regenerate(manifestAt: manifest, into: b)
        } throws: { error in
            "\(error)".contains("window of a long record") && "\(error)".contains("export that window again from view")
        }
    }

    @Test func patientIdentifiersOnlyWhenAsked() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        var record = try ECGFileReader.read(url: Self.recordURL)
        record.metadata.patientID = "MRN-0042-SECRET"
        let pipeline = try Self.pipeline()
        let plain = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: Self.options()).export(record: record, caseName: "plain", into: out)
        var phiOptions = Self.options(); phiOptions.includePHI = true
        let phi = try CaseExporter(cases: CaseAnalysis(pipeline: pipeline), options: phiOptions).export(record: record, caseName: "phi", into: out)
        func contains(_ dir: URL, _ s: String) throws -> Bool {
            let needle = Data(s.utf8)
            let names = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
            return try names.contains { name in
                var isDir: ObjCBool = false
                FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path, isDirectory: &isDir)
                return try !isDir.boolValue && (Data(contentsOf: dir.appendingPathComponent(name))).range(of: needle) != nil
            }
        }
        #expect(try !contains(plain.caseDirectory, "MRN-0042-SECRET"))
        #expect(try contains(phi.caseDirectory, "MRN-0042-SECRET"))
        #expect(phi.manifest.patient?.id == "MRN-0042-SECRET")
        // The notice is in every PNG either way.
        let chunks = try PNGCodec.parseChunks(try Data(contentsOf: plain.caseDirectory.appendingPathComponent("montage/frame_000.png")))
        #expect(chunks.contains { $0.type == "iTXt" && $0.data.range(of: Data(CMRExportInfo.syntheticNotice.utf8)) != nil })
    }

    @Test func realSeriesAppearBesideTheGeneratedOnes() throws {
        let out = try Self.tempDir(), real = try Self.tempDir()
        defer { for d in [out, real] { try? FileManager.default.removeItem(at: d) } }
        for view in ["sax", "lax"] {
            let dir = real.appendingPathComponent("E07500/\(view)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for k in 0..<5 {   // 5 real frames of 30×20 for 20 generated ones
                try PNGCodec.encode(GreyImage(width: 30, height: 20, fill: UInt8(40 * k + (view == "sax" ? 10 : 20))))
                    .write(to: dir.appendingPathComponent(String(format: "img%02d.png", k)))
            }
        }
        var options = Self.options(); options.realDirectory = real.path
        let record = try ECGFileReader.read(url: Self.recordURL)
        let result = try CaseExporter(cases: try Self.cases(), options: options).export(record: record, into: out)
        #expect(result.manifest.realCMR?.files.count == 10)
        let montage = try PNGCodec.decodeGrey(contentsOf: result.caseDirectory.appendingPathComponent("montage/frame_019.png"))
        #expect(montage.width == 4 * 48 + 3 * 4 && montage.height == 48)
        // Frame 19 of 20 shows real frame 19·5/20 = 4; the 30×20 frame is fitted as 48×32, centred (rows 8…39).
        #expect(montage[2 * 52 + 40, 30] == 170)   // REAL SAX panel, value 40·4 + 10
        #expect(montage[3 * 52 + 40, 30] == 180)   // REAL LAX panel
        #expect(montage[2 * 52 + 40, 44] == 0)     // letterbox below the fitted frame
    }

    @Test func unknownGradCAMHeadIsATypedError() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        var options = Self.options(); options.gradCAMTarget = "risk.nonexistent"
        let record = try ECGFileReader.read(url: Self.recordURL)
        #expect(throws: CMRExportError.self) { try CaseExporter(cases: try Self.cases(), options: options).export(record: record, into: out) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test func batchReportsBadFilesAndContinues() throws {
        let out = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let bad = out.appendingPathComponent("garbage.csv")
        try Data("this is, not\nan ecg".utf8).write(to: bad)
        let exporter = try CaseExporter(cases: try Self.cases(), options: Self.options())
        let outcomes = BatchExporter.export(files: [bad, Self.recordURL, Self.recordURL], exporter: exporter, into: out.appendingPathComponent("cases"))
        #expect(outcomes.map(\.failed) == [true, false, false])
        #expect(outcomes[0].error?.contains("garbage.csv") == true)
        let name = try #require(outcomes[1].caseName)
        #expect(name.hasPrefix("E07500-") && name.count == "E07500-".count + 8)
        #expect(outcomes[2].caseName == name + "-2")
    }
}

/// Issue 15: case folders are unique per input, so exporting A/ecg.* then B/ecg.* into one folder
/// never replaces A's case; one naming function (used by the CLI, screen --with-cmr and the TUI).
@Test func caseNamesAreUniquePerInputAndStablePerFile() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("casename-\(UUID().uuidString)")
    var names: [String] = []
    for (folder, value) in [("A", "0.1"), ("B", "0.2")] {
        let dir = root.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("ecg.csv")
        try Data("# sampling_rate=500\nI,II\n\(value),0.3\n0.2,0.1\n".utf8).write(to: url)
        let record = try ECGFileReader.read(url: url)
        names.append(CaseExporter.caseName(for: record))
        #expect(CaseExporter.caseName(for: try ECGFileReader.read(url: url)) == names.last)
    }
    #expect(names[0] != names[1])
    #expect(names[0].hasPrefix("A-") && names[1].hasPrefix("B-"))
}

@Test func exportFolderLockIsReentrantInProcessAndNamesTheHolder() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exportlock-\(UUID().uuidString)")
    let a = try ExportFolderLock.hold(dir)
    let b = try ExportFolderLock.hold(dir)   // same process: re-entrant
    // Another holder of the lock file (as a second process would be) is refused with the PID.
    #expect(throws: LockError.self) { try ExclusiveLock(lockPath: ExportFolderLock.lockPath(for: dir), resource: dir.path, purpose: "other") }
    b.release(); a.release()
    _ = try ExclusiveLock(lockPath: ExportFolderLock.lockPath(for: dir), resource: dir.path, purpose: "after")
}
