import Foundation
import TestSupport
import Testing
@testable import Screening
import ECGFormats

private let repoRoot = TestEnvironment.repositoryRoot

/// `screen --jobs N`: at most N files are read and preprocessed at once (before, every chunk ran on
/// all cores whatever N was, so N = 1 still had two files in flight on a 2-core machine).
@Test(arguments: [1, 2])
func screenKeepsAtMostJobsFilesInFlight(_ jobs: Int) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let sources = ["P06-rcm/ecg.csv", "P05-hcm/ecg-ukb.xml", "P04-dcm-heart-failure/ecg-muse.xml", "P02-anterior-mi/ecg-aecg.xml"]
    for i in 0..<12 {
        let src = repoRoot.appendingPathComponent("sample-data/" + sources[i % sources.count])
        try FileManager.default.copyItem(at: src, to: dir.appendingPathComponent("e\(i).\(src.pathExtension)"))
    }
    let screener = BatchScreener(cases: nil, options: ScreeningOptions(jobs: jobs, batchSize: 12))
    let log = try ResultLog(path: dir.appendingPathComponent("out.jsonl").path)
    let summary = screener.run(paths: [dir.path], log: log)
    #expect(summary.screened == 12)
    #expect(screener.peakFilesInFlight >= 1 && screener.peakFilesInFlight <= jobs, "peak \(screener.peakFilesInFlight) files in flight with --jobs \(jobs)")
}

@Test func boundedForEachNeverRunsMoreThanJobsBodiesAtOnce() {
    let lock = NSLock()
    var running = 0, peak = 0, done = 0
    BatchScreener.forEach(count: 16, jobs: 1) { _ in
        lock.lock(); running += 1; peak = max(peak, running); lock.unlock()
        usleep(2_000)
        lock.lock(); running -= 1; done += 1; lock.unlock()
    }
    #expect(peak == 1 && done == 16)
}

/// A record longer than 60 s is screened on one 10 s window, named in the result; its duration
/// is the whole record's, its digest the window's bytes'.
@Test func aLongRecordIsScreenedOnItsFirstCleanTenSeconds() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("long-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    // 90 s at 500 Hz of P01 tiled, the first 10 s flat (lead off): the first clean window starts at 10 s.
    let p01 = repoRoot.appendingPathComponent("sample-data/P01-healthy")
    let ten = try Data(contentsOf: p01.appendingPathComponent("ecg.dat"))
    var dat = Data(count: ten.count)
    for _ in 0..<8 { dat.append(ten) }
    try dat.write(to: dir.appendingPathComponent("long.dat"))
    let lines = try String(contentsOf: p01.appendingPathComponent("ecg.hea"), encoding: .utf8).split(separator: "\n")
    var header = ["long 12 500 45000"]
    for line in lines.dropFirst().prefix(12) {
        let f = line.split(separator: " ")
        // The 16-bit checksum of 8 copies of the 10 s (the flat first 10 s sum to 0).
        let checksum = Int16(truncatingIfNeeded: 8 * (Int(f[6]) ?? 0))
        header.append((["long.dat"] + f[1...5].map(String.init) + ["\(checksum)", "0", String(f[8])]).joined(separator: " "))
    }
    try (header.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("long.hea"), atomically: true, encoding: .utf8)
    let log = try ResultLog(path: dir.appendingPathComponent("out.jsonl").path)
    _ = BatchScreener(cases: nil).run(paths: [dir.appendingPathComponent("long.hea").path], log: log)
    let line = try String(contentsOf: dir.appendingPathComponent("out.jsonl"), encoding: .utf8)
    let result = try JSONDecoder().decode(ScreeningResult.self, from: Data(line.utf8))
    #expect(result.status == "ok")
    #expect(result.durationSeconds == 90)
    #expect(result.analysedWindow?.startSeconds == 10 && result.analysedWindow?.durationSeconds == 10)
    #expect(result.analysedWindow?.choice == "first clean 10 s")
    // The digest is of what was read (issue 23: work proportional to the request): the header and
    // the window's bytes (10–20 s of 12 format-16 signals), named by inputSHA256Scope.
    #expect(result.inputSHA256Scope == "header + bytes 120000–239999 of long.dat")
    let headerBytes = try Data(contentsOf: dir.appendingPathComponent("long.hea"))
    #expect(result.inputSHA256 == SHA256Hex.of([headerBytes, dat.subdata(in: 120_000..<240_000)]))
    #expect(result.heartRateBpm != nil)
}
