import Foundation

/// One annotation of a WFDB annotation file: where (sample index at the record's sampling rate) and
/// what (the MIT code, e.g. 1 = normal beat, 5 = premature ventricular contraction).
public struct WFDBAnnotation: Sendable, Equatable {
    public var sample: Int
    public var code: Int
    public var subtype: Int
    public var channel: Int
    /// Auxiliary text, e.g. "(AFIB" for a rhythm change; nil when none.
    public var aux: String?

    public init(sample: Int, code: Int, subtype: Int = 0, channel: Int = 0, aux: String? = nil) {
        self.sample = sample; self.code = code; self.subtype = subtype; self.channel = channel; self.aux = aux
    }

    /// The symbol PhysioNet's tools print ("N", "V", "A", "+" …), "?" for a code without one.
    public var symbol: String { WFDBAnnotation.symbols[code] ?? "?" }

    /// True for annotations that mark a QRS complex (normal, bundle-branch, ectopic, paced, fusion,
    /// unclassified beats), false for rhythm, noise and signal-quality annotations.
    public var isBeat: Bool { WFDBAnnotation.beatCodes.contains(code) }

    /// Codes and symbols of WFDB's `ecgcodes.h`.
    static let symbols: [Int: String] = [
        1: "N", 2: "L", 3: "R", 4: "a", 5: "V", 6: "F", 7: "J", 8: "A", 9: "S", 10: "E", 11: "j", 12: "/",
        13: "Q", 14: "~", 16: "|", 18: "s", 19: "T", 20: "*", 21: "D", 22: "\"", 23: "=", 24: "p", 25: "B",
        26: "^", 27: "t", 28: "+", 29: "u", 30: "?", 31: "!", 32: "[", 33: "]", 34: "e", 35: "n", 36: "@",
        37: "x", 38: "f", 39: "(", 40: ")", 41: "r",
    ]
    static let beatCodes: Set<Int> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 34, 35, 38]
}

/// Reads WFDB annotation files in MIT format (`100.atr`): a stream of 16-bit little-endian words,
/// each with a 6-bit code and a 10-bit sample increment; codes 59–63 are escapes (SKIP carries a
/// 32-bit increment, NUM/SUB/CHN set fields of the next annotation, AUX carries text); a zero word ends.
public enum WFDBAnnotationReader {
    /// Extensions looked for beside a record, in order: reference beat labels first.
    public static let companionExtensions = ["atr", "qrs", "ecg"]

    /// The annotation file next to a WFDB record (`100.hea` → `100.atr`), nil when there is none.
    public static func companion(of recordURL: URL) -> URL? {
        let stem = recordURL.deletingPathExtension()
        for ext in companionExtensions {
            let url = stem.appendingPathExtension(ext)
            if FileManager.default.isReadableFile(atPath: url.path) { return url }
        }
        return nil
    }

    public static func read(url: URL) throws -> [WFDBAnnotation] {
        try parse(try readFileBytes(url, role: "annotation file"), file: url.lastPathComponent)
    }

    public static func parse(_ data: Data, file: String) throws -> [WFDBAnnotation] {
        let bytes = [UInt8](data)
        var out: [WFDBAnnotation] = []
        var i = 0
        var time = 0
        var channel = 0
        var pendingSubtype = 0
        func word(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        while i + 1 < bytes.count {
            let w = word(i)
            i += 2
            let code = w >> 10, value = w & 0x3FF
            if code == 0 && value == 0 { return out }
            switch code {
            case 59:  // SKIP: a 32-bit increment follows, high half first (PDP-11 order).
                guard i + 3 < bytes.count else {
                    throw ECGFormatError(.truncated, file: file, "SKIP annotation without its 4-byte interval", at: "byte \(i - 2)")
                }
                let skip = Int(Int32(bitPattern: UInt32(word(i)) << 16 | UInt32(word(i + 2))))
                i += 4
                time += skip
            case 60: break  // NUM: annotator-defined number, not shown
            case 61: pendingSubtype = value
            case 62: channel = value
            case 63:  // AUX text of the previous annotation, padded to an even length.
                let end = i + value
                guard end <= bytes.count else {
                    throw ECGFormatError(.truncated, file: file, "AUX text of \(value) bytes runs past the end", at: "byte \(i - 2)")
                }
                let text = String(decoding: bytes[i..<end].prefix { $0 != 0 }, as: UTF8.self)
                if !out.isEmpty { out[out.count - 1].aux = TerminalText.sanitize(text) }
                i = end + (value & 1)
            default:
                time += value
                guard time >= 0 else {
                    throw ECGFormatError(.invalidValue, file: file, "annotation before the record start (sample \(time))", at: "byte \(i - 2)")
                }
                out.append(WFDBAnnotation(sample: time, code: code, subtype: pendingSubtype, channel: channel))
                pendingSubtype = 0
            }
            guard out.count <= ReaderLimits.maxAnnotations else {
                throw ECGFormatError(.invalidValue, file: file, "more than \(ReaderLimits.maxAnnotations) annotations", at: "byte \(i)")
            }
        }
        // A file without the terminating zero word is still usable up to its last whole annotation.
        return out
    }
}
