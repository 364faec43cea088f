// Case naming: the one home of how an exported case folder and its frame files are named.

import ECGFormats
import Foundation

extension CaseExporter {
    /// The one home of case-folder naming (CLI `export`, `screen --with-cmr`, the TUI's export):
    /// a readable stem from the file name, then `-` and 8 hex digits of the input's SHA-256 (of its
    /// path when the reader computed no hash), so `A/ecg.hea` and `B/ecg.hea` exported into one
    /// folder get two cases and never replace each other, while re-exporting the same input maps to
    /// the same folder (and is skipped when complete).
    public static func caseName(for record: ECGRecord) -> String {
        caseStem(for: record) + "-" + inputTag(for: record)
    }

    /// The readable part of `caseName`: the file stem, or the case folder for files named `ecg.*`
    /// (letters, digits, `-`, `_`, `.`; no leading dot; at most 100 characters).
    public static func caseStem(for record: ECGRecord) -> String {
        let url = URL(fileURLWithPath: record.provenance.path)
        var stem = url.deletingPathExtension().lastPathComponent
        if stem.lowercased() == "ecg" || stem.lowercased().hasPrefix("ecg-") {
            let parent = url.deletingLastPathComponent().lastPathComponent
            if !parent.isEmpty && parent != "/" && parent != "." { stem = parent }
        }
        var name = String(stem.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) ? Character($0) : "_" })
        while name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? "case" : String(name.prefix(100))
    }

    static func inputTag(for record: ECGRecord) -> String {
        let sha = record.provenance.sha256
        if sha.count >= 8 { return String(sha.prefix(8)) }
        return String(SHA256Hex.of(Data(URL(fileURLWithPath: record.provenance.path).standardizedFileURL.path.utf8)).prefix(8))
    }

    /// `frame_000.png` … (three digits up to 999 frames).
    public static func frameFileName(_ index: Int) -> String { String(format: "frame_%03d.png", index) }
}
