/// The label burned into the pixels of every generated CMR image the exports write — DICOM frames,
/// PNG frames, montage panels, the animated preview and the contact sheet's thumbnails — so that
/// an image seen without its header or file name still says it is not an acquired MRI. One home
/// for the wording and the drawing: white DejaVu Sans (two-level, not anti-aliased, so the label's
/// pixels are exactly 0 or 255) on a black box in a corner.
public enum SyntheticLabel {
    public static let text = "GENERATED — NOT ACQUIRED"
    public static let shortText = "GENERATED"

    public enum Corner: Sendable { case topLeft, bottomLeft }

    /// Text scale (10-pixel em per step): 1 below 384 pixels, then one more per 384.
    public static func scale(forSize size: Int) -> Int { 1 + size / 384 }

    /// For thumbnails too small for "GENERATED" (the contact sheet's smallest).
    public static let tinyText = "GEN"

    /// The longest form that fits an image `size` pixels wide (measured in the font: `RasterText.width`).
    public static func fittingText(forSize size: Int) -> String {
        let s = scale(forSize: size)
        return [text, shortText].first { RasterText.width(of: $0, scale: s) + 2 * s <= size } ?? tinyText
    }

    /// x, y, width, height of the black box in the top-left corner (clipped to the image).
    public static func rect(forSize size: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        let s = scale(forSize: size)
        let t = fittingText(forSize: size)
        return (0, 0, min(size, RasterText.width(of: t, scale: s) + 2 * s), min(size, RasterText.capitalHeight(scale: s) + 3 * s))
    }

    /// The box in `corner` of a `width`×`height` image (sized from the width, as `rect(forSize:)`).
    public static func rect(width: Int, height: Int, corner: Corner) -> (x: Int, y: Int, width: Int, height: Int) {
        var r = rect(forSize: width)
        r.height = min(r.height, height)
        if corner == .bottomLeft { r.y = height - r.height }
        return r
    }

    public static func burn(into image: inout GreyImage, corner: Corner = .topLeft) {
        let s = scale(forSize: image.width)
        let r = rect(width: image.width, height: image.height, corner: corner)
        guard r.width > 0, r.height > 0 else { return }
        // Drawn into the box alone, so no ink falls outside the documented rectangle.
        var box = GreyImage(width: r.width, height: r.height, fill: 0)
        box.drawText(fittingText(forSize: image.width), x: s, y: s + s / 2, value: 255, scale: s, antialias: false)
        image.paste(box, x: r.x, y: r.y)
    }
}
