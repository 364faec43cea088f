import ECGFormats
import Foundation
import Workstation

/// The TUI's trace view fed what a reader can hand it: samples from raw Float32 bit patterns (NaN
/// gaps, ±3.4e38, subnormals), any rate the readers admit, any lead set, and the bytes choose the
/// panel size, layout, paper speed and gain, the window start, the cursor and caliper and beat marks.
/// Only traps (an `Int(nan)`), hangs and runaway memory are findings.
///
/// Layout: [0] lead count, [1...4] rate, [5] width, [6] height, [7] layout/speed/gain, [8...11] view
/// start, [12] cursor, then the samples as little-endian Float32, lead-major.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceView(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var bytes = ByteStream(Array(UnsafeRawBufferPointer(start: start, count: count)))
    let leadCount = 1 + Int(bytes.byte() % 15)
    let rate = readerRate(bytes.uint32())
    let width = 12 + Int(bytes.byte())
    let height = 2 + Int(bytes.byte() % 80)
    let mode = bytes.byte()
    let viewStart = Double(Float(bitPattern: bytes.uint32()))
    let cursor = bytes.byte()
    let samples = bytes.restFloat32()
    let perLead = samples.count / leadCount
    guard perLead > 0 else { return 0 }
    let names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "MLII", "V", "Z"]
    let leads = (0..<leadCount).map { k in
        Lead(parsing: names[(k + Int(mode >> 5)) % names.count], millivolts: Array(samples[(k * perLead)..<((k + 1) * perLead)]))
    }
    guard let record = try? ECGRecord.canonical(storedLeads: leads, samplingRate: rate, metadata: ECGMetadata(),
                                                provenance: Provenance(format: .csv, path: "/fuzz/trace.csv", sha256: "")) else {
        // ±∞ never leaves a reader, but the view must not trap on it either: draw the raw leads.
        draw(ECGRecord(leads: leads, samplingRate: rate, metadata: ECGMetadata(),
                       provenance: Provenance(format: .csv, path: "/fuzz/trace.csv", sha256: "")),
             width: width, height: height, mode: mode, viewStart: viewStart, cursor: cursor)
        return 0
    }
    draw(record, width: width, height: height, mode: mode, viewStart: viewStart, cursor: cursor)
    return 0
}

func draw(_ record: ECGRecord, width: Int, height: Int, mode: UInt8, viewStart: Double, cursor: UInt8) {
    var settings = PaperSettings()
    settings.speedMillimetresPerSecond = PaperSettings.speeds[Int(mode % 4)]
    settings.gainMillimetresPerMillivolt = PaperSettings.gains[Int((mode >> 2) % 5)]
    let seconds = Double(record.sampleCount) / record.samplingRate
    var overlay = TraceOverlay(selectedLead: record.leads.first?.id,
                               cursorSeconds: Double(cursor) / 25, caliperStartSeconds: cursor > 128 ? 0.5 : nil,
                               viewStartSeconds: viewStart.isFinite ? min(max(0, viewStart), seconds) : 0)
    overlay.showsTimeAxis = mode & 0x80 != 0
    overlay.beatMarks = stride(from: 0.0, to: min(seconds, 20), by: 0.8).map { ($0, "N") }
    overlay.gradCAM = mode & 0x40 != 0 ? { _, t in Float(t.truncatingRemainder(dividingBy: 1)) } : nil
    var grid = CellGrid(width: width, height: height)
    let layout: TraceLayout = mode & 0x10 != 0 ? .single(record.leads.last?.id ?? .ii) : .standard12
    _ = TraceView.render(record: record, layout: layout, settings: settings, overlay: overlay,
                         into: &grid, area: Rect(x: 0, y: 0, width: width, height: height), theme: .standard)
}
/// The rates a reader can produce, concentrated on the edges of the admitted range and on the
/// DICOM writer's 200–1000 Hz.
func readerRate(_ raw: UInt32) -> Double {
    switch raw % 6 {
    case 0: return 1
    case 1: return 100_000
    case 2: return 1 + Double(raw >> 3) / Double(UInt32.max >> 3) * 99_999
    case 3: return 500
    case 4: return 200 + Double((raw >> 3) % 801)
    default: return 257.3
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
    /// The rest as little-endian Float32 bit patterns (every float, NaN and ±∞ included).
    mutating func restFloat32() -> [Float] {
        guard index < bytes.count else { return [] }
        let tail = Array(bytes[index...])
        return stride(from: 0, to: tail.count - 3, by: 4).map {
            Float(bitPattern: UInt32(tail[$0]) | UInt32(tail[$0 + 1]) << 8 | UInt32(tail[$0 + 2]) << 16 | UInt32(tail[$0 + 3]) << 24)
        }
    }
}
