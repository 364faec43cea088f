import ECGFormats
import Foundation

/// The three writers (CSV, WFDB format 16, DICOM waveform) fed what a reader can hand them: any
/// lead count and length, samples from raw Float32 bit patterns (NaN gaps, ±3.4e38, subnormals;
/// ±∞ too, which the writers must refuse), any rate the readers admit, lead names with commas,
/// quotes, CR, U+2028 and bidi controls, and an arbitrary age. Whatever a writer accepts must read
/// back through our own reader: a trap, or written bytes our reader cannot parse, is a finding
/// (the latter by `fatalError`, so libFuzzer keeps the input). A thrown error is a pass.
///
/// Layout: [0] lead count, [1...4] rate, [5] name choice, [6...13] age bits, then the samples as
/// little-endian Float32, lead-major.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWriters(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var bytes = ByteStream(Array(UnsafeRawBufferPointer(start: start, count: count)))
    let leadCount = 1 + Int(bytes.byte() % 15)
    let rate = readerRate(bytes.uint32())
    let nameChoice = bytes.byte()
    let age = Double(bitPattern: UInt64(bytes.uint32()) | UInt64(bytes.uint32()) << 32)
    let samples = bytes.restFloat32()
    let perLead = samples.count / leadCount
    guard perLead > 0 else { return 0 }
    let standard = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "X", "Y", "Z"]
    let odd = ["V1, chest", "II\"", "V2\r# Age: 999", "V3\u{2028}x 16 200", "\u{202E}V4", "aVR\t", "-aVR", "", "=cmd|' /C calc'!A0"]
    let leads = (0..<leadCount).map { k -> Lead in
        let name = nameChoice & (1 << (k % 8)) != 0 ? odd[(Int(nameChoice) + k) % odd.count] : standard[k]
        return Lead(parsing: name.isEmpty ? "signal\(k)" : name, millivolts: Array(samples[(k * perLead)..<((k + 1) * perLead)]))
    }
    var metadata = ECGMetadata()
    metadata.ageYears = age
    // As a reader builds it (validated: no ±∞, rate in range; duplicate names made distinct).
    guard let record = try? ECGRecord.canonical(storedLeads: leads, samplingRate: rate, metadata: metadata,
                                                provenance: Provenance(format: .csv, path: "/fuzz/writers.csv", sha256: "")) else { return 0 }

    // CSV: the text our reader reads back, with the rate stated in its comment line.
    do {
        let text = CSVWriter.csvText(record, rateComment: true)
        do { _ = try CSVReader(samplingRate: nil).read(data: Data(text.utf8), path: "/fuzz/out.csv") } catch {
            fatalError("CSV written but not readable: \(error)")
        }
    }
    // WFDB: header and .dat, read back from memory.
    if let out = try? WFDBWriter.encode(record, recordName: "fuzz") {
        do {
            _ = try WFDBReader().read(headerData: Data(out.header.utf8), headerURL: URL(fileURLWithPath: "/fuzz/fuzz.hea")) { name in
                name == "fuzz.dat" ? out.data : nil
            }
        } catch { fatalError("WFDB written but not readable: \(error)\n\(out.header)") }
    }
    // DICOM waveform.
    if let data = try? DICOMWaveformWriter.encode(record, options: .init(includePHI: true, now: Date(timeIntervalSince1970: 0))) {
        do { _ = try DICOMWaveformReader().read(data: data, path: "/fuzz/out.dcm") } catch {
            fatalError("DICOM written but not readable: \(error)")
        }
    }
    return 0
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
