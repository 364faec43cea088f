import Foundation

/// An 8-bit grey image, row-major, top row first — the pixel layout of a grey PNG.
public struct GreyImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.pixels = [UInt8](repeating: fill, count: self.width * self.height)
    }

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw CMRExportError.invalidImage("grey image \(width)×\(height) needs \(max(0, width * height)) pixels, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// Copies `image` with its top-left corner at (x, y), clipped to this image.
    public mutating func paste(_ image: GreyImage, x: Int, y: Int) {
        for sy in 0..<image.height {
            let dy = y + sy
            guard dy >= 0, dy < height else { continue }
            for sx in 0..<image.width {
                let dx = x + sx
                guard dx >= 0, dx < width else { continue }
                pixels[dy * width + dx] = image.pixels[sy * image.width + sx]
            }
        }
    }

    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, value: UInt8) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { pixels[yy * width + xx] = value } }
    }

    /// Grey → RGB with equal channels (for colour annotations on top).
    public func rgb() -> RGBImage {
        var out = RGBImage(width: width, height: height)
        for i in 0..<pixels.count {
            let v = pixels[i]
            out.bytes[3 * i] = v; out.bytes[3 * i + 1] = v; out.bytes[3 * i + 2] = v
        }
        return out
    }
}

/// An sRGB colour, 8 bits per channel.
public struct RGBColor: Sendable, Equatable {
    public var red: UInt8, green: UInt8, blue: UInt8
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) { self.red = red; self.green = green; self.blue = blue }

    public static let white = RGBColor(255, 255, 255)
    public static let black = RGBColor(0, 0, 0)
    /// ECG paper: minor (1 mm) and major (5 mm) grid lines.
    public static let paperMinor = RGBColor(250, 205, 205)
    public static let paperMajor = RGBColor(232, 140, 140)
    public static let endDiastole = RGBColor(40, 200, 80)
    public static let endSystole = RGBColor(230, 50, 50)
    public static let gradCAM = RGBColor(255, 150, 0)
}

/// An 8-bit RGB image, row-major, interleaved R G B — the pixel layout of an RGB PNG.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var bytes: [UInt8]

    public init(width: Int, height: Int, fill: RGBColor = .white) {
        self.width = max(0, width)
        self.height = max(0, height)
        var b = [UInt8](repeating: 0, count: self.width * self.height * 3)
        if fill != .black {
            var i = 0
            while i < b.count { b[i] = fill.red; b[i + 1] = fill.green; b[i + 2] = fill.blue; i += 3 }
        }
        self.bytes = b
    }

    public subscript(x: Int, y: Int) -> RGBColor {
        get { let i = 3 * (y * width + x); return RGBColor(bytes[i], bytes[i + 1], bytes[i + 2]) }
        set { let i = 3 * (y * width + x); bytes[i] = newValue.red; bytes[i + 1] = newValue.green; bytes[i + 2] = newValue.blue }
    }

    @inlinable public mutating func setPixel(_ x: Int, _ y: Int, _ c: RGBColor) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        bytes[i] = c.red; bytes[i + 1] = c.green; bytes[i + 2] = c.blue
    }

    /// Mixes `c` over the pixel with weight `alpha` in 0…1.
    public mutating func blendPixel(_ x: Int, _ y: Int, _ c: RGBColor, alpha: Double) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let a = min(1, alpha)
        let i = 3 * (y * width + x)
        func mix(_ old: UInt8, _ new: UInt8) -> UInt8 {
            UInt8((Double(old) * (1 - a) + Double(new) * a).rounded())
        }
        bytes[i] = mix(bytes[i], c.red); bytes[i + 1] = mix(bytes[i + 1], c.green); bytes[i + 2] = mix(bytes[i + 2], c.blue)
    }

    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { setPixel(xx, yy, color) } }
    }

    /// A rectangle outline `thickness` pixels wide, drawn inside the rectangle.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor, thickness: Int = 1) {
        fillRect(x: x, y: y, width: w, height: thickness, color: color)
        fillRect(x: x, y: y + h - thickness, width: w, height: thickness, color: color)
        fillRect(x: x, y: y, width: thickness, height: h, color: color)
        fillRect(x: x + w - thickness, y: y, width: thickness, height: h, color: color)
    }

    public mutating func paste(_ image: GreyImage, x: Int, y: Int) {
        for sy in 0..<image.height {
            for sx in 0..<image.width {
                let v = image.pixels[sy * image.width + sx]
                setPixel(x + sx, y + sy, RGBColor(v, v, v))
            }
        }
    }

    /// A line from (x0, y0) to (x1, y1) (Bresenham), `thickness` pixels wide.
    public mutating func drawLine(x0: Int, y0: Int, x1: Int, y1: Int, color: RGBColor, thickness: Int = 1) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let lo = -(thickness - 1) / 2, hi = thickness / 2
        while true {
            for oy in lo...hi { for ox in lo...hi { setPixel(x + ox, y + oy, color) } }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
}

/// Everything that can go wrong while exporting, with the file or item it concerns.
public enum CMRExportError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidImage(String)
    case pngEncoding(String)
    case pngDecoding(file: String, reason: String)
    case io(path: String, reason: String)
    case invalidOption(String)
    case manifest(path: String, reason: String)
    case inputChanged(path: String, expectedSHA256: String, actualSHA256: String)
    case modelChanged(expected: String, actual: String)
    case generation(String)

    public var description: String {
        switch self {
        case .invalidImage(let m): return "invalid image: \(m)"
        case .pngEncoding(let m): return "PNG encoding failed: \(m)"
        case .pngDecoding(let f, let r): return "\(f): cannot decode PNG: \(r)"
        case .io(let p, let r): return "\(p): \(r)"
        case .invalidOption(let m): return "invalid option: \(m)"
        case .manifest(let p, let r): return "\(p): bad export manifest: \(r)"
        case .inputChanged(let p, let e, let a):
            return "\(p): input file changed since the export (sha256 \(a.prefix(12))…, manifest says \(e.prefix(12))…)"
        case .modelChanged(let e, let a):
            return "model weights changed since the export (sha256 \(a.prefix(12))…, manifest says \(e.prefix(12))…)"
        case .generation(let m): return "generation failed: \(m)"
        }
    }
}
