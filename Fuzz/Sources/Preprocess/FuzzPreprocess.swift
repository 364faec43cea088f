import ECGFormats
import Foundation
import SignalKit

/// SignalKit fed what a reader can hand it: any lead count and length, any finite millivolt values
/// (a WFDB gain of 1e-30 makes 1e30 mV), and any sampling rate the readers admit (1 Hz – 100 kHz,
/// `ECGRecord` validation). The bytes choose the rate, the leads, the samples and a chain of
/// preprocessing ops with their parameters; then every SignalKit entry point the workstation calls
/// runs on the result. A thrown error is a pass — only traps, hangs and runaway memory are findings.
///
/// Layout: [0] lead count, [1...4] rate, [5] amplitude exponent, [6] op count, then 3 bytes per op,
/// then the samples as little-endian Int16, lead-major.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPreprocess(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var bytes = ByteStream(Array(UnsafeRawBufferPointer(start: start, count: count)))
    let leadCount = 1 + Int(bytes.byte() % 15)
    let rateHz = readerRate(bytes.uint32())
    let scale = Float(pow(10.0, Double(Int(bytes.byte() % 61) - 30)))   // 1e-30 … 1e30 mV per count
    let ops = (0..<Int(bytes.byte() % 8)).map { _ in op(bytes.byte(), bytes.byte(), bytes.byte()) }
    let samples = bytes.rest16()
    let perLead = samples.count / leadCount
    guard perLead > 0 else { return 0 }
    let names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "X", "Y", "Z"]
    let leads = (0..<leadCount).map { k in
        Lead(id: LeadID(parsing: names[k]), millivolts: samples[(k * perLead)..<((k + 1) * perLead)].map { Float($0) * scale })
    }
    let record = ECGRecord(leads: leads, samplingRate: rateHz, metadata: ECGMetadata(),
                           provenance: Provenance(format: .csv, path: "/fuzz/preprocess.csv", sha256: ""))

    // What `info`, `screen` and the TUI run on every record.
    let completed = LeadDerivation.completingLimbLeads(record)
    if let assessor = try? LeadQualityAssessor(samplingRate: rateHz) { _ = assessor.assess(completed) }
    _ = try? RPeakDetector.detect(in: completed)
    _ = try? GlobalMeasurer.measure(completed)

    // The model's preprocessing chain, then the beat features the beat-aware encoder reads.
    let wanted = LeadID.standard12
    guard let prepared = try? SignalPipeline(ops: ops).apply(to: completed, leads: wanted) else { return 0 }
    _ = try? BeatExtractor.extract(values: prepared.values, leadNames: wanted.map(\.description),
                                   sampleCount: prepared.sampleCount, samplingRate: prepared.samplingRate,
                                   spec: BeatFeatureSpec())
    return 0
}

/// The rates a reader can produce, concentrated on the edges of the admitted range.
func readerRate(_ raw: UInt32) -> Double {
    switch raw % 8 {
    case 0: return 1
    case 1: return 100_000
    case 2: return 1 + Double(raw >> 3) / Double(UInt32.max >> 3) * 99_999   // anywhere
    case 3: return 1 + Double((raw >> 3) % 64)                                   // very slow
    case 4: return 250
    case 5: return 500
    case 6: return 257 + Double((raw >> 3) % 2000) / 7                             // awkward ratios
    default: return 1000
    }
}

/// One preprocessing op with parameters from two bytes (valid and invalid values both reach it).
func op(_ kind: UInt8, _ a: UInt8, _ b: UInt8) -> PreprocessingOp {
    let x = Double(a), y = Double(b)
    switch kind % 11 {
    case 0: return .resample(rateHz: [250, 500, 100, 1000, 1, 360][Int(a % 6)] + (b > 200 ? y : 0))
    case 1: return .medianBaselineRemoval(windowsSeconds: [x / 100, y / 50])
    case 2: return .highpassBaselineRemoval(cutoffHz: x / 100, order: Int(b % 6))
    case 3: return .alsBaselineRemoval(lambda: pow(10, x / 20), p: y / 255, iterations: Int(a % 6))
    case 4: return .sigmaClip(sigmas: x / 16, scope: b % 2 == 0 ? .lead : .record)
    case 5: return .notch(frequencyHz: [50, 60, x][Int(b % 3)], quality: y / 4)
    case 6: return .bandpass(lowHz: x / 100, highHz: y, order: Int(a % 9))
    case 7: return .savitzkyGolay(windowLength: Int(a % 64), polyorder: Int(b % 8))
    case 8: return .waveletDenoise(wavelet: ["db6", "db4", "haar?"][Int(a % 3)], level: b > 128 ? nil : Int(b % 12))
    case 9: return .cropOrPad(sampleCount: Int(a) * Int(b) + 1, alignment: b % 2 == 0 ? .start : .center)
    default:
        let modes: [NormalisationMode] = [.zScore, .minMax, .zScoreGroup, .scale(millivolts: max(x, 1) / 10),
                                          .zScoreLeadGroups([["I", "II", "III"], ["aVR", "aVL", "aVF"], ["V1", "V2", "V3", "V4", "V5", "V6"]])]
        return .normalise(modes[Int(a % 5)], clip: b > 128 ? y / 16 : nil)
    }
}

/// Reads the input front to back; past the end it yields zeros, so every input is usable.
struct ByteStream {
    private let bytes: [UInt8]
    private var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func byte() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }
    mutating func uint32() -> UInt32 { (0..<4).reduce(UInt32(0)) { v, i in v | UInt32(byte()) << (8 * UInt32(i)) } }
    mutating func rest16() -> [Int16] {
        guard index < bytes.count else { return [] }
        let tail = bytes[index...]
        return stride(from: tail.startIndex, to: tail.endIndex - 1, by: 2).map { Int16(bitPattern: UInt16(tail[$0]) | UInt16(tail[$0 + 1]) << 8) }
    }
}
