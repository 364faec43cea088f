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

    @Test func paperSizeFollowsTheMillimetreLayout() {
        let img = ECGPaperRenderer(pixelsPerMillimetre: 5).render(Self.record(), header: ["h"])
        #expect(img.width == 270 * 5)          // 5 + 10 + 250 + 5 mm
        #expect(img.height == (14 + 140 + 10) * 5)
    }

    @Test func oneMillivoltIsTenMillimetresAndTwentyFiveMillimetresPerSecond() {
        let ppm = 5
        let img = ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), header: [])
        let baseline = Int(((14.0 + 0.6 * 35.0) * Double(ppm)).rounded())
        // Lead I (row 0, column 0): the step is 1 mV high → 50 px above the baseline, at 1.0…1.2 s → x = 75 mm + 25…30 mm.
        let xMid = (15 + 27) * ppm
        #expect(img[xMid, baseline - 10 * ppm] == .black)
        #expect(img[xMid, baseline] != .black)
        // Calibration pulse: 10 mm tall at 7.5 … 12.5 mm from the left.
        #expect(img[10 * ppm, baseline - 10 * ppm] == .black)
        #expect(img[10 * ppm, baseline - 12 * ppm] != .black)
    }

    @Test func gridHasMajorLinesEveryFiveMillimetres() {
        let ppm = 5
        let img = ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), header: [])
        let y = 14 * ppm + 3 * ppm + 2     // inside the grid, off the horizontal lines
        #expect(img[20 * ppm, y] == .paperMajor)
        #expect(img[21 * ppm, y] == .paperMinor)
        #expect(img[21 * ppm + 2, y] == .white)
    }

    @Test func gradCAMTintsOnlyWhereTheMapIsPositive() {
        let ppm = 5
        var values = [Float](repeating: 0, count: 12 * 1000)
        for s in 100..<200 { values[s] = 1 }                 // lead I, 1…2 s at 100 Hz
        let h = ECGHighlight(label: "risk.cad", leads: LeadID.standard12, samplingRate: 100, sampleCount: 1000, values: values, recordOffsetSeconds: 0)
        let img = ECGPaperRenderer(pixelsPerMillimetre: ppm).render(Self.record(), highlight: h, header: [])
        let yBand = (14 + 2) * ppm + 2
        let tinted = img[(15 + 40) * ppm + 2, yBand]      // 1.6 s
        let plain = img[(15 + 60) * ppm + 2, yBand]       // 1.8 s … no: 60 mm = 2.4 s
        #expect(tinted.blue < 200 && tinted.red > 200)
        #expect(plain == .white)
    }
}
