import Foundation

/// What the layouts need of a cine loop: frames of floats in 0…1, row-major. A protocol so that
/// they lay out the generator's own loops (`CardiacModels.CineLoop` conforms in CMRExport)
/// without depending on the engine.
public protocol CineFrameSequence: Sendable {
    /// The view's name on sheets, e.g. "SAX".
    var label: String { get }
    var width: Int { get }
    var height: Int { get }
    var frames: [[Float]] { get }
}

/// End-diastole and end-systole frame indices.
///
/// Rule: in a bright-blood cine the LV cavity is the bright centre of the short-axis view, so
/// the mean grey level of the central region (the middle half of the frame in each direction)
/// tracks blood-pool area. ED = frame with the largest central mean, ES = frame with the
/// smallest; ties go to the earliest frame. The LAX loop is rendered at the same cardiac phases,
/// so it uses the same indices.
public struct CardiacPhases: Sendable, Codable, Equatable {
    public var endDiastoleFrame: Int
    public var endSystoleFrame: Int
    public static let rule = "ED/ES = frames with the largest/smallest mean grey level in the central region (middle half in x and y) of the SAX generator frames; ties to the earliest frame; LAX uses the same indices"

    public init(endDiastoleFrame: Int, endSystoleFrame: Int) {
        self.endDiastoleFrame = endDiastoleFrame; self.endSystoleFrame = endSystoleFrame
    }

    public static func detect(in cine: some CineFrameSequence) -> CardiacPhases {
        guard !cine.frames.isEmpty else { return CardiacPhases(endDiastoleFrame: 0, endSystoleFrame: 0) }
        let x0 = cine.width / 4, x1 = max(x0 + 1, cine.width - cine.width / 4)
        let y0 = cine.height / 4, y1 = max(y0 + 1, cine.height - cine.height / 4)
        var means: [Double] = []
        for frame in cine.frames {
            var sum = 0.0
            for y in y0..<y1 { for x in x0..<x1 { sum += Double(frame[y * cine.width + x]) } }
            means.append(sum / Double((x1 - x0) * (y1 - y0)))
        }
        var ed = 0, es = 0
        for i in means.indices {
            if means[i] > means[ed] { ed = i }
            if means[i] < means[es] { es = i }
        }
        return CardiacPhases(endDiastoleFrame: ed, endSystoleFrame: es)
    }
}

public enum CineLayouts {
    /// Fits `image` into a `size`×`size` square keeping its aspect ratio, centred on black.
    public static func fitted(_ image: GreyImage, size: Int, filter: ResamplingFilter) throws -> GreyImage {
        let scale = Double(size) / Double(max(image.width, image.height))
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        let scaled = try Resampler.resample(image, toWidth: w, height: h, filter: filter)
        var out = GreyImage(width: size, height: size)
        out.paste(scaled, x: (size - w) / 2, y: (size - h) / 2)
        return out
    }

    /// Side-by-side montage: panels left to right (SAX | LAX | real), `gap` black pixels between,
    /// each panel labelled in its top-left corner.
    public static func montage(_ panels: [(label: String, image: GreyImage)], gap: Int = 4) -> GreyImage {
        let height = panels.map(\.image.height).max() ?? 1
        let width = panels.map(\.image.width).reduce(0, +) + gap * max(0, panels.count - 1)
        var out = GreyImage(width: max(1, width), height: height)
        var x = 0
        for panel in panels {
            out.paste(panel.image, x: x, y: 0)
            defer { x += panel.image.width + gap }
            guard !panel.label.isEmpty else { continue }
            let scale = max(1, panel.image.height / 128)
            // Dark backing so the label reads on bright tissue.
            out.fillRect(x: x, y: 0, width: min(panel.image.width, RasterText.width(of: panel.label, scale: scale) + 4 * scale),
                         height: RasterText.capitalHeight(scale: scale) + 4 * scale, value: 0)
            out.drawText(panel.label, x: x + 2 * scale, y: 2 * scale, value: 255, scale: scale)
        }
        return out
    }

    /// Every frame of each loop in a grid (`columns` per row, loops one below the other), frame
    /// numbers under the thumbnails, ED framed green and ES framed red. Drawn by cairo in pixel units
    /// (DejaVu Sans labels; thumbnails copied pixel for pixel; frames whole-pixel, unblended).
    public static func contactSheet(_ loops: [any CineFrameSequence], phases: CardiacPhases, thumbnail: Int = 96, columns: Int = 10,
                                    filter: ResamplingFilter, title: String) throws -> RGBImage {
        let margin = 8, labelHeight = 12, sectionHeader = 18, titleHeight = 20
        let cellW = thumbnail + 6, cellH = thumbnail + 6 + labelHeight
        var rowsPerLoop: [Int] = loops.map { ($0.frames.count + columns - 1) / columns }
        rowsPerLoop = rowsPerLoop.map { max(1, $0) }
        let width = 2 * margin + columns * cellW
        let height = titleHeight + margin + rowsPerLoop.reduce(0) { $0 + sectionHeader + $1 * cellH } + margin
        let g = try CairoCanvas(pixelWidth: width, pixelHeight: height)
        g.fill(x: 0, y: 0, width: Double(width), height: Double(height), color: RGBColor(24, 24, 24))
        let em = RasterText.emPixels, cap = RasterText.capHeight * RasterText.emPixels
        // Text positions below are the top of the capitals, as for the raster labels.
        func label(_ s: String, x: Int, top: Int, color: RGBColor, maxWidth: Int) {
            g.text(g.fitted(s, width: Double(maxWidth), size: em), x: Double(x), y: Double(top) + cap, size: em, color: color)
        }
        label(title, x: margin, top: 6, color: .white, maxWidth: width - 2 * margin)
        var y = titleHeight + margin
        for (loopIndex, loop) in loops.enumerated() {
            label("\(loop.label)  \(loop.width)x\(loop.height)  \(loop.frames.count) frames", x: margin, top: y + 2,
                  color: RGBColor(200, 200, 200), maxWidth: width - 2 * margin)
            y += sectionHeader
            for (i, frame) in loop.frames.enumerated() {
                let cx = margin + (i % columns) * cellW, cy = y + (i / columns) * cellH
                var thumb = try Resampler.resample(frame, width: loop.width, height: loop.height,
                                                   toWidth: thumbnail, height: thumbnail, filter: filter)
                // Every thumbnail is a generated frame: the label is in its pixels (SyntheticLabel).
                SyntheticLabel.burn(into: &thumb, corner: .bottomLeft)
                g.image(thumb, x: Double(cx + 3), y: Double(cy + 3), width: Double(thumbnail), height: Double(thumbnail), smooth: false)
                var mark = ""
                // A 3-pixel frame inside the cell: the path runs 1.5 px in, so the stroke covers whole pixels.
                if i == phases.endDiastoleFrame {
                    g.strokeRect(x: Double(cx) + 1.5, y: Double(cy) + 1.5, width: Double(thumbnail + 3), height: Double(thumbnail + 3),
                                 color: .endDiastole, lineWidth: 3)
                    mark = " ED"
                }
                if i == phases.endSystoleFrame {
                    g.strokeRect(x: Double(cx) + 1.5, y: Double(cy) + 1.5, width: Double(thumbnail + 3), height: Double(thumbnail + 3),
                                 color: .endSystole, lineWidth: 3)
                    mark += " ES"
                }
                let colour: RGBColor = mark.contains("ES") ? .endSystole : (mark.isEmpty ? RGBColor(170, 170, 170) : .endDiastole)
                label(String(format: "%03d", i) + mark, x: cx + 3, top: cy + thumbnail + 8, color: colour, maxWidth: cellW - 3)
            }
            y += rowsPerLoop[loopIndex] * cellH
        }
        return try g.rgbImage()
    }
}
