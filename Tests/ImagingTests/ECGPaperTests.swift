import ECGFormats
import Foundation
import Testing
@testable import Imaging

@Suite struct ECGPaperTests {
    /// 10 s at 500 Hz: flat leads, a 1 mV square step in lead I from 1 s to 1.2 s.
    static func record() -> ECGRecord {
        let n = 5000
        let leads = LeadID.standard12.map { id -> Lead in
            var mv = [Float](repeating: 0, count: n)
            if id == .i { for s in 500..<600 { mv[s] = 1 } }
            return Lead(id: id, millivolts: mv)
        }
        return ECGRecord(leads: leads, samplingRate: 500, metadata: ECGMetadata(),
                         provenance: Provenance(format: .csv, path: "/tmp/x.csv", sha256: "00"))
    }

    /// Anti-aliased traces: a line's pixels are dark, not necessarily pure black.
    static func isInk(_ c: RGBColor) -> Bool { max(c.red, c.green, c.blue) < 110 }

    @Test func paperSizeFollowsTheMillimetreLayout() throws {
        let img = try ECGPaperRenderer(pixelsPerMillimetre: 5).render(Self.record(), header: ["h"])
        #expect(img.width == 270 * 5)          // 5 + 10 + 250 + 5 mm
        #expect(img.height == (14 + 140 + 10) * 5)
    }

    @Test func oneMillivoltIsTenMillimetresAndTwentyFiveMillimetresPerSecond() throws {
        let ppm = 5
        let img = try ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), header: [])
        let baseline = Int(((14.0 + 0.6 * 35.0) * Double(ppm)).rounded())
        // Lead I (row 0, column 0): the step is 1 mV high → 50 px above the baseline, at 1.0…1.2 s → x = 75 mm + 25…30 mm.
        let xMid = (15 + 27) * ppm
        // The 0.3 mm stroke is centred on the exact position: ink on the row at 10 mm, none 1 mm off it.
        #expect(Self.isInk(img[xMid, baseline - 10 * ppm]))
        #expect(!Self.isInk(img[xMid, baseline - 11 * ppm]) && !Self.isInk(img[xMid, baseline - 9 * ppm]))
        #expect(!Self.isInk(img[xMid, baseline]))
        // Calibration pulse: 10 mm tall at 7.5 … 12.5 mm from the left.
        #expect(Self.isInk(img[10 * ppm, baseline - 10 * ppm]))
        #expect(!Self.isInk(img[10 * ppm, baseline - 12 * ppm]))
        // Its rising edge is at 7.5 mm: ink there, none 1 mm either side (half-way up).
        #expect(Self.isInk(img[Int(7.5 * Double(ppm)), baseline - 5 * ppm]))
        #expect(!Self.isInk(img[Int(6.5 * Double(ppm)), baseline - 5 * ppm]) && !Self.isInk(img[Int(8.5 * Double(ppm)), baseline - 5 * ppm]))
    }

    @Test func gridHasMajorLinesEveryFiveMillimetres() throws {
        let ppm = 5
        let img = try ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), header: [])
        let y = 14 * ppm + 3 * ppm + 2     // inside the grid, off the horizontal lines
        #expect(img[20 * ppm, y] == .paperMajor)
        #expect(img[21 * ppm, y] == .paperMinor)
        #expect(img[21 * ppm + 2, y] == .white)
        // Every millimetre of the 260 mm grid, from its left edge at 5 mm: a whole-pixel line in the paper
        // colour (at 20.4 mm from the top: below the lead labels, above the traces).
        let y2 = 20 * ppm + 2
        for mm in 0...260 where mm % 5 != 0 {
            #expect(img[(5 + mm) * ppm, y2] == .paperMinor, "minor line at \(mm) mm")
        }
        for mm in stride(from: 0, through: 260, by: 5) {
            #expect(img[(5 + mm) * ppm, y2] == .paperMajor, "major line at \(mm) mm")
        }
    }

    @Test func labelsAreSetInARealFont() throws {
        // Anti-aliased DejaVu Sans: the header text has intermediate greys, not only black and white.
        let img = try ECGPaperRenderer(pixelsPerMillimetre: 5).render(Self.record(), header: ["ecg2cmr synthetic demonstration model"])
        var levels = Set<UInt8>()
        for y in 0..<(13 * 5) { for x in 0..<(200 * 5) { let c = img[x, y]; if c.red == c.green && c.green == c.blue { levels.insert(c.red) } } }
        #expect(levels.contains { $0 < 60 } && levels.filter { $0 > 60 && $0 < 200 }.count > 10)
    }

    @Test func gradCAMTintsOnlyWhereTheMapIsPositive() throws {
        let ppm = 5
        var values = [Float](repeating: 0, count: 12 * 1000)
        for s in 100..<200 { values[s] = 1 }                 // lead I, 1…2 s at 100 Hz
        let h = ECGHighlight(label: "risk.cad", map: TestHighlightMap(leads: LeadID.standard12, samplingRate: 100, sampleCount: 1000,
                                                                     values: values, recordOffsetSeconds: 0))
        let img = try ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), highlight: h, header: [])
        let yBand = (14 + 2) * ppm + 2
        let tinted = img[(15 + 40) * ppm + 2, yBand]      // 1.6 s
        let plain = img[(15 + 60) * ppm + 2, yBand]       // 1.8 s … no: 60 mm = 2.4 s
        #expect(tinted.blue < 200 && tinted.red > 200)
        #expect(plain == .white)
    }
}

/// Reproducible text needs DejaVu Sans from its files (scripts/setup installs fonts-dejavu-core);
/// the fontconfig fallback still draws, but with each installation's rules.
@Suite struct FontSourceTests {
    @Test func dejaVuComesFromItsFontFiles() {
        #expect(CairoFonts.shared.fromFontFiles, "no DejaVuSans.ttf / DejaVuSans-Bold.ttf in \(CairoFonts.searchDirectories)")
    }
}
