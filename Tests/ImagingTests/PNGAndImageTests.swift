import ECGFormats
import Foundation
import Testing
@testable import Imaging

@Suite struct PNGCodecTests {
    @Test func greyRoundTripKeepsEveryPixel() throws {
        var img = GreyImage(width: 37, height: 11)
        for i in img.pixels.indices { img.pixels[i] = UInt8((i * 7) % 256) }
        let png = try PNGCodec.encode(img, text: [PNGText("Disclaimer", CMRExportInfo.syntheticNotice)])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("grey-\(UUID()).png")
        try png.write(to: url); defer { try? FileManager.default.removeItem(at: url) }
        #expect(try PNGCodec.decodeGrey(contentsOf: url) == img)
    }

    @Test func textGoesIntoValidITXtChunksBeforeImageData() throws {
        let img = GreyImage(width: 4, height: 4, fill: 9)
        let png = try PNGCodec.encode(img, text: [PNGText("Disclaimer", CMRExportInfo.syntheticNotice), PNGText("Model", "demo-v1")])
        let chunks = try PNGCodec.parseChunks(png)
        #expect(chunks.first?.type == "IHDR")
        let itxt = chunks.enumerated().filter { $0.element.type == "iTXt" }
        #expect(itxt.count == 2)
        let firstIDAT = try #require(chunks.firstIndex { $0.type == "IDAT" })
        #expect(itxt.allSatisfy { $0.offset < firstIDAT })
        let body = [UInt8](itxt[0].element.data)
        #expect(Array(body.prefix(11)) == Array("Disclaimer\0".utf8))
        // keyword NUL, compression flag 0, method 0, empty language NUL, empty translated keyword NUL, UTF-8 text
        #expect(String(decoding: body.dropFirst(15), as: UTF8.self) == CMRExportInfo.syntheticNotice)
        try verifyCRCs(png)
    }

    @Test func rejectsBadKeywordsAndSizes() {
        #expect(throws: CMRExportError.self) { try PNGCodec.encode(GreyImage(width: 2, height: 2), text: [PNGText("", "x")]) }
        #expect(throws: CMRExportError.self) { try GreyImage(width: 3, height: 3, pixels: [1, 2]) }
        #expect(throws: CMRExportError.self) { try PNGCodec.encode(GreyImage(width: 0, height: 0)) }
    }

    @Test func decodingGarbageNamesTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).png")
        try Data("not a png".utf8).write(to: url); defer { try? FileManager.default.removeItem(at: url) }
        do { _ = try PNGCodec.decodeGrey(contentsOf: url); Issue.record("decoded garbage") } catch let CMRExportError.pngDecoding(file, _) {
            #expect(file == url.path)
        }
    }

    @Test func animationHasConsecutiveSequenceNumbers() throws {
        let frames = (0..<5).map { GreyImage(width: 8, height: 6, fill: UInt8($0 * 40)) }
        let png = try PNGCodec.encodeAnimation(frames, delayMilliseconds: 20, text: [PNGText("Model", "m")])
        let chunks = try PNGCodec.parseChunks(png)
        #expect(chunks.map(\.type).prefix(2) == ["IHDR", "acTL"])
        let actl = [UInt8](chunks[1].data)
        #expect(actl[3] == 5 && actl[7] == 0)
        var seqs: [UInt32] = []
        for c in chunks where c.type == "fcTL" || c.type == "fdAT" {
            let b = [UInt8](c.data.prefix(4)); seqs.append(UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]))
        }
        #expect(seqs == Array(0..<9))
        #expect(chunks.filter { $0.type == "fcTL" }.count == 5)
        #expect(chunks.filter { $0.type == "fdAT" }.count == 4)
        #expect(chunks.last?.type == "IEND")
        try verifyCRCs(png)
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
    }

    private func verifyCRCs(_ png: Data) throws {
        let b = [UInt8](png)
        var i = 8
        while i + 12 <= b.count {
            let n = Int(UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
            let crc = UInt32(b[i + 8 + n]) << 24 | UInt32(b[i + 9 + n]) << 16 | UInt32(b[i + 10 + n]) << 8 | UInt32(b[i + 11 + n])
            #expect(CRC32.checksum(Data(b[(i + 4)..<(i + 8 + n)])) == crc)
            i += 12 + n
        }
        #expect(i == b.count)
    }
}

@Suite struct ResamplingTests {
    @Test func nearestReplicatesPixelsByAnIntegerFactor() throws {
        let frame: [Float] = [0, 1, 0.5, 0.25]
        let out = try Resampler.resample(frame, width: 2, height: 2, toWidth: 6, height: 6, filter: .nearest)
        #expect(out[0, 0] == 0 && out[2, 2] == 0 && out[3, 0] == 255 && out[5, 2] == 255)
        #expect(out[0, 3] == 128 && out[5, 5] == 64)
    }

    @Test(arguments: ResamplingFilter.allCases)
    func constantFramesStayConstant(filter: ResamplingFilter) throws {
        let out = try Resampler.resample([Float](repeating: 0.4, count: 80 * 80), width: 80, height: 80, toWidth: 256, height: 256, filter: filter)
        #expect(Set(out.pixels) == [102])     // floor(0.4·255 + 0.5)
    }

    @Test func bilinearInterpolatesBetweenPixelCentres() throws {
        // 2 → 4 samples: output centres at source x = −0.25, 0.25, 0.75, 1.25 → 0, 0.25, 0.75, 1 (edges repeat).
        let out = try Resampler.resample([0, 1], width: 2, height: 1, toWidth: 4, height: 1, filter: .bilinear)
        #expect(out.pixels == [0, 64, 191, 255])
    }

    @Test func bicubicOvershootIsClamped() throws {
        let step: [Float] = [0, 0, 0, 1, 1, 1]
        let out = try Resampler.resample(step, width: 6, height: 1, toWidth: 24, height: 1, filter: .bicubic)
        #expect(out.pixels.first == 0 && out.pixels.last == 255)
        #expect(out.pixels.contains { $0 > 0 && $0 < 255 })
    }

    @Test func rejectsMismatchedFrames() {
        #expect(throws: CMRExportError.self) { try Resampler.resample([0, 1, 2], width: 2, height: 2, toWidth: 4, height: 4, filter: .bilinear) }
        #expect(throws: CMRExportError.self) { try Resampler.resample([0], width: 1, height: 1, toWidth: 0, height: 4, filter: .bilinear) }
    }
}

/// A cine as the layouts take it (the engine's `CineLoop` conforms in CMRExport; this leaf's
/// tests do not link the engine).
struct TestCine: CineFrameSequence {
    var label: String, width: Int, height: Int, frames: [[Float]]
}

/// A lead-major map over record time, as the renderer takes a Grad-CAM map.
struct TestHighlightMap: ECGHighlightMap {
    var leads: [LeadID], samplingRate: Double, sampleCount: Int, values: [Float], recordOffsetSeconds: Double
    func value(lead: LeadID, atRecordSeconds t: Double) -> Float? {
        guard let li = leads.firstIndex(of: lead) else { return nil }
        let s = Int(((t - recordOffsetSeconds) * samplingRate).rounded(.down))
        return s >= 0 && s < sampleCount ? values[li * sampleCount + s] : nil
    }
}

@Suite struct LayoutTests {
    /// Frames with a bright disc whose radius follows a cycle: largest at frame 3, smallest at frame 8.
    static func discCine(frames: Int = 10, size: Int = 40) -> TestCine {
        var out: [[Float]] = []
        for k in 0..<frames {
            let r = 3 + 6 * (1 + cos(2 * Double.pi * Double(k - 3) / Double(frames))) / 2   // 3…9 px, inside the central region
            var f = [Float](repeating: 0.1, count: size * size)
            for y in 0..<size { for x in 0..<size where hypot(Double(x) - 19.5, Double(y) - 19.5) < r { f[y * size + x] = 0.9 } }
            out.append(f)
        }
        return TestCine(label: "SAX", width: size, height: size, frames: out)
    }

    @Test func endSystoleIsTheSmallestBloodPool() {
        let phases = CardiacPhases.detect(in: Self.discCine())
        #expect(phases == CardiacPhases(endDiastoleFrame: 3, endSystoleFrame: 8))
    }

    @Test func contactSheetMarksEDGreenAndESRed() throws {
        let cine = Self.discCine()
        let phases = CardiacPhases.detect(in: cine)
        let sheet = try CineLayouts.contactSheet([cine], phases: phases, thumbnail: 32, columns: 4, filter: .bilinear, title: "t")
        // Cell (col, row) of frame k starts at margin + col·(thumb+6), titleHeight + margin + sectionHeader + row·(thumb+6+12).
        func cellOrigin(_ k: Int) -> (Int, Int) { (8 + (k % 4) * 38, 20 + 8 + 18 + (k / 4) * 50) }
        let ed = cellOrigin(3), es = cellOrigin(8), other = cellOrigin(0)
        #expect(sheet[ed.0, ed.1 + 10] == .endDiastole)
        #expect(sheet[es.0, es.1 + 10] == .endSystole)
        #expect(sheet[other.0, other.1 + 10] != .endDiastole && sheet[other.0, other.1 + 10] != .endSystole)
    }

    @Test func montagePlacesPanelsSideBySide() {
        let a = GreyImage(width: 10, height: 10, fill: 50), b = GreyImage(width: 10, height: 10, fill: 200)
        let m = CineLayouts.montage([("", a), ("", b)], gap: 4)
        #expect(m.width == 24 && m.height == 10)
        #expect(m[9, 9] == 50 && m[11, 9] == 0 && m[14, 9] == 200)
    }
}

@Suite struct AtomicFileTests {
    @Test func writeLeavesOnlyTheFinalFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.png")
        try AtomicFile.write(Data([1, 2, 3]), to: url)
        try AtomicFile.write(Data([4, 5]), to: url)
        #expect(try Data(contentsOf: url) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.png"])
    }

    @Test func writeIntoMissingFolderThrowsTypedError() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID())/a.png")
        #expect(throws: CMRExportError.self) { try AtomicFile.write(Data([1]), to: url) }
    }

    @Test func npyHeaderIsAlignedAndDescribesTheShape() {
        let d = NPYWriter.encode([1, 2, 3, 4, 5, 6], shape: [1, 2, 3])
        let headerLen = Int(d[8]) | Int(d[9]) << 8
        #expect((10 + headerLen) % 64 == 0)
        #expect(String(decoding: d[10..<(10 + headerLen)], as: UTF8.self).contains("'shape': (1, 2, 3)"))
        #expect(d.count == 10 + headerLen + 24)
    }
}
