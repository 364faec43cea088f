import Foundation
import Testing
@testable import SignalKit

/// Every kernel against scipy / PyWavelets on the same input (fixtures from
/// tools/signal-reference/make_fixtures.py). Max errors are printed for the record.
@Suite struct FilterReferenceTests {
    let x = Fixtures.vector("x250")

    /// The fixtures hold 10 significant digits, so agreement can only be shown to ~1e-9 of the
    /// values' scale; `tolerance` is floored there.
    func check(_ name: String, _ got: [Double], _ want: [Double], tolerance: Double) {
        let scale = max(1, want.map(abs).max() ?? 1)
        let tolerance = max(tolerance, 1e-9 * scale)
        let e = maxAbsDiff(got, want)
        print("[signal-reference] \(name): max |Δ| = \(e) over \(want.count) values")
        #expect(e <= tolerance, "\(name): max |Δ| \(e) > \(tolerance)")
    }

    @Test func fixturesPresent() {
        #expect(x.count == 1000)
        #expect(Fixtures.vector("x360").count == 1440)
    }

    @Test func firwinKaiserMatchesScipy() {
        check("firwin(61, 1/3, kaiser 5)", firwinKaiser(taps: 61, cutoff: 1.0 / 3, beta: 5), Fixtures.vector("firwin_73_1_3"), tolerance: 1e-9)
    }

    @Test(arguments: [("x360", 360.0, 250.0, "resample_360_250"), ("x500", 500.0, 250.0, "resample_500_250"),
                      ("x250", 250.0, 500.0, "resample_250_500"), ("x250", 250.0, 360.0, "resample_250_360")])
    func resampleMatchesResamplePoly(input: String, from: Double, to: Double, key: String) throws {
        let r = try PolyphaseResampler(fromRateHz: from, toRateHz: to)
        check("resample_poly \(from)→\(to)", r.apply(Fixtures.vector(input)), Fixtures.vector(key), tolerance: 1e-9)
        // The Float path used on records stays within Float rounding.
        #expect(maxAbsDiff(r.apply(Fixtures.floats(input)), Fixtures.vector(key)) < 1e-5)
    }

    @Test func resampleFactorsAndLength() throws {
        #expect(try PolyphaseResampler.factors(fromRateHz: 360, toRateHz: 250) == (25, 36))
        #expect(try PolyphaseResampler.factors(fromRateHz: 500, toRateHz: 250) == (1, 2))
        #expect(try PolyphaseResampler.factors(fromRateHz: 499.75, toRateHz: 250) == (1000, 1999))
        #expect(throws: SignalError.self) { try PolyphaseResampler(fromRateHz: 257.301, toRateHz: 250) }
        #expect(try PolyphaseResampler(fromRateHz: 500, toRateHz: 250).outputCount(for: 5001) == 2501)
        #expect(throws: SignalError.self) { try PolyphaseResampler(fromRateHz: 0, toRateHz: 250) }
        #expect(throws: SignalError.self) { try PolyphaseResampler(fromRateHz: .nan, toRateHz: 250) }
    }

    @Test func medianFiltersMatchNdimage() throws {
        check("median_filter size 7", try MedianFilter(windowLength: 7).apply(x), Fixtures.vector("median_7"), tolerance: 0)
        let removal = try MedianBaselineRemoval(windowsSeconds: [0.2, 0.6], samplingRate: 250)
        #expect(removal.windowLengths == [51, 151])
        check("median baseline 51/151", removal.apply(x), Fixtures.vector("median_51_151"), tolerance: 1e-9)
        #expect(throws: SignalError.self) { try MedianFilter(windowLength: 4) }
    }

    @Test func notchMatchesIirnotchAndFiltfilt() throws {
        let f = try NotchFilter(frequencyHz: 50, quality: 30, samplingRate: 250)
        check("iirnotch b", f.b, Fixtures.vector("notch_b"), tolerance: 1e-9)
        check("iirnotch a", f.a, Fixtures.vector("notch_a"), tolerance: 1e-9)
        check("filtfilt notch 50 Hz", try f.filtfilt(x), Fixtures.vector("notch_50_q30"), tolerance: 1e-9)
        let f60 = try NotchFilter(frequencyHz: 60, quality: 25, samplingRate: 360)
        check("iirnotch 60 Hz b", f60.b, Fixtures.vector("notch60_b"), tolerance: 1e-9)
        check("iirnotch 60 Hz a", f60.a, Fixtures.vector("notch60_a"), tolerance: 1e-9)
        #expect(throws: SignalError.self) { try NotchFilter(frequencyHz: 200, samplingRate: 250) }
    }

    @Test(arguments: [("butter_lp4_40_250", 4, FilterBand.lowpass(cutoffHz: 40), 250.0),
                      ("butter_hp2_05_250", 2, FilterBand.highpass(cutoffHz: 0.5), 250.0),
                      ("butter_bp2_5_15_360", 2, FilterBand.bandpass(lowHz: 5, highHz: 15), 360.0),
                      ("butter_lp3_30_500", 3, FilterBand.lowpass(cutoffHz: 30), 500.0),
                      ("butter_bp3_1_30_250", 3, FilterBand.bandpass(lowHz: 1, highHz: 30), 250.0),
                      ("butter_hp3_05_500", 3, FilterBand.highpass(cutoffHz: 0.5), 500.0)])
    func butterworthCoefficientsMatchButter(key: String, order: Int, band: FilterBand, fs: Double) throws {
        let f = try ButterworthFilter(order: order, band: band, samplingRate: fs)
        let (b, a) = f.sos.transferFunction
        let refB = Fixtures.vector(key + "_b"), refA = Fixtures.vector(key + "_a")
        // b can be tiny (≈1e-6): compare relative to its largest coefficient.
        let scale = refB.map(abs).max() ?? 1
        check("butter \(key) b (relative)", b.map { $0 / scale }, refB.map { $0 / scale }, tolerance: 1e-9)
        check("butter \(key) a", a, refA, tolerance: 1e-9)
    }

    @Test func bandpassPolesAndZeroPhaseOutput() throws {
        let f = try ButterworthFilter(order: 4, band: .bandpass(lowHz: 0.5, highHz: 40), samplingRate: 250)
        let poles = f.poles.sorted { ($0.re, $0.im) < ($1.re, $1.im) }
        let re = Fixtures.vector("bandpass4_05_40_poles_re"), im = Fixtures.vector("bandpass4_05_40_poles_im")
        let ref = zip(re, im).map { Complex($0, $1) }.sorted { ($0.re, $0.im) < ($1.re, $1.im) }
        check("butter bandpass poles (re)", poles.map(\.re), ref.map(\.re), tolerance: 1e-9)
        check("butter bandpass poles (im)", poles.map(\.im), ref.map(\.im), tolerance: 1e-9)
        let gain = (Fixtures.filters["bandpass4_05_40_gain"] as? NSNumber)?.doubleValue ?? 0
        #expect(abs(f.gain / gain - 1) < 1e-10)
        check("sosfiltfilt bandpass 0.5–40 Hz order 4", try f.filtfilt(x), Fixtures.vector("bandpass4_05_40"), tolerance: 1e-8)
        let hp = try ButterworthFilter(order: 2, band: .highpass(cutoffHz: 0.5), samplingRate: 250)
        check("sosfiltfilt highpass 0.5 Hz order 2", try hp.filtfilt(x), Fixtures.vector("highpass2_05"), tolerance: 1e-8)
        let lp = try ButterworthFilter(order: 3, band: .lowpass(cutoffHz: 30), samplingRate: 250)
        #expect(lp.sos.defaultPadLength == 12)  // odd order: scipy drops the origin pole/zero pair
        check("sosfiltfilt lowpass 30 Hz order 3", try lp.filtfilt(x), Fixtures.vector("lowpass3_30"), tolerance: 1e-8)
        let bp3 = try ButterworthFilter(order: 3, band: .bandpass(lowHz: 1, highHz: 30), samplingRate: 250)
        check("sosfiltfilt bandpass 1–30 Hz order 3", try bp3.filtfilt(x), Fixtures.vector("bandpass3_1_30"), tolerance: 1e-8)
        #expect(throws: SignalError.self) { try ButterworthFilter(order: 4, band: .bandpass(lowHz: 40, highHz: 0.5), samplingRate: 250) }
        #expect(throws: SignalError.self) { try f.filtfilt([1, 2, 3] as [Double]) }
    }

    @Test func savitzkyGolayMatchesSavgolFilter() throws {
        let f = try SavitzkyGolayFilter(windowLength: 15, polyorder: 3)
        check("savgol_coeffs(15, 3)", f.coefficients, Fixtures.vector("savgol_coeffs_15_3"), tolerance: 1e-9)
        check("savgol_filter 15/3 interp", try f.apply(x), Fixtures.vector("savgol_15_3"), tolerance: 1e-9)
        check("savgol_filter 11/2 interp", try SavitzkyGolayFilter(windowLength: 11, polyorder: 2).apply(x), Fixtures.vector("savgol_11_2"), tolerance: 1e-9)
        #expect(throws: SignalError.self) { try SavitzkyGolayFilter(windowLength: 14, polyorder: 3) }
        #expect(throws: SignalError.self) { try SavitzkyGolayFilter(windowLength: 5, polyorder: 5) }
        #expect(throws: SignalError.self) { try f.apply([1, 2, 3] as [Double]) }
    }

    @Test func waveletMatchesPyWavelets() throws {
        let w = Wavelet.db6
        check("db6 dec_lo", w.decompositionLowPass, Fixtures.vector("db6_dec_lo"), tolerance: 1e-9)
        let coeffs = w.wavedec(x, level: 4)
        let ref = Fixtures.matrix("wavedec4")
        #expect(coeffs.count == ref.count)
        for (k, (c, r)) in zip(coeffs, ref).enumerated() {
            check("wavedec db6 level 4 band \(k)", c, r, tolerance: 1e-9)
        }
        check("waverec round trip", Array(w.waverec(coeffs).prefix(x.count)), Fixtures.vector("waverec4_roundtrip"), tolerance: 1e-9)
        #expect(w.maxLevel(signalLength: x.count) == (Fixtures.filters["wavelet_default_level"] as? Int))
        check("db6 soft-threshold denoise (default level)", try WaveletDenoiser().apply(x), Fixtures.vector("wavelet_denoise_default"), tolerance: 1e-9)
        check("db6 soft-threshold denoise (level 4)", try WaveletDenoiser(level: 4).apply(x), Fixtures.vector("wavelet_denoise_l4"), tolerance: 1e-9)
        check("db6 denoise, odd length", try WaveletDenoiser(level: 5).apply(Fixtures.vector("x_odd")), Fixtures.vector("wavelet_denoise_odd"), tolerance: 1e-9)
        #expect(throws: SignalError.self) { try WaveletDenoiser().apply([1, 2, 3] as [Double]) }
    }

    @Test(arguments: [("minmax", NormalisationMode.minMax), ("zscore", .zScore), ("zscore-group", .zScoreGroup)])
    func normalisationModesMatchReference(name: String, mode: NormalisationMode) throws {
        let got = try Normaliser(mode: mode).apply(Fixtures.matrix("x250_two"))
        let want = Fixtures.matrix("normalise_" + name)
        check("normalise \(name)", got.flatMap { $0 }, want.flatMap { $0 }, tolerance: 1e-6)
    }

    @Test func normaliseEdgeCases() throws {
        let flat = try Normaliser(mode: .zScore).apply([[Double]](repeating: [0.5, 0.5, 0.5], count: 1))
        #expect(flat == [[0, 0, 0]])
        let scaled = try Normaliser(mode: .scale(millivolts: 2), clip: 8).apply([[0, 20, -20, 1] as [Double]])
        #expect(scaled == [[0, 8, -8, 0.5]])
        #expect(throws: SignalError.self) { try Normaliser(mode: .scale(millivolts: 0)) }
    }

    @Test func cropOrPadRecordsOffset() throws {
        let x: [Float] = (0..<10).map { Float($0) }
        #expect(try CropOrPad(sampleCount: 4).apply(x) == [0, 1, 2, 3])
        let centre = try CropOrPad(sampleCount: 4, alignment: .center)
        #expect(centre.apply(x) == [3, 4, 5, 6] && centre.offset(forInputCount: 10) == 3)
        let pad = try CropOrPad(sampleCount: 14, alignment: .center)
        #expect(pad.offset(forInputCount: 10) == -2)
        #expect(Array(pad.apply(x)[0..<3]) == [0, 0, 0] && Array(pad.apply(x)[2..<12]) == x)
        #expect(try CropOrPad(sampleCount: 12).apply(x).suffix(2) == [0, 0])
        #expect(throws: SignalError.self) { try CropOrPad(sampleCount: 0) }
    }
}
