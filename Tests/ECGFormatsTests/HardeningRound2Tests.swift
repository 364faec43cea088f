import Foundation
import Testing
@testable import ECGFormats

/// Issue 15 (hardening round 2): path traversal, numeric conversions, size caps on targets,
/// bounded parsing, non-regular files, terminal and spreadsheet text, locks.
@Suite struct HardeningRound2Tests {
    func dir(_ name: String = #function) throws -> URL { try Paths.tempDir("h2-" + name.filter(\.isLetter)) }

    func write(_ text: String, _ url: URL) throws { try Data(text.utf8).write(to: url) }

    func expectFormatError(_ kind: ECGFormatError.Kind, _ url: URL, containing: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(kind) error for \(url.path)")
        } catch let e as ECGFormatError {
            #expect(e.kind == kind, "\(e)")
            #expect(e.description.contains(containing), "\(e)")
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    // MARK: 1 path traversal

    @Test func signalFileOutsideTheHeaderFolderIsRefused() throws {
        let d = try dir()
        let sub = d.appendingPathComponent("rec"); try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try Data(count: 400).write(to: d.appendingPathComponent("secret.dat"))
        for name in ["../secret.dat", "../../../../etc/passwd", "/etc/passwd", "sub/../../secret.dat"] {
            let hea = sub.appendingPathComponent("r.hea")
            try write("r 1 500 100\n\(name) 16 200 16 0 0 0 0 I\n", hea)
            expectFormatError(.invalidValue, hea, containing: "header's folder") { _ = try ECGFileReader.read(url: hea) }
        }
        // A symlink inside the folder that points out of it.
        try FileManager.default.createSymbolicLink(atPath: sub.appendingPathComponent("link.dat").path, withDestinationPath: d.appendingPathComponent("secret.dat").path)
        let hea = sub.appendingPathComponent("l.hea")
        try write("l 1 500 100\nlink.dat 16 200 16 0 0 0 0 I\n", hea)
        expectFormatError(.invalidValue, hea, containing: "symbolic link") { _ = try ECGFileReader.read(url: hea) }
        // A symlink that stays inside is fine.
        try Data(count: 200).write(to: sub.appendingPathComponent("real.dat"))
        try FileManager.default.createSymbolicLink(atPath: sub.appendingPathComponent("inside.dat").path, withDestinationPath: "real.dat")
        let ok = sub.appendingPathComponent("ok.hea")
        try write("ok 1 500 100\ninside.dat 16 200 16 0 0 0 0 I\n", ok)
        #expect(try ECGFileReader.read(url: ok).sampleCount == 100)
    }

    // MARK: 2 numeric conversions

    @Test func absurdSamplingRatesAreTypedErrorsInEveryTextReader() throws {
        let d = try dir()
        for rate in ["3.8e19", "1e300", "0.5", "200000"] {
            let csv = d.appendingPathComponent("r.csv")
            try write("# sampling_rate=\(rate)\nI,II\n0.1,0.2\n0.2,0.3\n", csv)
            expectFormatError(.invalidValue, csv, containing: "sampling rate") { _ = try ECGFileReader.read(url: csv) }
            let hea = d.appendingPathComponent("w.hea")
            try Data(count: 40).write(to: d.appendingPathComponent("w.dat"))
            try write("w 1 \(rate) 10\nw.dat 16 200 16 0 0 0 0 I\n", hea)
            #expect(throws: ECGFormatError.self) { try ECGFileReader.read(url: hea) }
        }
    }

    @Test func infiniteSamplesZeroSamplesAndNULLeadNamesAreRefused() throws {
        let d = try dir()
        let inf = d.appendingPathComponent("inf.csv")
        try write("# sampling_rate=500\nI,II\n1e39,0\n0.1,0\n", inf)
        expectFormatError(.invalidValue, inf, containing: "32-bit") { _ = try ECGFileReader.read(url: inf) }
        let nul = d.appendingPathComponent("nul.csv")
        try write("# sampling_rate=500\nI,V\u{0}1\n0.1,0.2\n0.1,0.2\n", nul)
        expectFormatError(.invalidValue, nul, containing: "NUL") { _ = try ECGFileReader.read(url: nul) }
        let hea = d.appendingPathComponent("z.hea")
        try Data().write(to: d.appendingPathComponent("z.dat"))
        try write("z 1 500\nz.dat 16 200 16 0 0 0 0 I\n", hea)
        expectFormatError(.missingData, hea, containing: "no samples") { _ = try ECGFileReader.read(url: hea) }
    }

    @Test func writersNeverWriteInfinity() throws {
        let record = ECGRecord(leads: [Lead(id: .i, millivolts: [0, .infinity, 1])], samplingRate: 500, metadata: ECGMetadata(),
                               provenance: Provenance(format: .csv, path: "/x.csv", sha256: ""), fileLeadOrder: [.i])
        let d = try dir()
        #expect(throws: ECGFormatError.self) { try CSVWriter.write(record, to: d.appendingPathComponent("o.csv")) }
        #expect(throws: ECGFormatError.self) { try WFDBWriter.write(record, to: d.appendingPathComponent("o.hea")) }
        #expect(!CSVWriter.csvText(record).contains("inf"))
        #expect(!FileManager.default.fileExists(atPath: d.appendingPathComponent("o.csv").path))
    }

    // MARK: 5 size caps on targets, bounded parsing

    @Test func sizeCapIsCheckedOnTheSymlinkTargetAndTheSignalFile() throws {
        let d = try dir()
        let big = d.appendingPathComponent("big.csv")
        FileManager.default.createFile(atPath: big.path, contents: nil)
        let h = try FileHandle(forWritingTo: big); try h.truncate(atOffset: UInt64(ReaderLimits.maxFileBytes) + 1); try h.close()
        let link = d.appendingPathComponent("small.csv")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: big.path)
        expectFormatError(.invalidValue, link, containing: "limit") { _ = try ECGFileReader.read(url: link) }
        try FileManager.default.moveItem(at: big, to: d.appendingPathComponent("big.dat"))
        let hea = d.appendingPathComponent("big.hea")
        try write("big 1 500\nbig.dat 16 200 16 0 0 0 0 I\n", hea)
        expectFormatError(.invalidValue, hea, containing: "limit") { _ = try ECGFileReader.read(url: hea) }
    }

    @Test func zeroFilledDICOMAndOneLineCSVAreRejectedQuickly() throws {
        let d = try dir()
        var dicom = Data(count: ReaderLimits.maxSingleFileBytes - 4096)
        dicom.replaceSubrange(128..<132, with: Array("DICM".utf8))
        let dcm = d.appendingPathComponent("zero.dcm"); try dicom.write(to: dcm)
        // CPU time of this thread, not wall time: the parse cost is what is bounded, and a machine
        // busy with other work must not fail the test.
        var t = threadCPUSeconds()
        #expect(throws: ECGFormatError.self) { try ECGFileReader.read(url: dcm) }
        #expect(threadCPUSeconds() - t < 3, "zero-filled DICOM took \(threadCPUSeconds() - t) s of CPU")
        let csv = d.appendingPathComponent("line.csv")
        try Data(String(repeating: "I,", count: (ReaderLimits.maxSingleFileBytes - 4096) / 2).utf8).write(to: csv)
        t = threadCPUSeconds()
        expectFormatError(.malformedHeader, csv, containing: "header line") { _ = try ECGFileReader.read(url: csv) }
        #expect(threadCPUSeconds() - t < 3, "one-line CSV took \(threadCPUSeconds() - t) s of CPU")
    }

    // MARK: 9 messages

    @Test func aFIFOIsNotARegularFileAndDoesNotHang() throws {
        let d = try dir()
        let fifo = d.appendingPathComponent("pipe.csv").path
        #expect(mkfifo(fifo, 0o600) == 0)
        expectFormatError(.unreadable, URL(fileURLWithPath: fifo), containing: "not a regular file") { _ = try ECGFileReader.read(url: URL(fileURLWithPath: fifo)) }
        expectFormatError(.unreadable, URL(fileURLWithPath: "/dev/zero"), containing: "character device") { _ = try ECGFileReader.read(url: URL(fileURLWithPath: "/dev/zero")) }
        #expect(describeErrno(ENOSPC).contains("no space left"))
    }

    // MARK: 8 terminal and spreadsheet text; 4 locks

    @Test func terminalAndSpreadsheetTextAreNeutralised() {
        #expect(TerminalText.sanitize("Dr \u{1B}]0;pwned\u{07}\u{1B}[2J X") == "Dr ?]0;pwned??[2J X")
        #expect(!TerminalText.sanitize("a\u{9B}31m").unicodeScalars.contains { $0.value == 0x9B })
        #expect(TerminalText.sanitize("a\nb", keepNewlines: true) == "a\nb")
        #expect(SpreadsheetCell.neutralise("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")")
        for p in ["+1+1", "-cmd", "@SUM(A1)", "\tx", "\rx"] { #expect(SpreadsheetCell.neutralise(p).hasPrefix("'")) }
        #expect(SpreadsheetCell.neutralise("-0.25") == "-0.25")
        #expect(SpreadsheetCell.neutralise("plain") == "plain")
        #expect(SpreadsheetCell.restore(SpreadsheetCell.neutralise("=x")) == "=x")
        let e = ECGFormatError(.invalidValue, file: "/a\u{1B}[31m.csv", "bad \u{1B}[2J")
        #expect(!e.description.contains("\u{1B}"))
    }

    @Test func exclusiveLockRefusesASecondHolderAndNamesThePID() throws {
        let path = try dir().appendingPathComponent("x.lock").path
        let first = try ExclusiveLock(lockPath: path, resource: "/r", purpose: "test holder")
        do {
            _ = try ExclusiveLock(lockPath: path, resource: "/r", purpose: "second")
            Issue.record("second lock succeeded")
        } catch let e as LockError {
            #expect(e.holderPID == getpid())
            #expect(e.description.contains("process \(getpid())") && e.description.contains("test holder"))
        }
        first.release()
        _ = try ExclusiveLock(lockPath: path, resource: "/r", purpose: "after release")
    }
}

/// CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
