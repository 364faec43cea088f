import CCairo

/// DejaVu Sans loaded from its font files through FreeType, unhinted, instead of through
/// fontconfig: a fontconfig match applies each installation's rules (hinting, sub-pixel order,
/// LCD filter, other installed DejaVu variants), so the same export drew different text pixels on
/// different machines. From the file, the glyphs depend only on the font and FreeType/cairo.
/// Where no DejaVu file is found, fontconfig's "DejaVu Sans" is used (still correct, only not
/// byte-reproducible across machines).
final class CairoFonts: @unchecked Sendable {
    // Immutable after init; cairo locks an FT face internally while it uses it.
    private var library: FT_Library?
    private var faces: [FT_Face] = []
    private let regular: OpaquePointer?
    private let bold: OpaquePointer?

    /// Debian/Ubuntu, Fedora, Arch, Alpine, and the macOS Homebrew layout.
    static let searchDirectories = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu-sans-fonts",
                                    "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF", "/usr/local/share/fonts"]

    /// Loaded once per process (font files do not change under a running program).
    static let shared = CairoFonts()

    private init() {
        var lib: FT_Library?
        guard FT_Init_FreeType(&lib) == 0, let lib else { library = nil; regular = nil; bold = nil; return }
        library = lib
        var loaded: [FT_Face] = []
        func face(_ file: String) -> OpaquePointer? {
            for dir in Self.searchDirectories {
                var f: FT_Face?
                guard FT_New_Face(lib, dir + "/" + file, 0, &f) == 0, let f else { continue }
                loaded.append(f)
                return cairo_ft_font_face_create_for_ft_face(f, Int32(FT_LOAD_NO_HINTING))
            }
            return nil
        }
        regular = face("DejaVuSans.ttf")
        bold = face("DejaVuSans-Bold.ttf")
        faces = loaded
    }

    /// Sets the font (and the machine-independent rendering options) on `cr`.
    func select(_ cr: OpaquePointer?, bold isBold: Bool, antialias: cairo_antialias_t) {
        if let face = isBold ? bold : regular {
            cairo_set_font_face(cr, face)
        } else {
            cairo_select_font_face(cr, CairoCanvas.fontFamily, CAIRO_FONT_SLANT_NORMAL,
                                   isBold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        }
        guard let options = cairo_font_options_create() else { return }
        cairo_font_options_set_antialias(options, antialias)
        cairo_font_options_set_subpixel_order(options, CAIRO_SUBPIXEL_ORDER_DEFAULT)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
    }

    /// Whether text comes from the font files (true) or from fontconfig's match (false).
    var fromFontFiles: Bool { regular != nil && bold != nil }
}
