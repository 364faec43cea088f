import ECGFormats
import Foundation
import Testing
@testable import SignalKit

@Suite struct LeadQualityTests {
    let fs = 500.0
    /// A clean synthetic ECG lead: 1 mV QRS spikes at 75 bpm.
    var clean: [Float] {
        (0..<5000).map { i in
            let t = Double(i) / fs
            let phase = t.truncatingRemainder(dividingBy: 0.8) - 0.4
            // Deterministic low-level "noise" (8 µV) so the trace is not mathematically flat.
            let hum = 0.008 * sin(Double(i) * 2.39996) * cos(Double(i) * 0.7071)
            return Float(1.0 * exp(-pow(phase / 0.012, 2)) + 0.2 * exp(-pow((phase - 0.25) / 0.05, 2)) + hum)
        }
    }

    @Test func cleanLeadHasNoFlags() throws {
        let flags = try LeadQualityAssessor(samplingRate: fs).assess(clean)
        #expect(flags.isEmpty, "\(flags)")
    }

    @Test func flatLine() throws {
        let flags = try LeadQualityAssessor(samplingRate: fs).assess([Float](repeating: 0.3, count: 5000))
        #expect(flags.count == 1)
        if case .flatLine = flags.first {} else { Issue.record("expected flatLine, got \(flags)") }
        #expect(flags.first?.makesLeadUnusable == true)
    }

    @Test func leadOff() throws {
        var x = clean
        for i in 2000..<3500 { x[i] = 0 }
        let flags = try LeadQualityAssessor(samplingRate: fs).assess(x)
        #expect(flags.contains { if case .leadOff(let s) = $0 { return s >= 2.5 } else { return false } }, "\(flags)")
    }

    @Test func saturation() throws {
        let x = clean.map { min($0 * 3, 1.5) }
        let flags = try LeadQualityAssessor(samplingRate: fs).assess(x)
        #expect(flags.contains { if case .saturation = $0 { return true } else { return false } }, "\(flags)")
        #expect(!flags.isEmpty && flags.allSatisfy { !$0.explanation.isEmpty })
    }

    @Test func noiseAndWander() throws {
        var rng = SystemRandomNumberGenerator()
        let noisy = clean.map { $0 + Float.random(in: -0.3...0.3, using: &rng) }
        let flags = try LeadQualityAssessor(samplingRate: fs).assess(noisy)
        #expect(flags.contains { if case .excessiveNoise = $0 { return true } else { return false } }, "\(flags)")
        let wander = clean.enumerated().map { $1 + Float(1.5 * sin(2 * Double.pi * 0.2 * Double($0) / fs)) }
        let wflags = try LeadQualityAssessor(samplingRate: fs).assess(wander)
        #expect(wflags.contains { if case .baselineWander = $0 { return true } else { return false } }, "\(wflags)")
    }

    @Test func realRecordsAreUsable() throws {
        for ref in RPeakTests.references {
            let flags = try LeadQualityAssessor(samplingRate: ref.samplingRate).assess(ref.millivolts)
            print("[quality] \(ref.record) lead \(ref.lead): \(flags.map(\.title))")
            #expect(!flags.contains { $0.makesLeadUnusable }, "\(ref.record): \(flags)")
        }
    }
}

/// Issue 15: a sampling rate a hostile file could carry never traps (`Int(0.25 * fs)` was SIGILL).
@Test func absurdSamplingRatesAreRefusedNotTrapped() throws {
    for fs in [3.8e19, .infinity, .nan, 0, -5, 1e6] {
        #expect(throws: SignalError.self) { try LeadQualityAssessor(samplingRate: fs) }
        #expect(throws: SignalError.self) { try RPeakDetector(samplingRate: fs) }
    }
    #expect(checkedInt(3.8e19) == 1 << 52 || checkedInt(3.8e19) > 0)
    #expect(checkedInt(.nan) == 0)
    #expect(oddWindow(seconds: 0.2, samplingRate: 1e300) > 0)
}
