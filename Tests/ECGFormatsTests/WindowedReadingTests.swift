import Foundation
import Testing
@testable import ECGFormats

/// Windowed reading (`WFDBReader.read(url:window:)`, `ECGRecordSource`) gives exactly the samples
/// of the whole read — every WFDB format, skew, multi-frequency and multi-segment records, windows
/// that start inside a 212/310/311 byte group and cross decode-chunk boundaries.
@Suite struct WindowedReadingTests {
    static func records() throws -> [URL] {
        var urls = try ["multifreq16", "multifreq212", "skew", "varseg", "fixseg"].map { try WFDBCompletenessTests.fixture($0 + ".hea") }
        urls += try ["fmt16", "fmt212", "fmt24", "fmt32", "fmt80"].map { try Paths.fixture("wrsamp/" + $0 + ".hea") }
        let binformats = Paths.records.appendingPathComponent("binformats.hea")
        if FileManager.default.fileExists(atPath: binformats.path) { urls.append(binformats) }
        return urls
    }

    static func windows(_ n: Int) -> [Range<Int>] {
        [0..<1, 0..<n, 1..<min(n, 8), (n / 3)..<(n / 2 + 1), max(0, n - 5)..<n, (n / 2)..<(n / 2 + 1)].filter { !$0.isEmpty }
    }

    static func expectSameSamples(_ window: ECGRecord, _ whole: ECGRecord, _ range: Range<Int>, _ what: String) {
        #expect(window.storedLeadsInFileOrder.map(\.id) == whole.storedLeadsInFileOrder.map(\.id), "\(what) leads")
        #expect(window.samplingRate == whole.samplingRate, "\(what) rate")
        for (a, b) in zip(window.leads, whole.leads) {
            let expected = Array(b.millivolts[range])
            #expect(a.millivolts.count == expected.count, "\(what) \(a.id) length")
            let same = zip(a.millivolts, expected).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            #expect(same, "\(what) \(a.id) samples differ from the whole read")
        }
    }

    @Test func everyWindowOfEveryFixtureEqualsTheWholeRead() throws {
        for url in try Self.records() {
            for expand in [false, true] {
                var reader = WFDBReader(expandFrames: expand)
                let whole = try reader.read(url: url)
                // Many chunks with boundaries inside frames' groups; then many de-interleave blocks per chunk.
                for (chunk, block) in [(7, 8192), (64, 3)] {
                    reader.decodeChunkSamples = chunk
                    reader.decodeBlockSamples = block
                    for range in Self.windows(whole.sampleCount) {
                        let what = "\(url.lastPathComponent) expand=\(expand) chunk \(chunk) block \(block) \(range)"
                        Self.expectSameSamples(try reader.read(url: url, window: range), whole, range, what)
                    }
                    let chunked = try reader.read(url: url)
                    Self.expectSameSamples(chunked, whole, 0..<whole.sampleCount, "\(url.lastPathComponent) chunk \(chunk) block \(block) whole read")
                }
            }
        }
    }

    @Test func sourceGivesTheShapeAndDigestWithoutDecodingAndWindowsOfIt() throws {
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("window-\(UUID()).csv")
        try "# sampling_rate=100\nI,II\n" .appending((0..<300).map { "\(Double($0) / 100),\(Double(-$0) / 100)" }.joined(separator: "\n")).write(to: csv, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: csv) }
        for url in try Self.records() + [csv] {
            let whole = try ECGFileReader.read(url: url)
            let source = try ECGRecordSource.open(url: url)
            #expect(source.sampleCount == whole.sampleCount, "\(url.lastPathComponent) sample count")
            #expect(source.samplingRate == whole.samplingRate)
            #expect(try source.sha256() == whole.provenance.sha256, "\(url.lastPathComponent) digest")
            let again = try source.readWhole()   // NaN samples: compared as equal to NaN
            Self.expectSameSamples(again, whole, 0..<whole.sampleCount, url.lastPathComponent + " whole")
            #expect(again.metadata == whole.metadata && again.provenance == whole.provenance)
            let range = (whole.sampleCount / 4)..<(whole.sampleCount / 2 + 1)
            let window = try source.read(window: range)
            Self.expectSameSamples(window, whole, range, url.lastPathComponent)
            if url.pathExtension == "hea" {
                // A window's digest covers the bytes it read, and says which (issue 23: work
                // proportional to the request); the whole record's stays the whole files'.
                let scope = try #require(window.provenance.sha256Scope, "\(url.lastPathComponent): window digest scope")
                #expect(scope.hasPrefix("header + bytes ") || scope.hasPrefix("layout header + segment "), "\(scope)")
                #expect(try source.read(window: range).provenance == window.provenance, "the same window, the same digest")
                let all = try source.read(window: 0..<whole.sampleCount)
                #expect(all.provenance == whole.provenance, "\(url.lastPathComponent): the whole record as a window")
            } else {
                #expect(window.provenance == whole.provenance, "single-file formats are read whole")
            }
            #expect(window.leads.map(\.id) == whole.leads.map(\.id), "derived leads derived for the window too")
        }
        let source = try ECGRecordSource.open(url: csv)
        #expect(source.sampleRange(startSeconds: 1, durationSeconds: 1) == (100, 100))
        #expect(source.sampleRange(startSeconds: 99, durationSeconds: 1) == (200, 100), "a start past the end gives the last window")
        #expect(throws: ECGFormatError.self) { try source.read(window: 400..<500) }
    }

    /// Only the window's bytes are read: a window of a record whose file is mostly absent (a sparse
    /// file standing in for 24 hours) decodes, while a whole read would have to touch every byte.
    @Test func aWindowOfAHugeRecordReadsOnlyItsBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("holter-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = 43_200_000   // 24 h at 500 Hz
        let dat = dir.appendingPathComponent("h.dat")
        FileManager.default.createFile(atPath: dat.path, contents: nil)
        let h = try FileHandle(forWritingTo: dat)
        try h.truncate(atOffset: UInt64(frames * 2 * 2))
        try h.seek(toOffset: UInt64(3600 * 500 * 4))   // hour 1: one frame of (I, II) = (100, -200)
        h.write(Data([100, 0, 0x38, 0xFF])); try h.close()
        try "h 2 500 \(frames)\nh.dat 16 200 16 0 0 0 0 I\nh.dat 16 200 16 0 0 0 0 II\n".write(to: dir.appendingPathComponent("h.hea"), atomically: true, encoding: .utf8)
        let source = try ECGRecordSource.open(url: dir.appendingPathComponent("h.hea"))
        #expect(source.sampleCount == frames && source.durationSeconds == 86_400)
        let window = try source.read(startSeconds: 3600, durationSeconds: 10)
        #expect(window.sampleCount == 5000)
        #expect(window.lead(.i)?.millivolts.first == 0.5 && window.lead(.ii)?.millivolts.first == -1)
        #expect(window.lead(.iii)?.millivolts.first == -1.5, "III derived for the window")
        // Its digest is of the header and the window's 20,000 bytes, not of the 173 MB file.
        let header = try Data(contentsOf: dir.appendingPathComponent("h.hea"))
        let start = 3600 * 500 * 4
        var bytes = Data(count: 20_000)
        bytes.replaceSubrange(0..<4, with: [100, 0, 0x38, 0xFF])
        #expect(window.provenance.sha256Scope == "header + bytes \(start)–\(start + 19_999) of h.dat")
        #expect(window.provenance.sha256 == SHA256Hex.of([header, bytes]))
    }

    /// A multi-segment layout that declares 2.4 GB of signal (8 segments of 12 leads × 7 hours,
    /// each naming the same 300 MB sparse file): a 10 s window hashes the layout header, the first
    /// segment's sliver read for the metadata and the window's 120,000 bytes — the digest is
    /// recomputed here from exactly those bytes, so hashing any more of the files would fail it.
    @Test func aWindowOfAMultiGigabyteLayoutHashesOnlyTheBytesItRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("layout-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = 12_500_000, leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
        let dat = dir.appendingPathComponent("big.dat")
        FileManager.default.createFile(atPath: dat.path, contents: nil)
        let h = try FileHandle(forWritingTo: dat)
        try h.truncate(atOffset: UInt64(frames * 24))
        try h.close()
        func write(_ text: String, _ name: String) throws -> Data {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return Data(text.utf8)
        }
        var segmentHeaders: [Data] = []
        for k in 0..<8 {
            let signals = leads.map { "big.dat 16 200 16 0 0 0 0 \($0)\n" }.joined()
            segmentHeaders.append(try write("s\(k) 12 500 \(frames)\n" + signals, "s\(k).hea"))
        }
        let layout = try write("big/8 12 500 \(8 * frames)\n" + (0..<8).map { "s\($0) \(frames)\n" }.joined(), "big.hea")
        let source = try ECGRecordSource.open(url: dir.appendingPathComponent("big.hea"))
        #expect(source.sampleCount == 8 * frames)
        let first = 3 * frames + 1000
        let window = try source.read(window: first..<(first + 5000))
        #expect(window.sampleCount == 5000 && window.leads.count == 12)
        #expect(window.provenance.sha256Scope
                == "layout header + segment s0 (header + bytes 0–23 of big.dat), segment s3 (header + bytes 24000–143999 of big.dat)")
        let s0 = SHA256Hex.of([segmentHeaders[0], Data(count: 24)]), s3 = SHA256Hex.of([segmentHeaders[3], Data(count: 120_000)])
        #expect(window.provenance.sha256 == SHA256Hex.of([layout, Data(s0.utf8), Data(s3.utf8)]))
    }
}
