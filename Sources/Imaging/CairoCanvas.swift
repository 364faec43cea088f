import CCairo
import Foundation

/// A thin Swift face on cairo (the one 2-D graphics library the exports use): a vector PDF page
/// or an anti-aliased RGB raster, drawn in millimetres with real fonts (fontconfig; "DejaVu Sans").
///
/// Units: user space is millimetres, origin top-left, y down. A PDF page of `widthMM × heightMM`
/// has a MediaBox of exactly `widthMM / 25.4 × 72` points, so 1 user unit prints as 1 mm at 100 %.
/// Not thread-safe; one canvas per thread (cairo surfaces are independent, so parallel jobs are fine).
public final class CairoCanvas {
    public static let fontFamily = "DejaVu Sans"
    public static let pointsPerMillimetre = 72.0 / 25.4

    public let widthMM: Double
    public let heightMM: Double
    private let surface: OpaquePointer
    let cr: OpaquePointer
    private let sink: PDFSink?
    /// Raster canvases: pixels per millimetre (nil for PDF).
    public let pixelsPerMillimetre: Double?

    /// Collects the bytes cairo's PDF stream writer hands over.
    final class PDFSink { var data = Data() }

    /// A one-page PDF. `creationDate` is written as the PDF's /CreationDate so that the same input gives
    /// the same bytes (cairo would otherwise stamp the wall clock).
    public init(pdfWidthMM: Double, heightMM: Double, title: String, creationDate: String = "2000-01-01T00:00:00Z") throws {
        widthMM = pdfWidthMM; self.heightMM = heightMM; pixelsPerMillimetre = nil
        let sink = PDFSink()
        self.sink = sink
        let context = Unmanaged.passUnretained(sink).toOpaque()
        guard let s = cairo_pdf_surface_create_for_stream({ closure, bytes, length in
            guard let closure, let bytes else { return CAIRO_STATUS_WRITE_ERROR }
            Unmanaged<PDFSink>.fromOpaque(closure).takeUnretainedValue().data.append(bytes, count: Int(length))
            return CAIRO_STATUS_SUCCESS
        }, context, pdfWidthMM * Self.pointsPerMillimetre, heightMM * Self.pointsPerMillimetre) else {
            throw CMRExportError.invalidImage("cairo: cannot create PDF surface")
        }
        surface = s
        cairo_pdf_surface_restrict_to_version(s, CAIRO_PDF_VERSION_1_5)
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title)
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "\(CMRExportInfo.softwareName) \(CMRExportInfo.softwareVersion)")
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, creationDate)
        cr = cairo_create(s)
        cairo_scale(cr, Self.pointsPerMillimetre, Self.pointsPerMillimetre)
        try setUp()
    }

    /// An RGB raster of `widthMM × heightMM` at `pixelsPerMillimetre` (anti-aliased).
    public init(rasterWidthMM: Double, heightMM: Double, pixelsPerMillimetre ppm: Double) throws {
        widthMM = rasterWidthMM; self.heightMM = heightMM; pixelsPerMillimetre = ppm; sink = nil
        let w = Int32((rasterWidthMM * ppm).rounded()), h = Int32((heightMM * ppm).rounded())
        guard w > 0, h > 0, w <= 32767, h <= 32767, let s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h) else {
            throw CMRExportError.invalidImage("cairo: cannot create a \(w)×\(h) raster")
        }
        surface = s
        cr = cairo_create(s)
        cairo_scale(cr, ppm, ppm)
        try setUp()
    }

    /// An RGB raster in pixel units (1 user unit = 1 pixel).
    convenience init(pixelWidth: Int, pixelHeight: Int) throws {
        try self.init(rasterWidthMM: Double(pixelWidth), heightMM: Double(pixelHeight), pixelsPerMillimetre: 1)
    }

    private func setUp() throws {
        guard cairo_status(cr) == CAIRO_STATUS_SUCCESS else {
            throw CMRExportError.invalidImage("cairo: " + String(cString: cairo_status_to_string(cairo_status(cr))))
        }
        CairoFonts.shared.select(cr, bold: false, antialias: CAIRO_ANTIALIAS_GRAY)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    // MARK: drawing

    public func setColor(_ c: RGBColor, alpha: Double = 1) {
        cairo_set_source_rgba(cr, Double(c.red) / 255, Double(c.green) / 255, Double(c.blue) / 255, alpha)
    }

    public func fill(x: Double, y: Double, width: Double, height: Double, color: RGBColor, alpha: Double = 1) {
        setColor(color, alpha: alpha)
        cairo_rectangle(cr, x, y, width, height)
        cairo_fill(cr)
    }

    public func strokeRect(x: Double, y: Double, width: Double, height: Double, color: RGBColor, lineWidth: Double) {
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_rectangle(cr, x, y, width, height)
        cairo_stroke(cr)
    }

    public func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, color: RGBColor, width: Double) {
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_move_to(cr, x0, y0)
        cairo_line_to(cr, x1, y1)
        cairo_stroke(cr)
    }

    /// One stroked polyline (a single path: one PDF path object for a whole trace).
    public func polyline(_ points: [(Double, Double)], color: RGBColor, width: Double) {
        guard let first = points.first, points.count >= 2 else { return }
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_stroke(cr)
    }

    /// Vertical and horizontal hairlines at the given positions, stroked as one path. On a raster the
    /// lines are snapped to whole pixels (at least one pixel wide, unblended), so a grid line at
    /// n mm is exactly pixel column round(n × pixels per mm) in the paper colour.
    public func gridLines(xs: [Double], ys: [Double], left: Double, top: Double, right: Double, bottom: Double,
                   color: RGBColor, width: Double) {
        if let ppm = pixelsPerMillimetre {
            let w = max(1, (width * ppm).rounded()) / ppm
            func snap(_ v: Double) -> Double { (v * ppm).rounded() / ppm }
            setColor(color)
            cairo_save(cr)
            cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE)
            for x in xs { cairo_rectangle(cr, snap(x), snap(top), w, snap(bottom) - snap(top) + w) }
            for y in ys { cairo_rectangle(cr, snap(left), snap(y), snap(right) - snap(left) + w, w) }
            cairo_fill(cr)
            cairo_restore(cr)
            return
        }
        setColor(color)
        cairo_set_line_width(cr, width)
        for x in xs { cairo_move_to(cr, x, top); cairo_line_to(cr, x, bottom) }
        for y in ys { cairo_move_to(cr, left, y); cairo_line_to(cr, right, y) }
        cairo_stroke(cr)
    }

    public enum Weight { case normal, bold }
    public enum Align { case left, centre, right }

    /// Text with its baseline at `y`; `size` is the em size in user units. Returns the advance width.
    @discardableResult
    public func text(_ s: String, x: Double, y: Double, size: Double, color: RGBColor = .black, weight: Weight = .normal,
              align: Align = .left) -> Double {
        CairoFonts.shared.select(cr, bold: weight == .bold, antialias: CAIRO_ANTIALIAS_GRAY)
        cairo_set_font_size(cr, size)
        let w = textWidth(s, size: size, weight: weight)
        let x0 = align == .left ? x : (align == .centre ? x - w / 2 : x - w)
        setColor(color)
        cairo_move_to(cr, x0, y)
        cairo_show_text(cr, s)
        cairo_new_path(cr)
        return w
    }

    public func textWidth(_ s: String, size: Double, weight: Weight = .normal) -> Double {
        CairoFonts.shared.select(cr, bold: weight == .bold, antialias: CAIRO_ANTIALIAS_GRAY)
        cairo_set_font_size(cr, size)
        var ext = cairo_text_extents_t()
        cairo_text_extents(cr, s, &ext)
        return ext.x_advance
    }

    /// `s` shortened with "…" to at most `width`.
    public func fitted(_ s: String, width: Double, size: Double, weight: Weight = .normal) -> String {
        if textWidth(s, size: size, weight: weight) <= width { return s }
        var t = s
        while !t.isEmpty && textWidth(t + "…", size: size, weight: weight) > width { t.removeLast() }
        return t + "…"
    }

    /// Draws a grey image into the rectangle (nearest-neighbour when `smooth` is false).
    public func image(_ img: GreyImage, x: Double, y: Double, width: Double, height: Double, smooth: Bool = true) {
        guard img.width > 0, img.height > 0,
              let src = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(img.width), Int32(img.height)) else { return }
        defer { cairo_surface_destroy(src) }
        cairo_surface_flush(src)
        let stride = Int(cairo_image_surface_get_stride(src))
        if let base = cairo_image_surface_get_data(src) {
            for row in 0..<img.height {
                let p = (base + row * stride).withMemoryRebound(to: UInt32.self, capacity: img.width) { $0 }
                for col in 0..<img.width {
                    let v = UInt32(img.pixels[row * img.width + col])
                    p[col] = (v << 16) | (v << 8) | v
                }
            }
        }
        cairo_surface_mark_dirty(src)
        cairo_save(cr)
        cairo_translate(cr, x, y)
        cairo_scale(cr, width / Double(img.width), height / Double(img.height))
        cairo_set_source_surface(cr, src, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), smooth ? CAIRO_FILTER_GOOD : CAIRO_FILTER_NEAREST)
        cairo_rectangle(cr, 0, 0, Double(img.width), Double(img.height))
        cairo_fill(cr)
        cairo_restore(cr)
    }

    public func clip(x: Double, y: Double, width: Double, height: Double) {
        cairo_save(cr)
        cairo_rectangle(cr, x, y, width, height)
        cairo_clip(cr)
    }

    public func unclip() { cairo_restore(cr) }

    // MARK: output

    /// Finishes the PDF and returns its bytes.
    public func pdfData() throws -> Data {
        guard let sink else { throw CMRExportError.invalidImage("cairo: not a PDF canvas") }
        cairo_show_page(cr)
        cairo_surface_finish(surface)
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw CMRExportError.invalidImage("cairo PDF: " + String(cString: cairo_status_to_string(status)))
        }
        return sink.data
    }

    /// The raster as an `RGBImage` (RGB24 is native-endian xRGB in 32-bit words).
    public func rgbImage() throws -> RGBImage {
        cairo_surface_flush(surface)
        let w = Int(cairo_image_surface_get_width(surface)), h = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard let base = cairo_image_surface_get_data(surface) else { throw CMRExportError.invalidImage("cairo: no raster data") }
        var out = RGBImage(width: w, height: h)
        for row in 0..<h {
            let p = (base + row * stride).withMemoryRebound(to: UInt32.self, capacity: w) { $0 }
            for col in 0..<w {
                let v = p[col], i = 3 * (row * w + col)
                out.bytes[i] = UInt8((v >> 16) & 0xff); out.bytes[i + 1] = UInt8((v >> 8) & 0xff); out.bytes[i + 2] = UInt8(v & 0xff)
            }
        }
        return out
    }
}
