/// A dot canvas drawn with braille characters: each cell holds 2×4 dots (drawille layout), so a
/// 100-column strip has 200 horizontal dots. One colour per cell: the style of a cell is chosen
/// by the caller when the canvas is copied into a grid.
public struct BrailleCanvas: Sendable {
    public let widthCells: Int
    public let heightCells: Int
    public var widthDots: Int { widthCells * 2 }
    public var heightDots: Int { heightCells * 4 }
    private(set) var bits: [UInt8]

    /// Bit for dot (column, row) inside a cell: U+2800 + OR of these.
    static let dotBits: [[UInt8]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]

    public init(widthCells: Int, heightCells: Int) {
        self.widthCells = max(0, widthCells)
        self.heightCells = max(0, heightCells)
        bits = Array(repeating: 0, count: self.widthCells * self.heightCells)
    }

    @inline(__always) public mutating func set(x: Int, y: Int) {
        guard x >= 0, y >= 0, x < widthDots, y < heightDots else { return }
        bits[(y >> 2) * widthCells + (x >> 1)] |= BrailleCanvas.dotBits[y & 3][x & 1]
    }

    public func isSet(x: Int, y: Int) -> Bool {
        guard x >= 0, y >= 0, x < widthDots, y < heightDots else { return false }
        return bits[(y >> 2) * widthCells + (x >> 1)] & BrailleCanvas.dotBits[y & 3][x & 1] != 0
    }

    /// Bresenham line; endpoints outside the canvas are clipped dot by dot (cheap at our sizes).
    public mutating func line(x0: Int, y0: Int, x1: Int, y1: Int) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x: x, y: y)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Vertical run at column x from y0 to y1 inclusive (joins steep QRS slopes without gaps).
    public mutating func verticalSpan(x: Int, y0: Int, y1: Int) {
        let lo = max(0, min(y0, y1)), hi = min(heightDots - 1, max(y0, y1))
        guard lo <= hi else { return }
        for y in lo...hi { set(x: x, y: y) }
    }

    /// The braille glyph of a cell, or nil when the cell has no dots.
    public func glyph(cellX: Int, cellY: Int) -> Unicode.Scalar? {
        let b = bits[cellY * widthCells + cellX]
        return b == 0 ? nil : Unicode.Scalar(0x2800 + UInt32(b))
    }

    /// Copies dotted cells into `grid` at (x, y); `style` picks the style per cell. Empty cells
    /// are left untouched (the closure gets the style underneath, e.g. to keep the paper's background) so whatever is underneath (ECG paper) shows through.
    public func draw(into grid: inout CellGrid, x: Int, y: Int, style: (_ cellX: Int, _ cellY: Int, _ underneath: CellStyle) -> CellStyle) {
        for cy in 0..<heightCells {
            for cx in 0..<widthCells {
                if let g = glyph(cellX: cx, cellY: cy) {
                    let under = grid[x + cx, y + cy].style
                    grid.put(g, x: x + cx, y: y + cy, style: style(cx, cy, under))
                }
            }
        }
    }
}
