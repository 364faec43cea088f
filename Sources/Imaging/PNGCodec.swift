import CPNG
import ECGFormats
import Foundation

/// A PNG text chunk. Keywords are Latin-1 (1–79 bytes); text is UTF-8 and goes in an iTXt chunk
/// so that "—" and non-Latin names survive.
public struct PNGText: Sendable, Equatable {
    public var keyword: String
    public var text: String
    public init(_ keyword: String, _ text: String) { self.keyword = keyword; self.text = text }
}

/// PNG encoding through libpng's simplified API (no setjmp needed from Swift). libpng writes the
/// image chunks (IHDR, IDAT…, IEND); ancillary chunks — iTXt text, and acTL/fcTL/fdAT for an
/// animated PNG — are spliced in here with their CRCs, so no C helper target is needed.
/// Output is deterministic: no time chunk, fixed compression settings.
public enum PNGCodec {
    // MARK: encoding

    public static func encode(_ image: GreyImage, text: [PNGText] = []) throws -> Data {
        let raw = try encodeRaw(pixels: image.pixels, width: image.width, height: image.height, colour: false)
        return try splice(raw, text: text)
    }

    public static func encode(_ image: RGBImage, text: [PNGText] = []) throws -> Data {
        let raw = try encodeRaw(pixels: image.bytes, width: image.width, height: image.height, colour: true)
        return try splice(raw, text: text)
    }

    /// An animated PNG (APNG): every frame full-size, shown for `delayMilliseconds`, looping forever.
    /// The first frame is also the still image that non-animating viewers show.
    public static func encodeAnimation(_ frames: [GreyImage], delayMilliseconds: Int, text: [PNGText] = []) throws -> Data {
        guard let first = frames.first else { throw CMRExportError.invalidImage("animation without frames") }
        guard frames.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
            throw CMRExportError.invalidImage("animation frames differ in size")
        }
        let delay = UInt16(clamping: max(1, delayMilliseconds))
        var out = Data(signature)
        var sequence: UInt32 = 0
        func fcTL() -> Data {
            var d = Data()
            d.appendBE(sequence); sequence += 1
            d.appendBE(UInt32(first.width)); d.appendBE(UInt32(first.height))
            d.appendBE(UInt32(0)); d.appendBE(UInt32(0))                 // x, y offset
            d.appendBE(delay); d.appendBE(UInt16(1000))                  // delay = delay/1000 s
            d.append(0); d.append(0)                                     // dispose none, blend source
            return d
        }
        for (index, frame) in frames.enumerated() {
            let raw = try encodeRaw(pixels: frame.pixels, width: frame.width, height: frame.height, colour: false)
            let chunks = try parseChunks(raw)
            let idat = chunks.filter { $0.type == "IDAT" }.reduce(into: Data()) { $0.append($1.data) }
            if index == 0 {
                for chunk in chunks where chunk.type != "IDAT" && chunk.type != "IEND" {
                    appendChunk(&out, chunk.type, chunk.data)
                    if chunk.type == "IHDR" {
                        var actl = Data()
                        actl.appendBE(UInt32(frames.count)); actl.appendBE(UInt32(0))   // 0 = loop forever
                        appendChunk(&out, "acTL", actl)
                        for t in text { appendChunk(&out, "iTXt", try itxt(t)) }
                    }
                }
                appendChunk(&out, "fcTL", fcTL())
                appendChunk(&out, "IDAT", idat)
            } else {
                appendChunk(&out, "fcTL", fcTL())
                var fdat = Data(); fdat.appendBE(sequence); sequence += 1
                fdat.append(idat)
                appendChunk(&out, "fdAT", fdat)
            }
        }
        appendChunk(&out, "IEND", Data())
        return out
    }

    private static func encodeRaw(pixels: [UInt8], width: Int, height: Int, colour: Bool) throws -> Data {
        let channels = colour ? 3 : 1
        guard width > 0, height > 0, width < 1 << 24, height < 1 << 24, pixels.count == width * height * channels else {
            throw CMRExportError.invalidImage("\(width)×\(height)×\(channels) image with \(pixels.count) bytes")
        }
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = colour ? png_uint_32(PNG_FORMAT_RGB) : png_uint_32(PNG_FORMAT_GRAY)
        // FAST: zlib level 3 with filtering left to libpng's defaults for the fast path — deflate
        // dominated export time at level 6 (≈60 % of CPU) for ~10 % smaller files.
        image.flags = png_uint_32(PNG_IMAGE_FLAG_FAST)
        let stride = png_int_32(width * channels)
        // Upper bound for zlib output of incompressible data, plus chunk overhead.
        var size = png_alloc_size_t(pixels.count + pixels.count / 100 + height + 4096)
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let ok = pixels.withUnsafeBytes { src in
            buffer.withUnsafeMutableBytes { dst in
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, src.baseAddress, stride, nil)
            }
        }
        defer { png_image_free(&image) }
        guard ok != 0 else { throw CMRExportError.pngEncoding(message(of: &image)) }
        return Data(buffer[0..<Int(size)])
    }

    // MARK: decoding (used to read real CMR series for montages)

    /// Reads any PNG as 8-bit grey (colour is converted by libpng).
    public static func decodeGrey(contentsOf url: URL) throws -> GreyImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, url.path) != 0 else {
            let m = message(of: &image); png_image_free(&image)
            throw CMRExportError.pngDecoding(file: url.path, reason: m)
        }
        image.format = png_uint_32(PNG_FORMAT_GRAY)
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width * height <= 64 << 20 else {
            png_image_free(&image)
            throw CMRExportError.pngDecoding(file: url.path, reason: "implausible size \(width)×\(height)")
        }
        var pixels = [UInt8](repeating: 0, count: width * height)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width), nil) }
        guard ok != 0 else {
            let m = message(of: &image); png_image_free(&image)
            throw CMRExportError.pngDecoding(file: url.path, reason: m)
        }
        return try GreyImage(width: width, height: height, pixels: pixels)
    }

    // MARK: chunks

    struct Chunk { var type: String; var data: Data }
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    static func parseChunks(_ png: Data) throws -> [Chunk] {
        let bytes = [UInt8](png)
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw CMRExportError.pngEncoding("libpng output lacks the PNG signature") }
        var chunks: [Chunk] = []
        var i = 8
        while i + 12 <= bytes.count {
            let length = Int(UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
            guard i + 12 + length <= bytes.count else { throw CMRExportError.pngEncoding("truncated chunk in libpng output") }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            chunks.append(Chunk(type: type, data: Data(bytes[(i + 8)..<(i + 8 + length)])))
            i += 12 + length
        }
        return chunks
    }

    private static func splice(_ raw: Data, text: [PNGText]) throws -> Data {
        guard !text.isEmpty else { return raw }
        var out = Data(signature)
        for chunk in try parseChunks(raw) {
            appendChunk(&out, chunk.type, chunk.data)
            if chunk.type == "IHDR" { for t in text { appendChunk(&out, "iTXt", try itxt(t)) } }
        }
        return out
    }

    /// iTXt: keyword, NUL, compression flag 0, method 0, empty language tag, NUL,
    /// empty translated keyword, NUL, UTF-8 text.
    private static func itxt(_ t: PNGText) throws -> Data {
        guard let key = t.keyword.data(using: .isoLatin1), (1...79).contains(key.count), !key.contains(0) else {
            throw CMRExportError.pngEncoding("text keyword '\(t.keyword)' must be 1–79 Latin-1 characters")
        }
        var d = Data(key)
        d.append(contentsOf: [0, 0, 0, 0, 0])
        d.append(Data(t.text.utf8).filter { $0 != 0 })
        return d
    }

    static func appendChunk(_ out: inout Data, _ type: String, _ data: Data) {
        out.appendBE(UInt32(data.count))
        var body = Data(type.utf8)
        body.append(data)
        out.append(body)
        out.appendBE(CRC32.checksum(body))
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension Data {
    mutating func appendBE(_ v: UInt32) { append(contentsOf: [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]) }
    mutating func appendBE(_ v: UInt16) { append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xFF)]) }
}
