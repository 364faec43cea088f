import ECGFormats
import Foundation

// Times WFDBReader.read(url:) — file read, header parse, decode to Float32 mV, checksum
// verification and SHA-256 provenance — on each record given; prints one JSON line per record.
// Usage: wfdb-read-bench [--iterations N] RECORD.hea ...
var iterations = 300
var sha = true
var paths: [String] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    if a == "--iterations", let n = args.popFirst().flatMap(Int.init) { iterations = max(1, n) }
    else if a == "--no-sha256" { sha = false } // decode only, as wfdb-python does (it hashes nothing)
    else { paths.append(a) }
}
if paths.isEmpty {
    FileHandle.standardError.write(Data("usage: wfdb-read-bench [--iterations N] RECORD.hea ...\n".utf8))
    exit(2)
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

for path in paths {
    let url = URL(fileURLWithPath: path)
    do {
        var checksum: Float = 0
        for _ in 0..<10 { checksum += try WFDBReader(computeSHA256: sha).read(url: url).leads[0].millivolts[0] } // warm-up
        var times: [Double] = []
        times.reserveCapacity(iterations)
        var shape = (0, 0)
        for _ in 0..<iterations {
            let t0 = now()
            let record = try WFDBReader(computeSHA256: sha).read(url: url)
            let t1 = now()
            times.append(Double(t1 - t0) / 1e6)
            checksum += record.leads[0].millivolts[record.sampleCount / 2]
            shape = (record.fileLeadOrder.count, record.sampleCount)
        }
        times.sort()
        let median = times[times.count / 2], best = times[0]
        print("{\"record\": \"\(url.lastPathComponent)\", \"leads\": \(shape.0), \"samples\": \(shape.1), \"iterations\": \(iterations), \"sha256\": \(sha), \"median_ms\": \(String(format: "%.4f", median)), \"min_ms\": \(String(format: "%.4f", best)), \"sink\": \(checksum.isFinite ? 1 : 0)}")
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }
}
