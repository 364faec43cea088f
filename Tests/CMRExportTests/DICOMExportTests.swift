import CaseAnalysis
import CardiacModels
import ECGFormats
import Foundation
@testable import Imaging
import SignalKit
import Testing
@testable import CMRExport

/// `--dicom`: one multi-frame Secondary Capture per view whose frames are the PNG frames with the
/// documented label burned in, timed by the ECG's heart rate, with reproducible UIDs.
@Suite(.serialized) struct DICOMExportTests {
    /// Top-level elements of an explicit VR little endian Part 10 file (sequences skipped whole).
    static func elements(_ data: Data) throws -> [UInt32: (vr: String, value: [UInt8])] {
        let b = [UInt8](data)
        try #require(b.count > 132 && String(decoding: b[128..<132], as: UTF8.self) == "DICM")
        var p = 132, out: [UInt32: (String, [UInt8])] = [:]
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        while p + 8 <= b.count {
            let tag = UInt32(u16(p)) << 16 | UInt32(u16(p + 2))
            let vr = String(decoding: b[(p + 4)..<(p + 6)], as: UTF8.self)
            var len: Int, start: Int
            if ["OB", "OW", "SQ", "UT", "UN", "UC", "UR", "OD", "OF", "OL"].contains(vr) {
                len = u16(p + 8) | u16(p + 10) << 16; start = p + 12
            } else { len = u16(p + 6); start = p + 8 }
            try #require(start + len <= b.count)
            out[tag] = (vr, Array(b[start..<(start + len)]))
            p = start + len
        }
        return out
    }

    static func text(_ e: (vr: String, value: [UInt8])?) -> String {
        String(decoding: e?.value ?? [], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
    }

    @Test func dicomCinesMatchThePNGFramesOutsideTheLabel() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        var options = CaseExportTests.options()
        options.dicom = true
        let exporter = try CaseExporter(cases: try CaseExportTests.cases(), options: options)
        let result = try exporter.export(record: record, into: out)
        let m = result.manifest
        let series = try #require(m.dicom)
        #expect(series.views.map(\.path) == ["dicom/sax.dcm", "dicom/lax.dcm"])
        #expect(m.files.contains { $0.path == "dicom/sax.dcm" } && m.files.contains { $0.path == "dicom/lax.dcm" })
        let hr = try #require(CaseExporter.cineHeartRate(GlobalMeasurer.attempt(record).measurements).bpm as Double?)
        #expect(abs(series.frameTimeMilliseconds - 60000 / hr / 20) < 1e-9)
        for view in series.views {
            let e = try Self.elements(try Data(contentsOf: result.caseDirectory.appendingPathComponent(view.path)))
            #expect(Self.text(e[0x0008_0016]) == "1.2.840.10008.5.1.4.1.1.7.2")
            #expect(Self.text(e[0x0008_0018]) == view.sopInstanceUID)
            #expect(Self.text(e[0x0020_000D]) == series.studyInstanceUID)
            #expect(Self.text(e[0x0008_0008]) == "DERIVED\\SECONDARY")
            #expect(Self.text(e[0x0008_103E]).contains("SYNTHETIC"))
            #expect(Self.text(e[0x0020_4000]).contains(record.provenance.sha256))
            #expect(Self.text(e[0x0020_4000]).contains(exporter.model.id))
            #expect(Self.text(e[0x0010_0020]) == "ANONYMOUS")
            #expect(Self.text(e[0x0028_0008]) == "20")
            #expect(Double(Self.text(e[0x0018_1063])).map { abs($0 - series.frameTimeMilliseconds) < 1e-6 } == true)
            let src = view.view == "SAX" ? 16 : 24
            let spacing = (view.view == "SAX" ? 1.55 : 1.6) * Double(src) / 48
            #expect(Self.text(e[0x0028_0030]).split(separator: "\\").compactMap { Double($0) }.allSatisfy { abs($0 - spacing) < 1e-9 })
            let pixels = try #require(e[0x7FE0_0010]?.value)
            #expect(pixels.count == 20 * 48 * 48)
            let r = view.labelRect
            for i in [0, 7, 19] {
                let png = try PNGCodec.decodeGrey(contentsOf: result.caseDirectory.appendingPathComponent("\(view.view.lowercased())/" + CaseExporter.frameFileName(i)))
                var label = 0
                for y in 0..<48 { for x in 0..<48 {
                    let d = pixels[i * 48 * 48 + y * 48 + x]
                    if x >= r[0] && x < r[0] + r[2] && y >= r[1] && y < r[1] + r[3] { #expect(d == 0 || d == 255); if d == 255 { label += 1 } }
                    else { #expect(d == png[x, y]) }
                } }
                #expect(label > 20)
            }
        }
        // Regeneration reproduces the DICOM bytes (name-based UIDs, no wall-clock dates).
        let again = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: again) }
        let (_, mismatched) = try CaseExporter.regenerate(manifestAt: result.caseDirectory.appendingPathComponent("manifest.json"), into: again,
                                                          modelDirectory: exporter.model.directory)
        #expect(mismatched.isEmpty)
        // Another seed: other UIDs.
        var other = options; other.seed = 4
        let r2 = try CaseExporter(cases: exporter.caseAnalysis, options: other).export(record: record, into: try CaseExportTests.tempDir())
        #expect(r2.manifest.dicom?.studyInstanceUID != series.studyInstanceUID)
    }

    @Test func patientIdentifiersOnlyWithIncludePHI() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        var record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        record.metadata.patientID = "PAT-4711"
        var options = CaseExportTests.options()
        options.dicom = true; options.includePHI = true
        let result = try CaseExporter(cases: try CaseExportTests.cases(), options: options).export(record: record, into: out)
        let e = try Self.elements(try Data(contentsOf: result.caseDirectory.appendingPathComponent("dicom/sax.dcm")))
        #expect(Self.text(e[0x0010_0020]) == "PAT-4711")
        #expect(Self.text(e[0x0010_1010]).hasSuffix("Y"))
    }

    @Test func reportGoesOutAsEncapsulatedPDFInTheCinesStudy() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        var options = CaseExportTests.options()
        options.dicom = true; options.pdfPaper = .a4
        let result = try CaseExporter(cases: try CaseExportTests.cases(), options: options).export(record: record, into: out)
        let series = try #require(result.manifest.dicom)
        let report = try #require(series.report)
        #expect(report.path == "dicom/report.dcm" && report.encapsulates == "report.pdf")
        #expect(result.manifest.files.contains { $0.path == "dicom/report.dcm" && $0.kind == "report-dicom" })
        let pdf = try Data(contentsOf: result.caseDirectory.appendingPathComponent("report.pdf"))
        let e = try Self.elements(try Data(contentsOf: result.caseDirectory.appendingPathComponent(report.path)))
        #expect(Self.text(e[0x0008_0016]) == DICOMReportWriter.sopClassUID)
        #expect(Self.text(e[0x0008_0018]) == report.sopInstanceUID)
        #expect(Self.text(e[0x0020_000D]) == series.studyInstanceUID)
        #expect(Self.text(e[0x0008_0060]) == "DOC")
        #expect(Self.text(e[0x0042_0012]) == "application/pdf")
        let doc = try #require(e[0x0042_0011]?.value)
        let length = try #require(e[0x0042_0015]?.value).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length == pdf.count && Data(doc.prefix(length)) == pdf && doc.count - length == pdf.count % 2)
        #expect(Self.text(e[0x0010_0020]) == "ANONYMOUS")
        // The cines are unchanged by --pdf: series 1 and 2, the report series 3, all UIDs distinct.
        let uids = series.views.flatMap { [$0.seriesInstanceUID, $0.sopInstanceUID] } + [report.seriesInstanceUID, report.sopInstanceUID]
        #expect(Set(uids).count == uids.count)
    }

    @Test func encapsulationRefusesWhatIsNotAPDF() {
        let context = DICOMReportWriter.Context(study: DICOMStudyFiling(studyInstanceUID: "2.25.1"), seriesInstanceUID: "2.25.2", sopInstanceUID: "2.25.3", seriesNumber: 1,
                                                modelID: "m", softwareVersion: "0", includePHI: false, metadata: ECGMetadata())
        #expect(throws: CMRExportError.self) { try DICOMReportWriter.encode(pdf: Data("<html>".utf8), context: context) }
        #expect(throws: Never.self) { try DICOMReportWriter.encode(pdf: Data("%PDF-1.5 odd".utf8), context: context) }
    }

    @Test func labelFitsEverySize() {
        for size in [16, 48, 256, 512, 1024] {
            let r = SyntheticLabel.rect(forSize: size)
            #expect(r.width <= size && r.height <= size && r.width > 0)
            var img = GreyImage(width: size, height: size, fill: 128)
            SyntheticLabel.burn(into: &img)
            #expect(img.pixels.contains(255))
            // Two-level label inside its box, the image untouched outside it.
            for y in 0..<size { for x in 0..<size {
                let inside = x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
                let v = img[x, y]
                if inside { #expect(v == 0 || v == 255) } else if v != 128 { Issue.record("pixel (\(x), \(y)) outside the label changed"); return }
            } }
        }
        #expect(CineGeometry.pixelSpacing(view: "SAX", sourceWidth: 80, outputWidth: 256) == 1.55 * 80 / 256)
    }
}
