import CCairo
import Foundation

/// Text burned into raster exports (frame labels, the DICOM "synthetic" label, chart labels), set in
/// DejaVu Sans by cairo. Sizes are in "label units": a label of `scale` 1 has a 10-pixel em, so its
/// capitals are about 7 pixels tall; (x, y) is the top-left corner of the capitals.
public enum RasterText {
    /// Pixels per em at `scale` 1.
    public static let emPixels = 10.0
    /// DejaVu Sans capital height as a fraction of the em (so that y is the top of the capitals).
    static let capHeight = 0.73

    public static func emSize(scale: Int) -> Double { emPixels * Double(max(1, scale)) }

    /// Capital height in whole pixels at `scale` (the height a label box has to hold).
    public static func capitalHeight(scale: Int) -> Int { Int((emSize(scale: scale) * capHeight).rounded(.up)) }

    /// Advance width of `text` in pixels at `scale`, rounded up.
    public static func width(of text: String, scale: Int) -> Int {
        guard !text.isEmpty, let s = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1) else { return 0 }
        defer { cairo_surface_destroy(s) }
        let cr = cairo_create(s)
        defer { cairo_destroy(cr) }
        setFont(cr, scale: scale, antialias: true)
        var ext = cairo_text_extents_t()
        cairo_text_extents(cr, text, &ext)
        // The ink can reach past the advance (the last glyph's right side bearing): take the larger.
        return Int(max(ext.x_advance, ext.x_bearing + ext.width).rounded(.up)) + 1
    }

    /// The one font set-up for measuring and drawing, so measured widths match the drawn ink.
    static func setFont(_ cr: OpaquePointer?, scale: Int, antialias: Bool) {
        CairoFonts.shared.select(cr, bold: false, antialias: antialias ? CAIRO_ANTIALIAS_GRAY : CAIRO_ANTIALIAS_NONE)
        cairo_set_font_size(cr, emSize(scale: scale))
        cairo_set_antialias(cr, antialias ? CAIRO_ANTIALIAS_GRAY : CAIRO_ANTIALIAS_NONE)
    }

    /// Coverage (0…255) of `text` drawn with the top of its capitals at (x, y) on a `width`×`height`
    /// raster, as (pixel index, coverage) pairs. `antialias: false` gives coverage 0 or 255 only.
    static func coverage(_ text: String, x: Int, y: Int, scale: Int, width: Int, height: Int, antialias: Bool) -> [(Int, UInt8)] {
        guard !text.isEmpty, width > 0, height > 0 else { return [] }
        let em = emSize(scale: scale)
        // Only the band the text can touch is rasterised: one em above and below the capitals.
        let top = max(0, y - Int(em)), bottom = min(height, y + Int(2 * em))
        let left = max(0, x - Int(em)), right = width
        guard top < bottom, left < right, right - left <= 32767, bottom - top <= 32767,
              let s = cairo_image_surface_create(CAIRO_FORMAT_A8, Int32(right - left), Int32(bottom - top)) else { return [] }
        defer { cairo_surface_destroy(s) }
        let cr = cairo_create(s)
        defer { cairo_destroy(cr) }
        setFont(cr, scale: scale, antialias: antialias)
        cairo_set_source_rgba(cr, 0, 0, 0, 1)
        cairo_move_to(cr, Double(x - left), Double(y - top) + em * capHeight)
        cairo_show_text(cr, text)
        cairo_surface_flush(s)
        guard let base = cairo_image_surface_get_data(s) else { return [] }
        let stride = Int(cairo_image_surface_get_stride(s))
        var out: [(Int, UInt8)] = []
        for row in 0..<(bottom - top) {
            for col in 0..<(right - left) {
                let a = base[row * stride + col]
                if a > 0 { out.append(((top + row) * width + left + col, a)) }
            }
        }
        return out
    }
}

extension RGBImage {
    /// Anti-aliased text in `color`, the top of its capitals at (x, y); see `RasterText`.
    public mutating func drawText(_ text: String, x: Int, y: Int, color: RGBColor, scale: Int = 1) {
        for (i, a) in RasterText.coverage(text, x: x, y: y, scale: scale, width: width, height: height, antialias: true) {
            let alpha = Double(a) / 255
            func mix(_ old: UInt8, _ new: UInt8) -> UInt8 { UInt8((Double(old) * (1 - alpha) + Double(new) * alpha).rounded()) }
            bytes[3 * i] = mix(bytes[3 * i], color.red)
            bytes[3 * i + 1] = mix(bytes[3 * i + 1], color.green)
            bytes[3 * i + 2] = mix(bytes[3 * i + 2], color.blue)
        }
    }
}

extension GreyImage {
    /// Text of grey `value`, the top of its capitals at (x, y). `antialias: false` sets pixels to
    /// `value` or leaves them (a two-level label, as the DICOM "synthetic" mark needs).
    public mutating func drawText(_ text: String, x: Int, y: Int, value: UInt8, scale: Int = 1, antialias: Bool = true) {
        for (i, a) in RasterText.coverage(text, x: x, y: y, scale: scale, width: width, height: height, antialias: antialias) {
            let alpha = Double(a) / 255
            pixels[i] = UInt8((Double(pixels[i]) * (1 - alpha) + Double(value) * alpha).rounded())
        }
    }
}
