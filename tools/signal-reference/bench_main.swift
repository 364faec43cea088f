// Benchmark driver for SignalKit (built by tools/signal-reference/benchmark.sh with swiftc -O).
// Reads a lead-major float32 blob (12 × n), runs each pipeline `iterations` times and prints
// the median wall time per ECG in milliseconds as JSON lines.
import Foundation

let args = CommandLine.arguments
guard args.count >= 4, let leads = Int(args[2]), let fs = Double(args[3]) else {
    FileHandle.standardError.write("usage: bench BLOB LEADS RATE [ITERATIONS]\n".data(using: .utf8)!)
    exit(2)
}
let iterations = args.count > 4 ? Int(args[4]) ?? 50 : 50
let blob = try Data(contentsOf: URL(fileURLWithPath: args[1]))
let all: [Float] = blob.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
let n = all.count / leads
let signals = (0..<leads).map { Array(all[($0 * n)..<(($0 + 1) * n)]) }

func time(_ name: String, _ body: () throws -> Void) rethrows {
    var samples: [Double] = []
    for _ in 0..<iterations {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    }
    samples.sort()
    print("{\"case\": \"\(name)\", \"medianMs\": \(samples[samples.count / 2])}")
}

let demo = SignalPipeline(ops: [.resample(rateHz: 250), .medianBaselineRemoval(windowsSeconds: [0.2, 0.6]),
                                 .cropOrPad(sampleCount: 2500, alignment: .start), .normalise(.scale(millivolts: 1), clip: 8)])
let cardiacNets = SignalPipeline(ops: [.resample(rateHz: 250), .medianBaselineRemoval(windowsSeconds: [0.2, 0.6]),
                                       .waveletDenoise(wavelet: "db6", level: nil), .savitzkyGolay(windowLength: 15, polyorder: 3),
                                       .normalise(.minMax, clip: nil)])
let filters = SignalPipeline(ops: [.notch(frequencyHz: 50, quality: 30), .bandpass(lowHz: 0.5, highHz: 40, order: 4)])
try time("demo pipeline (resample, median baseline, crop, scale) 12 leads") { _ = try demo.apply(leadMajor: signals, samplingRate: fs) }
try time("CardiacNets pipeline (resample, median, db6, savgol, minmax) 12 leads") { _ = try cardiacNets.apply(leadMajor: signals, samplingRate: fs) }
try time("notch + bandpass (filtfilt) 12 leads") { _ = try filters.apply(leadMajor: signals, samplingRate: fs) }
let detector = try RPeakDetector(samplingRate: fs)
try time("R-peaks lead II") { _ = try detector.detect(signals[1]) }
let assessor = try LeadQualityAssessor(samplingRate: fs)
time("quality flags 12 leads") { for s in signals { _ = assessor.assess(s) } }
