import CaseAnalysis
@testable import CardiacModels
import ECGFormats
import Foundation
@testable import Imaging
import SignalKit
import Testing
@testable import CMRExport

/// The one-page PDF report: page size, determinism, millimetre geometry (rasterised through the same
/// drawing code), the honesty markings (weak heads, OOD, synthetic model) in the page text, and the
/// `export` job. tests/pdf/run.sh checks the real binary's PDFs with qpdf and poppler.
@Suite struct ECGReportTests {
    /// 10 s at 500 Hz: flat leads with a 1 mV square step in lead I from 1.0 s to 1.2 s.
    static func record(phi: Bool = true) -> ECGRecord {
        let n = 5000
        let leads = LeadID.standard12.map { id -> Lead in
            var mv = [Float](repeating: 0, count: n)
            if id == .i { for s in 500..<600 { mv[s] = 1 } }
            return Lead(id: id, millivolts: mv)
        }
        let meta = ECGMetadata(patientID: "PAT-0042", ageYears: 63, sex: .female, acquisitionTime: Date(timeIntervalSince1970: 1_700_000_000))
        return ECGRecord(leads: leads, samplingRate: 500, metadata: meta,
                         provenance: Provenance(format: .csv, path: "/tmp/report-test.csv", sha256: String(repeating: "ab", count: 32)))
    }

    static func analysis(outside: Bool) -> ECGAnalysis {
        func risk(_ o: String, _ label: String, _ p: Double, _ auc: Double) -> RiskScore {
            RiskScore(target: HeadTarget(head: "risk", output: o), label: label, probability: p, validationAUC: auc,
                      isWeak: auc < 0.65, bands: [0.3, 0.6], band: p >= 0.6 ? .high : p >= 0.3 ? .intermediate : .low)
        }
        var weakPheno = PhenotypeValue(target: HeadTarget(head: "phenotype", output: "t1"), label: "Native T1", value: 1100, unit: "ms",
                                       referenceRange: 950...1050, validationR: 0.21, isOutOfRange: true)
        weakPheno.isWeak = true
        return ECGAnalysis(modelID: "test-model", isSynthetic: true, embedding: [0.1, 0.2],
                           risks: [risk("cad", "Coronary artery disease", 0.72, 0.81), risk("amy", "Cardiac amyloidosis", 0.91, 0.58)],
                           subtypes: [],
                           phenotypes: [PhenotypeValue(target: HeadTarget(head: "phenotype", output: "lvef"), label: "LV ejection fraction",
                                                       value: 41.5, unit: "%", referenceRange: 52...72, validationR: 0.7, isOutOfRange: true),
                                        weakPheno],
                           rawHeads: [:],
                           outOfDistribution: OutOfDistributionVerdict(score: outside ? 1.8 : 0.4, embeddingDistance: 1, inputDistance: 1,
                                                                       embeddingThreshold: 1, inputThreshold: 1))
    }

    static func content(outside: Bool = false, phi: Bool = false, highlight: Bool = false) -> ECGReportContent {
        let frames = (0..<10).map { f in (0..<(16 * 16)).map { Float(($0 + f) % 16) / 15 } }
        let cine = CineLoop(view: .sax, width: 16, height: 16, frames: frames, phases: (0..<10).map { Double($0) / 10 })
        var h: ECGHighlight?
        if highlight {
            var values = [Float](repeating: 0, count: 12 * 1000)
            for s in 100..<200 { values[s] = 1 }                  // lead I, 1…2 s at 100 Hz
            h = ECGHighlight(label: "risk.cad", map: GradCAMMap(target: HeadTarget(head: "risk", output: "cad"), leads: LeadID.standard12,
                                                                samplingRate: 100, sampleCount: 1000, values: values, patchSamples: 50))
        }
        return ECGReportContent(record: record(), analysis: analysis(outside: outside), highlight: h, sax: cine, lax: cine,
                                phases: CardiacPhases(endDiastoleFrame: 0, endSystoleFrame: 5),
                                measurements: IntervalMeasurements(prMs: 160, qrsMs: 90, qtMs: 380, qtcBazettMs: 410, heartRateBpm: 70, source: "ecg2cmr"),
                                measurementNote: nil, modelID: "test-model", modelDisplayName: "Test model", modelFormatVersion: 2,
                                weightsSHA256: String(repeating: "cd", count: 32), isSynthetic: true, disclaimer: "synthetic",
                                softwareVersion: "0.1.0", seed: 1, includePHI: phi)
    }

    static func mediaBox(_ pdf: Data) -> (Double, Double)? {
        let s = String(decoding: pdf, as: UTF8.self)
        guard let r = s.range(of: #"/MediaBox \[ *0 0 ([0-9.]+) ([0-9.]+) *\]"#, options: .regularExpression) else { return nil }
        let nums = s[r].split(whereSeparator: { " []".contains($0) }).compactMap { Double($0) }
        return nums.count == 4 ? (nums[2], nums[3]) : nil
    }

    @Test func onePageOfExactlyA4OrLetterLandscape() throws {
        for (paper, w, h) in [(PaperSize.a4, 841.89, 595.28), (.letter, 792.0, 612.0)] {
            let pdf = try ECGReportWriter.pdf(Self.content(), paper: paper)
            #expect(pdf.starts(with: Data("%PDF-1.5".utf8)))
            let box = try #require(Self.mediaBox(pdf))
            #expect(abs(box.0 - w) < 0.01 && abs(box.1 - h) < 0.01, "\(paper): \(box)")
            #expect(String(decoding: pdf, as: UTF8.self).components(separatedBy: "/Type /Page\n").count - 1 <= 1)
            let layout = ECGReportLayout(paper: paper)
            #expect(layout.gridLeftMM >= 8 && layout.gridLeftMM + ECGReportLayout.gridWidthMM <= layout.pageWidthMM - 8)
        }
    }

    @Test func sameContentGivesTheSameBytes() throws {
        let a = try ECGReportWriter.pdf(Self.content(highlight: true))
        let b = try ECGReportWriter.pdf(Self.content(highlight: true))
        #expect(a == b)
        #expect(ECGReportWriter.creationDate(Self.content(phi: false)) == "2000-01-01T00:00:00Z")
    }

    /// The page drawn on a 10 px/mm raster by the same code: grid lines at every millimetre,
    /// 10 mm/mV and 25 mm/s on the lead I step, calibration pulse 10 mm tall, Grad-CAM tint.
    @Test func geometryIsMillimetreExact() throws {
        let layout = ECGReportLayout(paper: .a4)
        let ppm = 10.0
        let canvas = try CairoCanvas(rasterWidthMM: layout.pageWidthMM, heightMM: layout.pageHeightMM, pixelsPerMillimetre: ppm)
        ECGReportWriter.draw(Self.content(highlight: true), on: canvas, layout: layout, filter: .off)
        let img = try canvas.rgbImage()
        func px(_ xmm: Double, _ ymm: Double) -> RGBColor { img[Int((xmm * ppm).rounded(.down)), Int((ymm * ppm).rounded(.down))] }
        func isPink(_ c: RGBColor) -> Bool { Int(c.red) - Int(c.green) > 10 && abs(Int(c.green) - Int(c.blue)) < 10 }
        func isDark(_ c: RGBColor) -> Bool { c.red < 100 && c.green < 100 && c.blue < 100 }
        // Row 3 (V-lead columns aVF/V3/V6 are flat): sample between horizontal lines at y = +0.5 mm.
        let y = layout.gridTopMM + 2 * ECGReportLayout.rowMM + 7.5
        for k in stride(from: 12, through: 258, by: 1) where k % 5 != 0 {
            let x = layout.gridLeftMM + Double(k)
            #expect(isPink(px(x, y)), "minor line at \(k) mm")
            #expect(px(x + 0.5, y) == .white, "gap at \(k).5 mm")
        }
        #expect(Int(px(layout.gridLeftMM + 20, y).green) < Int(px(layout.gridLeftMM + 21, y).green), "5 mm lines darker")
        // Lead I: 1 mV step at 1.0–1.2 s → 10 mm above the baseline, x = traces + 25…30 mm.
        let base = layout.baselineMM(row: 0)
        #expect(isDark(px(layout.tracesLeftMM + 27.5, base - 10)))
        #expect(!isDark(px(layout.tracesLeftMM + 27.5, base - 11)))
        #expect(isDark(px(layout.tracesLeftMM + 35, base)))
        #expect(!isDark(px(layout.tracesLeftMM + 32.5, base - 10)))
        // Calibration pulse: 10 mm tall between 2.5 and 7.5 mm.
        #expect(isDark(px(layout.gridLeftMM + 5, base - 10)))
        #expect(!isDark(px(layout.gridLeftMM + 5, base - 11.5)))
        // Grad-CAM on lead I at 1…2 s (x = traces + 25…50 mm), not at 2.2 s.
        let tinted = px(layout.tracesLeftMM + 40.5, base - 5.5), plain = px(layout.tracesLeftMM + 55.5, base - 5.5)
        #expect(tinted.red > 240 && tinted.blue < 200, "\(tinted)")
        #expect(plain == .white, "\(plain)")
    }

    /// Issue 22: the diagnostic filter drew a 1–3 mV dive over the last second of II and V4–V6 of
    /// sample patient P01 (a filtfilt transient at the record's end). The page is rasterised through
    /// the same drawing code and the rhythm strip (lead II) is read back: over its last 0.5 s the
    /// trace stays within the vertical span it has over 0.5–9.5 s (1 mm = 0.1 mV slack). As a
    /// control, the same rule applied to the short odd padding (scipy's default `filtfilt`, what
    /// the page used before) fails by more than 0.5 mV.
    @Test func lastHalfSecondOfTheTraceHasNoFilterTransient() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let record = try ECGFileReader.read(url: root.appendingPathComponent("sample-data/P01-healthy/ecg.hea"))
        var content = Self.content()
        content = ECGReportContent(ecgOnly: record, measurements: nil, measurementNote: "not measured in this test",
                                   notApplicable: "test page", modelID: content.modelID, modelDisplayName: content.modelDisplayName,
                                   modelFormatVersion: 2, weightsSHA256: content.weightsSHA256, isSynthetic: true, disclaimer: "",
                                   softwareVersion: "0.1.0", seed: 1, includePHI: false)
        let layout = ECGReportLayout(paper: .a4)
        let ppm = 10.0
        let canvas = try CairoCanvas(rasterWidthMM: layout.pageWidthMM, heightMM: layout.pageHeightMM, pixelsPerMillimetre: ppm)
        ECGReportWriter.draw(content, on: canvas, layout: layout, filter: .diagnostic)
        let img = try canvas.rgbImage()
        // Rows of dark (trace) pixels in the rhythm strip's band, per column between two times.
        let bandTop = layout.gridTopMM + 3 * ECGReportLayout.rowMM + 5, bandBottom = layout.gridBottomMM - 0.2
        func span(from t0: Double, to t1: Double) -> (top: Double, bottom: Double) {
            var top = Double.infinity, bottom = -Double.infinity
            var x = layout.tracesLeftMM + t0 * 25
            while x < layout.tracesLeftMM + t1 * 25 {
                var y = bandTop
                while y < bandBottom {
                    let c = img[Int((x * ppm).rounded(.down)), Int((y * ppm).rounded(.down))]
                    if c.red < 100 && c.green < 100 && c.blue < 100 { top = min(top, y); bottom = max(bottom, y) }
                    y += 0.1
                }
                x += 0.1
            }
            return (top, bottom)
        }
        let body = span(from: 0.5, to: 9.5), tail = span(from: 9.5, to: 9.98)
        print("[filter-edge] P01 rhythm strip II, diagnostic filter: body \(body), last 0.5 s \(tail) (mm from the page top)")
        #expect(tail.bottom <= body.bottom + 1 && tail.top >= body.top - 1, "body \(body), last 0.5 s \(tail)")

        // Control on the samples: the old short odd padding leaves lead II's last 0.5 s far below its body.
        let ii = try #require(record.lead(.ii)).millivolts
        let design = try #require(try DisplayFilter.diagnostic.design(samplingRate: record.samplingRate))
        let fs = Int(record.samplingRate), n = ii.count
        let old = try design.sections.filtfilt(ii.map(Double.init))
        let new = design.sections.filtfiltMirrored(ii.map(Double.init))
        func dip(_ y: [Double]) -> Double { (y[(n - fs / 2)...].min() ?? 0) - (y[(fs / 2)..<(n - fs / 2)].min() ?? 0) }
        print("[filter-edge] P01 lead II, last 0.5 s minimum below the body minimum: short odd padding \(dip(old)) mV, mirrored over the settling time \(dip(new)) mV")
        #expect(dip(old) < -0.5)
        #expect(dip(new) > -0.1)
    }

    /// A record the model cannot read gets an ECG-only page that says why.
    @Test(.enabled(if: pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func ecgOnlyPageSaysWhyTheModelWasNotApplied() throws {
        var record = Self.record()
        record.leads = record.leads.filter { $0.id == .ii || $0.id == .v5 }
        let reason = "the model needs leads I, II, V1–V6; this record has II, V5"
        let content = ECGReportContent(ecgOnly: record, measurements: nil, measurementNote: "no beats", notApplicable: reason,
                                       modelID: "test-model", modelDisplayName: "Test model", modelFormatVersion: 2,
                                       weightsSHA256: String(repeating: "cd", count: 32), isSynthetic: true, disclaimer: "synthetic",
                                       softwareVersion: "0.1.0", seed: 1, includePHI: false)
        let text = try Self.text(try ECGReportWriter.pdf(content))
        #expect(text.contains("Model not applied"))
        #expect(text.contains("this record has II, V5"))
        #expect(!text.contains("Generated CMR"))
    }

    /// Issue 23: values measured around missing samples say so on the page, lead and time in full.
    @Test(.enabled(if: pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func measurementsAroundAGapSaySoOnThePage() throws {
        var record = Self.record()
        record.leads = record.leads.filter { $0.id == .ii || $0.id == .v5 }
        let measured = IntervalMeasurements(prMs: 160, qrsMs: 90, qtMs: 400, heartRateBpm: 60, source: "ecg2cmr",
                                            note: "measured around a 0.40 s gap in V5 at 4.00 s")
        let content = ECGReportContent(ecgOnly: record, measurements: measured, measurementNote: nil, notApplicable: "not in this test",
                                       modelID: "test-model", modelDisplayName: "Test model", modelFormatVersion: 2,
                                       weightsSHA256: String(repeating: "cd", count: 32), isSynthetic: true, disclaimer: "synthetic",
                                       softwareVersion: "0.1.0", seed: 1, includePHI: false)
        let text = try Self.text(try ECGReportWriter.pdf(content)).split(separator: " ").joined(separator: " ")
        #expect(text.contains("measured around a 0.40 s gap in V5 at 4.00 s"), "\(text)")
    }

    static let pdftotext = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func text(_ pdf: Data) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try pdf.write(to: dir.appendingPathComponent("r.pdf"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: pdftotext!)
        p.arguments = ["-layout", dir.appendingPathComponent("r.pdf").path, dir.appendingPathComponent("r.txt").path]
        try p.run(); p.waitUntilExit()
        return try String(contentsOf: dir.appendingPathComponent("r.txt"), encoding: .utf8)
    }

    /// A bundle with more outputs than the page has rows: the sections end with how many more the
    /// manifest holds, and the rows shown are the first ones.
    @Test(.enabled(if: pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func tooManyOutputsEndWithACountOfTheRest() throws {
        var content = Self.content()
        content.analysis?.risks = (0..<60).map { k in
            RiskScore(target: HeadTarget(head: "risk", output: "r\(k)"), label: "Risk number \(k)", probability: 0.1, validationAUC: 0.8,
                      isWeak: false, bands: [0.3, 0.6], band: .low)
        }
        content.analysis?.phenotypes = (0..<60).map { k in
            PhenotypeValue(target: HeadTarget(head: "phenotype", output: "p\(k)"), label: "Phenotype number \(k)", value: 1, unit: "mL",
                           referenceRange: 0...2, validationR: 0.8, isOutOfRange: false)
        }
        let plain = try Self.text(try ECGReportWriter.pdf(content))
        // The two sections sit side by side, so both counts can share a text line.
        #expect(plain.components(separatedBy: "more in manifest.json").count - 1 == 2, "one overflow count per section")
        #expect(plain.contains("Risk number 0") && plain.contains("Phenotype number 0"))
        #expect(!plain.contains("Risk number 59") && !plain.contains("Phenotype number 59"))
    }

    @Test(.enabled(if: pdftotext != nil, "needs pdftotext (poppler-utils; scripts/setup installs it)"))
    func pageTextCarriesTheHonestyMarkings() throws {
        let plain = try Self.text(try ECGReportWriter.pdf(Self.content()))
        let lines = plain.split(separator: "\n").map(String.init)
        #expect(plain.contains(ECGReportWriter.syntheticModelNotice))
        #expect(plain.contains(ECGReportWriter.generatedLabel))
        #expect(!plain.contains("WARNING"))
        #expect(plain.contains("identifiers withheld") && !plain.contains("PAT-0042"))
        #expect(plain.contains("AUC 0.81") && plain.contains("high"))
        // The weak head is marked weak on its own line and carries no band.
        let amy = try #require(lines.first { $0.contains("Cardiac amyloidosis") })
        #expect(amy.contains("weak") && amy.contains("AUC 0.58") && !amy.contains("high"))
        let t1 = try #require(lines.first { $0.contains("Native T1") })
        #expect(t1.contains("weak") && !t1.contains("↑"))
        let lvef = try #require(lines.first { $0.contains("LV ejection fraction") })
        #expect(lvef.contains("↓") && lvef.contains("52–72"))
        #expect(plain.contains("25 mm/s") && plain.contains("10 mm/mV") && plain.contains("filter 0.67–150 Hz"))
        #expect(plain.contains(String(repeating: "ab", count: 32)))

        let ood = try Self.text(try ECGReportWriter.pdf(Self.content(outside: true, phi: true)))
        #expect(ood.contains("WARNING"))
        #expect(ood.contains("out of distribution"))
        #expect(ood.contains("PAT-0042") && ood.contains("age 63") && ood.contains("sex female"))
    }

    @Test func exportWritesReportPDFWhenAsked() throws {
        let out = try CaseExportTests.tempDir(); defer { try? FileManager.default.removeItem(at: out) }
        let record = try ECGFileReader.read(url: CaseExportTests.recordURL)
        var options = CaseExportTests.options()
        options.frames = .edES
        options.pdfPaper = .letter
        let exporter = try CaseExporter(cases: try CaseExportTests.cases(), options: options)
        let result = try exporter.export(record: record, into: out)
        let entry = try #require(result.manifest.files.first { $0.path == "report.pdf" })
        #expect(entry.kind == "report-pdf")
        let pdf = try Data(contentsOf: result.caseDirectory.appendingPathComponent("report.pdf"))
        let box = try #require(Self.mediaBox(pdf))
        #expect(abs(box.0 - 792) < 0.01 && abs(box.1 - 612) < 0.01)
        // The standalone report (same writer, same options) is the same bytes.
        #expect(try exporter.reportPDF(record: record, paper: .letter) == pdf)
        // Older manifests without the option still decode and compare equal to "no PDF".
        let json = try JSONEncoder().encode(CaseExportTests.options())
        #expect(!String(decoding: json, as: UTF8.self).contains("pdfPaper"))
        #expect(try JSONDecoder().decode(ExportOptions.self, from: json).pdfPaper == nil)
    }
}
