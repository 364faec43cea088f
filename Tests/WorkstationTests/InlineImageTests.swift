import Imaging
import Foundation
import Testing
@testable import CardiacModels
@testable import Workstation

// Inline CMR images: the terminal probe's reply parsing, the sixel and kitty encoders, and what the
// CMR pane puts into a frame for each kind of terminal.

private let esc = "\u{1b}"
private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct TerminalProbeReplyTests {
    @Test func kittyAnswersOKToTheGraphicsQuery() {
        // What kitty 0.3x sends back for the probe: graphics OK, cell size, DA1 without sixel, status.
        let r = TerminalProbeReply.parse(bytes("\(esc)_Gi=31;OK\(esc)\\\(esc)[6;20;10t\(esc)[?62;22c\(esc)[0n"))
        #expect(r.kittyGraphics)
        #expect(!r.sixel)
        #expect(r.deviceAttributes == [62, 22])
        #expect(r.cellPixelSize == CellPixelSize(width: 10, height: 20))
        #expect(r.statusReported)
        #expect(r.imageProtocol == .kitty)
    }

    @Test func xtermWithSixelAdvertisesFourInDeviceAttributes() {
        // xterm -ti vt340: no kitty reply at all, DA1 lists 4 (sixel).
        let r = TerminalProbeReply.parse(bytes("\(esc)[?63;1;2;4;6;9;15;22c\(esc)[0n"))
        #expect(!r.kittyGraphics)
        #expect(r.sixel)
        #expect(r.imageProtocol == .sixel)
        #expect(r.statusReported)
        #expect(r.cellPixelSize == nil)
    }

    @Test func deviceAttributesWithoutFourMeanNoSixel() {
        // tmux answers DA1 itself; "14" and "42" contain the digit 4 but are not parameter 4.
        let tmux = TerminalProbeReply.parse(bytes("\(esc)[?1;2c\(esc)[0n"))
        #expect(tmux.deviceAttributes == [1, 2])
        #expect(tmux.imageProtocol == nil)
        #expect(tmux.statusReported)
        let vt = TerminalProbeReply.parse(bytes("\(esc)[?64;14;42c\(esc)[0n"))
        #expect(!vt.sixel)
    }

    @Test func kittyErrorRepliesAreNotSupport() {
        let r = TerminalProbeReply.parse(bytes("\(esc)_Gi=31;ENOTSUPPORTED:no direct transmission\(esc)\\\(esc)[?62c\(esc)[0n"))
        #expect(!r.kittyGraphics)
        #expect(r.imageProtocol == nil)
        // A reply for another image id is someone else's.
        #expect(!TerminalProbeReply.parse(bytes("\(esc)_Gi=7;OK\(esc)\\")).kittyGraphics)
    }

    @Test func garbageAndHalfSequencesAreSkipped() {
        let typed = TerminalProbeReply.parse(bytes("qj\(esc)[A\(esc)OPnoise\(esc)"))
        #expect(typed == TerminalProbeReply())
        // A DA1 cut off by the timeout: not counted.
        let cut = TerminalProbeReply.parse(bytes("\(esc)[?62;4"))
        #expect(cut.deviceAttributes == nil && !cut.sixel && !cut.statusReported)
        // An unterminated kitty reply neither counts nor hides what came before it.
        let open = TerminalProbeReply.parse(bytes("\(esc)[?62;4c\(esc)_Gi=31;OK"))
        #expect(open.sixel && !open.kittyGraphics)
        // Keys typed before the replies do not hide them.
        let mixed = TerminalProbeReply.parse(bytes("q\(esc)_Gi=31;OK\(esc)\\x\(esc)[0n"))
        #expect(mixed.kittyGraphics && mixed.statusReported)
    }

    @Test func silenceMeansHalfBlocks() {
        let r = TerminalProbeReply.parse([])
        #expect(!r.statusReported && r.imageProtocol == nil)
        let d = TerminalGraphicsDecision(preference: .auto, reply: r, environment: [:])
        #expect(d.imageProtocol == nil)
        #expect(d.summary.contains("did not answer"))
        #expect(d.cellPixelSize == .assumed)
    }

    @Test func preferenceForcesOrProbes() throws {
        let sixelReply = TerminalProbeReply.parse(bytes("\(esc)[?62;4c\(esc)[0n"))
        #expect(TerminalGraphicsDecision(preference: .auto, reply: sixelReply, environment: [:]).imageProtocol == .sixel)
        #expect(TerminalGraphicsDecision(preference: .blocks, reply: sixelReply, environment: [:]).imageProtocol == nil)
        #expect(TerminalGraphicsDecision(preference: .kitty, reply: nil, environment: [:]).imageProtocol == .kitty)
        let failed = TerminalGraphicsDecision(preference: .auto, reply: nil, probeError: "not a terminal", environment: [:])
        #expect(failed.imageProtocol == nil && failed.summary.contains("not a terminal"))
        // The window's pixel size is used when the terminal did not answer ESC[16t.
        let sized = TerminalGraphicsDecision(preference: .sixel, reply: nil, windowCellSize: CellPixelSize(width: 8, height: 16), environment: [:])
        #expect(sized.cellPixelSize == CellPixelSize(width: 8, height: 16))

        #expect(try GraphicsPreference.resolve(option: nil, environment: [:]) == .auto)
        #expect(try GraphicsPreference.resolve(option: nil, environment: ["ECG2CMR_GRAPHICS": "Sixel"]) == .sixel)
        #expect(try GraphicsPreference.resolve(option: "blocks", environment: ["ECG2CMR_GRAPHICS": "kitty"]) == .blocks)
        #expect(throws: GraphicsPreferenceError.unknown("iterm", source: "--graphics")) {
            try GraphicsPreference.resolve(option: "iterm", environment: [:])
        }
    }

    @Test func colortermAdvertisesTrueColour() {
        #expect(TerminalGraphicsDecision(preference: .blocks, reply: nil, environment: ["COLORTERM": "truecolor"]).trueColorAdvertised)
        #expect(TerminalGraphicsDecision(preference: .blocks, reply: nil, environment: ["COLORTERM": "24bit"]).trueColorAdvertised)
        #expect(!TerminalGraphicsDecision(preference: .blocks, reply: nil, environment: ["COLORTERM": "yes"]).trueColorAdvertised)
        #expect(DirectColourTerminfo.candidate(term: "xterm-256color") == "xterm-direct")
        #expect(DirectColourTerminfo.candidate(term: "tmux-256color") == "tmux-direct")
        #expect(DirectColourTerminfo.candidate(term: "xterm-direct") == nil)
        #expect(!DirectColourTerminfo.exists("no-such-terminal-direct", environment: [:]))
    }

    @Test func theQueryEndsWithTheStatusRequest() {
        let q = String(decoding: TerminalProbe.query, as: UTF8.self)
        #expect(q.hasPrefix("\(esc)_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\(esc)\\"))
        #expect(q.contains("\(esc)[c"))
        #expect(q.hasSuffix("\(esc)[5n"))
    }
}

// MARK: - sixel

/// A minimal sixel decoder (palette, raster attributes, repeats, `$` and `-`), enough to read back
/// what `SixelEncoder` writes.
struct SixelImage {
    var width = 0, height = 0
    var palette: [Int: (Int, Int, Int)] = [:]
    var index: [Int] = []

    init(decoding data: [UInt8]) throws {
        struct Malformed: Error { var why: String }
        let s = Array(String(decoding: data, as: UTF8.self).unicodeScalars)
        guard s.count > 4, s[0] == "\u{1b}", s[1] == "P", let q = s.firstIndex(of: "q") else { throw Malformed(why: "no DCS … q") }
        guard s.suffix(2) == ["\u{1b}", "\\"] else { throw Malformed(why: "no string terminator") }
        var i = q + 1
        func number() -> Int {
            var n = 0
            while i < s.count, let d = Int(String(s[i])) { n = n * 10 + d; i += 1 }
            return n
        }
        func numbers() -> [Int] {
            var out = [number()]
            while i < s.count, s[i] == ";" { i += 1; out.append(number()) }
            return out
        }
        var colour = 0, x = 0, band = 0
        while i < s.count - 2 {
            let c = s[i]
            switch c {
            case "\"":
                i += 1
                let r = numbers()
                guard r.count == 4 else { throw Malformed(why: "raster attributes") }
                width = r[2]; height = r[3]
                index = [Int](repeating: -1, count: width * height)
            case "#":
                i += 1
                let n = numbers()
                if n.count == 5 { guard n[1] == 2 else { throw Malformed(why: "not RGB") }; palette[n[0]] = (n[2], n[3], n[4]) }
                colour = n[0]
            case "$": i += 1; x = 0
            case "-": i += 1; x = 0; band += 1
            case "!":
                i += 1
                let run = number()
                guard i < s.count else { throw Malformed(why: "repeat at end") }
                paint(s[i], times: run); i += 1
            default:
                guard (0x3f...0x7e).contains(c.value) else { throw Malformed(why: "byte \(c.value)") }
                paint(c, times: 1); i += 1
            }
        }
        func paint(_ ch: Unicode.Scalar, times: Int) {
            let bits = Int(ch.value) - 0x3f
            for _ in 0..<times {
                for r in 0..<6 where bits & (1 << r) != 0 {
                    let y = band * 6 + r
                    if x < width, y < height { index[y * width + x] = colour }
                }
                x += 1
            }
        }
    }
}

@Suite struct SixelEncoderTests {
    func gradient(width: Int, height: Int) -> ImagePlacement {
        var px = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height { for x in 0..<width { px[y * width + x] = UInt8((x * 255 / max(1, width - 1) + y * 37) % 256) } }
        return ImagePlacement(slot: 1, rect: Rect(x: 2, y: 3, width: 4, height: 2), width: width, height: height, pixels: px)
    }

    @Test func roundTripGivesTheQuantisedImage() throws {
        let p = gradient(width: 9, height: 7)
        // 4×2 cells of 5×8 pixels → 20 × 16 pixels (16 is not a whole number of bands: the last is partial).
        let levels = 32
        let expected = SixelEncoder.indices(p, targetWidth: 20, targetHeight: 16, levels: levels)
        let data = SixelEncoder.encode(expected, width: 20, height: 16, levels: levels)
        let decoded = try SixelImage(decoding: data)
        #expect(decoded.width == 20 && decoded.height == 16)
        #expect(decoded.index == expected.map(Int.init))
        // The palette is a grey ramp from black to white.
        #expect(decoded.palette.count == levels)
        #expect(decoded.palette[0]! == (0, 0, 0) && decoded.palette[levels - 1]! == (100, 100, 100))
        #expect(decoded.palette.values.allSatisfy { $0.0 == $0.1 && $0.1 == $0.2 })
    }

    @Test func placementIsSizedToTheCellRectangle() throws {
        let p = gradient(width: 80, height: 80)
        let out = SixelEncoder.place(p, cell: CellPixelSize(width: 10, height: 20))
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("\(esc)[4;3H\(esc)P"))  // cursor to the rect's top-left (1-based)
        let decoded = try SixelImage(decoding: Array(out.dropFirst("\(esc)[4;3H".utf8.count)))
        // 4 cells × 10 px wide; 2 rows × 20 px = 40 px, cut to whole bands (36) so nothing spills.
        #expect(decoded.width == 40 && decoded.height == 36)
        #expect(!decoded.index.contains(-1))
        // Each output pixel is its nearest source pixel, quantised.
        let sourceRow: Int = 20 * 80 / 36, sourceColumn: Int = 30 * 80 / 40
        let src = p.pixels[sourceRow * 80 + sourceColumn]
        #expect(decoded.index[20 * 40 + 30] == SixelEncoder.quantise(src, levels: SixelEncoder.defaultLevels))
    }

    @Test func runsAreLengthEncoded() throws {
        let flat = [UInt8](repeating: 3, count: 100 * 6)
        let data = SixelEncoder.encode(flat, width: 100, height: 6, levels: 16)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("#3!100~"))
        #expect(data.count < 300)
        #expect(try SixelImage(decoding: data).index == [Int](repeating: 3, count: 600))
    }
}

// MARK: - kitty

@Suite struct KittyGraphicsTests {
    /// APC sequences in `data`: (keys, payload).
    func sequences(_ data: [UInt8]) -> [(keys: String, payload: String)] {
        let text = String(decoding: data, as: UTF8.self)
        return text.components(separatedBy: "\(esc)_G").dropFirst().map { part in
            let body = part.components(separatedBy: "\(esc)\\")[0]
            let halves = body.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(halves[0]), halves.count > 1 ? String(halves[1]) : "")
        }
    }

    @Test func framesAreChunkedAndDecodeToTheFrame() throws {
        // Noise does not compress: the PNG needs several chunks.
        var state: UInt32 = 12345
        let px = (0..<(80 * 80)).map { _ -> UInt8 in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(state >> 24) }
        let p = ImagePlacement(slot: 2, rect: Rect(x: 10, y: 5, width: 40, height: 20), width: 80, height: 80, pixels: px)
        let out = try KittyGraphics.place(p)
        #expect(String(decoding: out.prefix(7), as: UTF8.self) == "\(esc)[6;11H")
        let seqs = sequences(out)
        #expect(seqs.count > 1)
        for (k, s) in seqs.enumerated() {
            #expect(s.payload.utf8.count <= 4096)
            let isLast = k == seqs.count - 1
            #expect(s.keys.split(separator: ",").contains(isLast ? "m=0" : "m=1"))
            if k > 0 { #expect(s.keys == (isLast ? "m=0" : "m=1")) }  // control keys only on the first chunk
        }
        let first = Set(seqs[0].keys.split(separator: ",").map(String.init))
        #expect(first.isSuperset(of: ["a=T", "f=100", "i=\(KittyGraphics.imageID(slot: 2))", "c=40", "r=20", "q=2", "C=1"]))
        let base64 = seqs.map(\.payload).joined()
        let png = try #require(Data(base64Encoded: base64))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ecg2cmr-kitty-\(getpid()).png")
        try png.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let decoded = try PNGCodec.decodeGrey(contentsOf: file)
        #expect(decoded.width == 80 && decoded.height == 80 && decoded.pixels == px)
    }

    @Test func smallPayloadIsOneChunkAndDeleteFreesTheImage() {
        let one = sequences(KittyGraphics.chunks(payload: bytes("AAAA"), header: "a=T,i=9"))
        #expect(one.count == 1 && one[0].keys == "a=T,i=9,m=0" && one[0].payload == "AAAA")
        let exact = sequences(KittyGraphics.chunks(payload: [UInt8](repeating: 65, count: 8192), header: "a=T"))
        #expect(exact.map(\.payload.utf8.count) == [4096, 4096])
        #expect(String(decoding: KittyGraphics.delete(slot: 1), as: UTF8.self) == "\(esc)_Ga=d,d=I,i=\(KittyGraphics.imageID(slot: 1)),q=2\(esc)\\")
    }
}

// MARK: - the CMR pane

@Suite struct CMRPaneImageTests {
    func stateWithCine() -> WorkstationState {
        var s = stateWithRecord(model: true)
        func loop(_ view: CMRView, _ size: Int) -> CineLoop {
            let frames = (0..<3).map { f in (0..<(size * size)).map { i in Float((i % size + f * 7) % size) / Float(size - 1) } }
            return CineLoop(view: view, width: size, height: size, frames: frames, phases: [0, 0.33, 0.66])
        }
        s.cmr = GeneratedCMR(modelID: "demo-test", seed: 1, sax: loop(.sax, 80), lax: loop(.lax, 96))
        s.focus = .cmr
        return s
    }

    func cmrImageCells(_ grid: CellGrid, _ rect: Rect) -> [Unicode.Scalar] {
        (rect.y..<rect.maxY).flatMap { y in (rect.x..<rect.maxX).map { grid[$0, y].scalar } }
    }

    @Test func kittyTerminalGetsPlacementsAndNoHalfBlocks() throws {
        let screen = GridScreen(width: 80, height: 24, capabilities: TerminalCapabilities(kittyGraphics: true))
        let app = WorkstationApp(screen: screen, theme: .standard, cases: nil)
        app.state = stateWithCine()
        app.renderFrame()
        let images = screen.lastImages
        #expect(images.map(\.slot) == [1, 2])
        let sax = try #require(images.first)
        #expect(sax.width == 80 && sax.height == 80 && sax.pixels.count == 6400)
        #expect(sax.pixels[79] == 255 && sax.pixels[0] == 0)  // the first frame, 0…1 → 0…255
        // Inside the pane, under "SAX", two rows below the pane's top edge; blank cells, no ▀.
        #expect(sax.rect == Rect(x: 1, y: 6, width: 30, height: 15))
        #expect(screen.lastFrame.row(5).contains("SAX"))
        for p in images { #expect(cmrImageCells(screen.lastFrame, p.rect).allSatisfy { $0 == " " }) }
        #expect(!screen.text.contains("▀"))
        #expect(images[1].rect.x > sax.rect.maxX && images[1].rect.maxX <= 79)

        // The next frame replaces the image in the same slots and place.
        app.perform(.stepFrameForward)
        app.renderFrame()
        #expect(screen.lastImages.map(\.rect) == images.map(\.rect))
        #expect(screen.lastImages[0].pixels != sax.pixels)
        // Another pane: no images at all (the terminal screen deletes them).
        app.perform(.nextPane)
        app.renderFrame()
        #expect(screen.lastImages.isEmpty)
    }

    @Test func halfBlockTerminalDrawsBlocksAsBefore() throws {
        let screen = GridScreen(width: 80, height: 24)  // no image protocol confirmed
        let app = WorkstationApp(screen: screen, theme: .standard, cases: nil)
        app.state = stateWithCine()
        app.renderFrame()
        #expect(screen.lastImages.isEmpty)
        // The rectangle a kitty terminal gets as an image (30×15 cells at 80×24) is all half blocks here.
        let cells = cmrImageCells(screen.lastFrame, Rect(x: 1, y: 6, width: 30, height: 15))
        #expect(cells.count == 450 && cells.allSatisfy { $0 == "▀" })
        // Same cells as the headless renderer gives without capabilities (the snapshot path).
        let (plain, _) = WorkstationRenderer.render(app.state, size: screen.size, theme: .standard)
        #expect(plain == screen.lastFrame)
    }

    @Test func graphicsCommandSaysWhatWasChosen() {
        let screen = GridScreen(width: 80, height: 24, capabilities: TerminalCapabilities(sixel: true))
        let app = WorkstationApp(screen: screen, theme: .standard, cases: nil)
        app.runCommand("graphics")
        #expect(app.state.status.text.hasPrefix("CMR images: sixel"))
        app.graphicsSummary = TerminalGraphicsDecision(preference: .auto, reply: TerminalProbeReply.parse(bytes("\(esc)[?1;2c\(esc)[0n")), environment: [:]).summary
        app.runCommand("graphics")
        #expect(app.state.status.text.hasPrefix("CMR images: half blocks (terminal has no kitty graphics or sixel)"))
        #expect(app.state.status.text.contains("--graphics"))
    }

    @Test func imagesUnderTheHelpOverlayAreDropped() {
        var s = stateWithCine()
        s.showHelp = true
        let (grid, _) = WorkstationRenderer.render(s, size: GridSize(width: 80, height: 24), theme: .standard, inlineImages: true)
        #expect(grid.images.isEmpty)
        #expect(grid.text.contains("ecg2cmr keys"))
    }
}
