import Imaging
import Foundation

// InlineImages.swift — CMR frames as real pixels on terminals that confirmed kitty graphics or
// sixel. Views never write escape sequences: they reserve the cells (blank) and add an
// `ImagePlacement` to the frame; `TerminalScreen` sends it after curses has drawn the text, and
// `GridScreen` records it for tests.

/// A grey image to show over a cell rectangle of the frame.
public struct ImagePlacement: Hashable, Sendable {
    /// Which image this is on screen (SAX = 1, LAX = 2): kitty reuses one image id per slot.
    public var slot: Int
    /// Cells the image covers; the view leaves them blank.
    public var rect: Rect
    public var width: Int
    public var height: Int
    /// Row-major grey levels, `width × height`.
    public var pixels: [UInt8]

    public init(slot: Int, rect: Rect, width: Int, height: Int, pixels: [UInt8]) {
        self.slot = slot; self.rect = rect; self.width = width; self.height = height; self.pixels = pixels
    }

    /// Grey values 0…1 (the generator's output) as 8-bit levels.
    public init(slot: Int, rect: Rect, width: Int, height: Int, grey: [Float]) {
        self.init(slot: slot, rect: rect, width: width, height: height,
                  pixels: grey.prefix(width * height).map { UInt8(max(0, min(255, ($0 * 255).rounded()))) })
    }

    public var isValid: Bool { width > 0 && height > 0 && pixels.count == width * height && !rect.isEmpty }
}

/// Kitty graphics protocol (sw.kovidgoyal.net/kitty/graphics-protocol): the frame as PNG, base64,
/// in chunks of at most 4096 bytes, scaled by the terminal to the cell rectangle.
public enum KittyGraphics {
    /// Base64 bytes per escape sequence (the protocol's limit).
    public static let chunkSize = 4096
    /// Image ids the workstation owns: one per slot, far from ids other programs pick first.
    public static func imageID(slot: Int) -> Int { 0x0EC2_0000 + slot }

    /// Transmit-and-display with cursor at the rectangle's top-left: replaces the slot's previous
    /// image in place. `q=2` keeps the terminal from answering (answers would arrive as keys),
    /// `C=1` keeps the cursor where curses left it.
    public static func place(_ p: ImagePlacement) throws -> [UInt8] {
        let image = try GreyImage(width: p.width, height: p.height, pixels: p.pixels)
        let png = try PNGCodec.encode(image)
        let header = "a=T,f=100,t=d,i=\(imageID(slot: p.slot)),p=1,c=\(p.rect.width),r=\(p.rect.height),q=2,C=1"
        return cursorTo(p.rect) + chunks(payload: Array(png.base64EncodedString().utf8), header: header)
    }

    /// The payload split into APC sequences: the header on the first, `m=1` on all but the last.
    public static func chunks(payload: [UInt8], header: String) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let end = min(payload.count, start + chunkSize)
            let more = end < payload.count ? 1 : 0
            let keys = start == 0 ? "\(header),m=\(more)" : "m=\(more)"
            out += Array("\u{1b}_G\(keys);".utf8) + payload[start..<end] + Array("\u{1b}\\".utf8)
            start = end
        } while start < payload.count
        return out
    }

    /// Deletes the slot's image and frees its data (`d=I`).
    public static func delete(slot: Int) -> [UInt8] {
        Array("\u{1b}_Ga=d,d=I,i=\(imageID(slot: slot)),q=2\u{1b}\\".utf8)
    }

    static func cursorTo(_ r: Rect) -> [UInt8] { Array("\u{1b}[\(r.y + 1);\(r.x + 1)H".utf8) }
}

/// Sixel (DEC VT340 bitmap graphics): a grey palette, six pixel rows per band, run-length encoded.
public enum SixelEncoder {
    /// Grey levels in the palette (enough for CMR contrast; more only lengthens the output).
    public static let defaultLevels = 32

    /// `level` of `levels` for an 8-bit grey value (nearest).
    @inline(__always) public static func quantise(_ v: UInt8, levels: Int) -> Int { (Int(v) * (levels - 1) + 127) / 255 }

    /// Nearest-neighbour resample of `p` to `targetWidth × targetHeight` palette indices.
    public static func indices(_ p: ImagePlacement, targetWidth: Int, targetHeight: Int, levels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(0, targetWidth * targetHeight))
        guard p.isValid, targetWidth > 0, targetHeight > 0 else { return out }
        for y in 0..<targetHeight {
            let sy = min(p.height - 1, y * p.height / targetHeight)
            for x in 0..<targetWidth {
                let sx = min(p.width - 1, x * p.width / targetWidth)
                out[y * targetWidth + x] = UInt8(quantise(p.pixels[sy * p.width + sx], levels: levels))
            }
        }
        return out
    }

    /// The placement as one DCS sequence of `targetWidth × targetHeight` pixels, cursor first moved
    /// to the rectangle's top-left.
    public static func place(_ p: ImagePlacement, cell: CellPixelSize, levels: Int = defaultLevels) -> [UInt8] {
        // Whole bands of six rows that fit inside the rectangle, so the image never spills a row.
        let w = p.rect.width * cell.width
        let h = (p.rect.height * cell.height) / 6 * 6
        return KittyGraphics.cursorTo(p.rect) + encode(indices(p, targetWidth: w, targetHeight: h, levels: levels),
                                                       width: w, height: h, levels: levels)
    }

    /// Encodes palette indices (0..<levels, grey from black to white) as sixel.
    public static func encode(_ index: [UInt8], width: Int, height: Int, levels: Int) -> [UInt8] {
        var out = Array("\u{1b}P0;1;0q\"1;1;\(width);\(height)".utf8)
        guard width > 0, height > 0, levels >= 2, index.count == width * height else { return out + Array("\u{1b}\\".utf8) }
        for c in 0..<levels {
            let pct = (c * 100 + (levels - 1) / 2) / (levels - 1)
            out += Array("#\(c);2;\(pct);\(pct);\(pct)".utf8)
        }
        // Per band: the six-bit column masks of every colour, then one run-length line per colour used.
        var masks = [UInt8](repeating: 0, count: levels * width)
        var used = [Bool](repeating: false, count: levels)
        var bandStart = 0
        while bandStart < height {
            for k in masks.indices { masks[k] = 0 }
            for k in used.indices { used[k] = false }
            for r in 0..<min(6, height - bandStart) {
                let row = (bandStart + r) * width
                for x in 0..<width {
                    let c = Int(index[row + x])
                    masks[c * width + x] |= 1 << r
                    used[c] = true
                }
            }
            var firstColour = true
            for c in 0..<levels where used[c] {
                if !firstColour { out.append(UInt8(ascii: "$")) }  // back to the band's left edge
                firstColour = false
                out += Array("#\(c)".utf8)
                // Trailing empty columns need not be sent.
                var last = width - 1
                while last >= 0, masks[c * width + last] == 0 { last -= 1 }
                var x = 0
                while x <= last {
                    let m = masks[c * width + x]
                    var run = 1
                    while x + run <= last, masks[c * width + x + run] == m { run += 1 }
                    let ch = 0x3f + m
                    if run >= 4 { out += Array("!\(run)".utf8); out.append(ch) } else { out += [UInt8](repeating: ch, count: run) }
                    x += run
                }
            }
            bandStart += 6
            if bandStart < height { out.append(UInt8(ascii: "-")) }  // next band
        }
        return out + Array("\u{1b}\\".utf8)
    }
}
